/**
 * The SEV-SNP extended-report certificate table (GHCB specification, "certificate table";
 * what configfs-tsm returns in `auxblob`): entries `{ guid[16], offset u32, length u32 }`
 * ending with an all-zero entry, then the DER certificates at their offsets.
 *
 * GUIDs are compared in both byte orders (RFC 4122 and the mixed-endian EFI layout),
 * because hosts differ in how they write them.
 */
import { ShadowplaneError } from '../../errors.ts';

export const CERT_GUID = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;

export type CertKind = keyof typeof CERT_GUID;

const ENTRY = 24;
const MAX_ENTRIES = 16;
const MAX_TABLE_BYTES = 64 * 1024;

function rfc4122(guid: string): Buffer {
  return Buffer.from(guid.replace(/-/g, ''), 'hex');
}

function efi(guid: string): Buffer {
  const b = rfc4122(guid);
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

function kindOf(guid: Buffer): CertKind | undefined {
  for (const [kind, text] of Object.entries(CERT_GUID) as Array<[CertKind, string]>) {
    if (guid.equals(rfc4122(text)) || guid.equals(efi(text))) return kind;
  }
  return undefined;
}

/** Parses a certificate table; unknown GUIDs are skipped, malformed tables refused. */
export function parseCertTable(table: Buffer): Map<CertKind, Buffer> {
  const out = new Map<CertKind, Buffer>();
  if (table.length === 0) return out;
  if (table.length > MAX_TABLE_BYTES) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `certificate table larger than ${MAX_TABLE_BYTES} bytes`);
  const entries: Array<{ guid: Buffer; offset: number; length: number }> = [];
  for (let i = 0; ; i++) {
    if (i >= MAX_ENTRIES) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `certificate table has more than ${MAX_ENTRIES} entries`);
    if ((i + 1) * ENTRY > table.length) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'certificate table has no terminating entry');
    const e = table.subarray(i * ENTRY, (i + 1) * ENTRY);
    if (e.every((b) => b === 0)) break;
    entries.push({ guid: e.subarray(0, 16), offset: e.readUInt32LE(16), length: e.readUInt32LE(20) });
  }
  const headerEnd = (entries.length + 1) * ENTRY;
  for (const e of entries) {
    if (e.offset < headerEnd || e.length === 0 || e.offset + e.length > table.length) {
      throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'a certificate table entry points outside the table');
    }
    const kind = kindOf(e.guid);
    if (kind !== undefined && !out.has(kind)) out.set(kind, Buffer.from(table.subarray(e.offset, e.offset + e.length)));
  }
  return out;
}

/** Builds a table (RFC 4122 GUID order), for tests and for hosts that cache certificates. */
export function buildCertTable(certs: ReadonlyArray<readonly [CertKind, Buffer]>): Buffer {
  const header = Buffer.alloc((certs.length + 1) * ENTRY);
  let offset = header.length;
  certs.forEach(([kind, der], i) => {
    rfc4122(CERT_GUID[kind]).copy(header, i * ENTRY);
    header.writeUInt32LE(offset, i * ENTRY + 16);
    header.writeUInt32LE(der.length, i * ENTRY + 20);
    offset += der.length;
  });
  return Buffer.concat([header, ...certs.map(([, der]) => der)]);
}

/** Orders the table's certificates the way Evidence wants them: VCEK or VLEK, ASK, ARK. */
export function evidenceCertificates(table: Map<CertKind, Buffer>): Buffer[] {
  const leaf = table.get('vcek') ?? table.get('vlek');
  return [leaf, table.get('ask'), table.get('ark')].filter((x): x is Buffer => x !== undefined);
}
