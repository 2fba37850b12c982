/**
 * Builds Intel-shaped TDX evidence signed by a test root: a P-256 root, a PCK CA, a PCK
 * certificate with SGX extensions, a TCB signing certificate, a quoting-enclave report
 * signed by the PCK key, a quote (v4 or v5) signed by an attestation key the QE report
 * vouches for, and TCB Info / QE Identity JSON signed like Intel PCS responses.
 *
 * The real Intel samples cannot show success end to end (their collateral does not match
 * their platform) nor any negative case; this can, through the very same verifier with the
 * test root passed as anchor.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { oid, octets, seq, tlv, uint, TAG } from '../../../src/attestation/der.ts';
import type { TrustAnchor } from '../../../src/attestation/chain.ts';
import { basicConstraints, buildCertificate, buildCrl, dn, keyUsage, type ExtensionSpec } from '../../../src/attestation/x509-build.ts';
import { derToPem, parseCertificate } from '../../../src/attestation/x509.ts';
import { INTEL_QE_VENDOR_ID } from '../../../src/attestation/tdx/quote.ts';
import type { Evidence } from '../../../src/attestation/types.ts';

const SGX = '1.2.840.113741.1.13.1';
const QE_MRSIGNER = 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5';
const DAY = 86_400_000;

export interface Keyed {
  readonly der: Buffer;
  readonly key: KeyObject;
}

export interface PlatformTcb {
  readonly components: readonly number[];
  readonly pceSvn: number;
  readonly fmspc: string;
}

export interface ForgeOptions {
  readonly now: Date;
  readonly platform?: PlatformTcb;
  readonly pckValidDays?: number;
  /** Extra extensions of the PCK certificate (after the SGX one). */
  readonly pckExtensions?: ExtensionSpec[];
  /** pathLenConstraint of the root. Default none. */
  readonly rootPathLen?: number;
}

export interface TdxForge {
  readonly root: Keyed;
  readonly pckCa: Keyed;
  readonly pck: Keyed;
  readonly tcbSigning: Keyed;
  readonly anchors: readonly TrustAnchor[];
  readonly platform: PlatformTcb;
  readonly now: Date;
}

export const DEFAULT_PLATFORM: PlatformTcb = { components: [4, 4, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0], pceSvn: 13, fmspc: '90c06f000000' };

const p256 = (): { privateKey: KeyObject; publicKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
const name = (cn: string): Buffer => dn([['CN', cn], ['O', 'Test Corporation'], ['C', 'US']]);

function sgxExtension(p: PlatformTcb): ExtensionSpec {
  const pair = (id: string, value: Buffer): Buffer => seq(oid(`${SGX}.${id}`), value);
  const tcb = seq(
    ...p.components.map((svn, i) => pair(`2.${i + 1}`, uint(svn))),
    pair('2.17', uint(p.pceSvn)),
    pair('2.18', octets(Buffer.from(p.components))),
  );
  return {
    oid: SGX,
    value: seq(pair('1', octets(Buffer.alloc(16, 7))), pair('2', tcb), pair('3', octets(Buffer.alloc(2))), pair('4', octets(Buffer.from(p.fmspc, 'hex'))), pair('5', tlv(TAG.ENUMERATED, Buffer.from([0])))),
  };
}

/** A test root, PCK CA, PCK certificate and TCB signing certificate. */
export function forgeTdxPlatform(opts: ForgeOptions): TdxForge {
  const now = opts.now;
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const [rootK, caK, pckK, tcbK] = [p256(), p256(), p256(), p256()];
  const before = new Date(now.getTime() - DAY);
  const far = new Date(now.getTime() + 3650 * DAY);
  const cert = (issuer: string, subject: string, k: KeyObject, signer: KeyObject, ca: boolean, extra: ExtensionSpec[] = [], notAfter = far, pathLen?: number): Buffer =>
    buildCertificate({
      issuer: name(issuer),
      subject: name(subject),
      notBefore: before,
      notAfter,
      spki: spki(k),
      extensions: [basicConstraints(ca, pathLen), keyUsage(ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature']), ...extra],
      signWith: { key: signer, alg: 'ecdsa-sha256' },
    });
  const root = { der: cert('Test SGX Root CA', 'Test SGX Root CA', rootK.publicKey, rootK.privateKey, true, [], far, opts.rootPathLen), key: rootK.privateKey };
  const pckCa = { der: cert('Test SGX Root CA', 'Test SGX PCK Platform CA', caK.publicKey, rootK.privateKey, true), key: caK.privateKey };
  const pck = {
    der: cert('Test SGX PCK Platform CA', 'Test SGX PCK Certificate', pckK.publicKey, caK.privateKey, false, [sgxExtension(platform), ...(opts.pckExtensions ?? [])], new Date(now.getTime() + (opts.pckValidDays ?? 3650) * DAY)),
    key: pckK.privateKey,
  };
  const tcbSigning = { der: cert('Test SGX Root CA', 'Test SGX TCB Signing', tcbK.publicKey, rootK.privateKey, false), key: tcbK.privateKey };
  return { root, pckCa, pck, tcbSigning, anchors: [{ cert: parseCertificate(root.der, 'test root'), label: 'test SGX root' }], platform, now };
}

export interface BodyFields {
  readonly teeTcbSvn?: Buffer;
  readonly mrSignerSeam?: Buffer;
  readonly seamAttributes?: Buffer;
  readonly tdAttributes?: Buffer;
  readonly mrtd?: Buffer;
  readonly mrConfigId?: Buffer;
  readonly mrOwner?: Buffer;
  readonly mrOwnerConfig?: Buffer;
  readonly rtmr?: readonly Buffer[];
  /** TDX 1.5 body (v5) only. Default zero. */
  readonly mrServiceTd?: Buffer;
  readonly reportData: Buffer;
}

export interface QuoteOptions extends BodyFields {
  readonly version?: 4 | 5;
  readonly qeIsvSvn?: number;
  readonly qeMrSigner?: string;
}

export const MRTD = Buffer.alloc(48, 0x11);
/** MRCONFIGID and RTMR0–2 of a forged quote's default body, as reference values pin them. */
export const FORGED_IDENTITY = { mrConfigId: ['40'.repeat(48)], rtmr0: ['30'.repeat(48)], rtmr1: ['31'.repeat(48)], rtmr2: ['32'.repeat(48)] } as const;

function body(f: BodyFields, v15: boolean): Buffer {
  const b = Buffer.alloc(v15 ? 648 : 584);
  (f.teeTcbSvn ?? Buffer.from('03000500000000000000000000000000', 'hex')).copy(b, 0);
  Buffer.alloc(48, 0x22).copy(b, 16); // MRSEAM
  (f.mrSignerSeam ?? Buffer.alloc(48)).copy(b, 64);
  (f.seamAttributes ?? Buffer.alloc(8)).copy(b, 112);
  (f.tdAttributes ?? Buffer.from('0000001000000000', 'hex')).copy(b, 120);
  Buffer.from('e702060000000000', 'hex').copy(b, 128);
  (f.mrtd ?? MRTD).copy(b, 136);
  (f.mrConfigId ?? Buffer.alloc(48, 0x40)).copy(b, 184);
  (f.mrOwner ?? Buffer.alloc(48)).copy(b, 232);
  (f.mrOwnerConfig ?? Buffer.alloc(48)).copy(b, 280);
  (f.rtmr ?? [0, 1, 2, 3].map((i) => Buffer.alloc(48, 0x30 + i))).forEach((r, i) => r.copy(b, 328 + i * 48));
  f.reportData.copy(b, 520);
  if (v15 && f.mrServiceTd !== undefined) f.mrServiceTd.copy(b, 600);
  return b;
}

/** A signed quote whose PCK chain is `forge`'s. */
export function forgeQuote(forge: TdxForge, q: QuoteOptions): Buffer {
  const version = q.version ?? 4;
  const ak = p256();
  const akJwk = ak.publicKey.export({ format: 'jwk' });
  const akRaw = Buffer.concat([Buffer.from(akJwk.x!, 'base64url'), Buffer.from(akJwk.y!, 'base64url')]);
  const auth = Buffer.alloc(32, 0x5a);
  const qeReport = Buffer.alloc(384);
  Buffer.from('15000000000000000000000000000000', 'hex').copy(qeReport, 48); // attributes
  Buffer.from(q.qeMrSigner ?? QE_MRSIGNER, 'hex').copy(qeReport, 128);
  qeReport.writeUInt16LE(2, 256);
  qeReport.writeUInt16LE(q.qeIsvSvn ?? 4, 258);
  createHash('sha256').update(akRaw).update(auth).digest().copy(qeReport, 320);
  const qeSig = sign('sha256', qeReport, { key: forge.pck.key, dsaEncoding: 'ieee-p1363' });
  const pem = Buffer.from([forge.pck.der, forge.pckCa.der, forge.root.der].map((d) => derToPem(d)).join(''), 'latin1');
  const inner = Buffer.alloc(6);
  inner.writeUInt16LE(5, 0);
  inner.writeUInt32LE(pem.length, 2);
  const authLen = Buffer.alloc(2);
  authLen.writeUInt16LE(auth.length);
  const certData = Buffer.concat([qeReport, qeSig, authLen, auth, inner, pem]);

  const header = Buffer.alloc(48);
  header.writeUInt16LE(version, 0);
  header.writeUInt16LE(2, 2);
  header.writeUInt32LE(0x81, 4);
  Buffer.from(INTEL_QE_VENDOR_ID, 'hex').copy(header, 12);
  const v15 = version === 5;
  const b = body(q, v15);
  let signed = Buffer.concat([header, b]);
  if (version === 5) {
    const desc = Buffer.alloc(6);
    desc.writeUInt16LE(3, 0);
    desc.writeUInt32LE(b.length, 2);
    signed = Buffer.concat([header, desc, b]);
  }
  const sig = sign('sha256', signed, { key: ak.privateKey, dsaEncoding: 'ieee-p1363' });
  const certHeader = Buffer.alloc(6);
  certHeader.writeUInt16LE(6, 0);
  certHeader.writeUInt32LE(certData.length, 2);
  const sigData = Buffer.concat([sig, akRaw, certHeader, certData]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(sigData.length);
  return Buffer.concat([signed, size, sigData]);
}

const comps = (svns: readonly number[]): Array<{ svn: number }> => svns.map((svn) => ({ svn }));

export interface CollateralOptions {
  readonly levels?: ReadonlyArray<{ sgx?: readonly number[]; pceSvn?: number; tdx?: readonly number[]; status: string; advisoryIDs?: string[] }>;
  readonly moduleIdentities?: unknown[];
  readonly qeLevels?: ReadonlyArray<{ isvsvn: number; status: string }>;
  readonly issueDate?: Date;
  readonly nextUpdate?: Date;
  readonly fmspc?: string;
  readonly signWith?: KeyObject;
  /** tcbEvaluationDataNumber of the TCB Info and of the QE Identity. Default 18 each. */
  readonly tcbEvaluationDataNumber?: number;
  readonly qeTcbEvaluationDataNumber?: number;
}

function signed(member: string, value: unknown, key: KeyObject): string {
  const text = JSON.stringify(value);
  return `{"${member}":${text},"signature":"${sign('sha256', Buffer.from(text), { key, dsaEncoding: 'ieee-p1363' }).toString('hex')}"}`;
}

/** TCB Info and QE Identity for `forge`, signed by its TCB signing key (or `signWith`). */
export function forgeCollateral(forge: TdxForge, c: CollateralOptions = {}): { tdxTcbInfo: string; tdxQeIdentity: string; tcbSigningChain: Buffer[] } {
  const issueDate = (c.issueDate ?? new Date(forge.now.getTime() - DAY)).toISOString();
  const nextUpdate = (c.nextUpdate ?? new Date(forge.now.getTime() + 30 * DAY)).toISOString();
  const key = c.signWith ?? forge.tcbSigning.key;
  const levels = c.levels ?? [{ status: 'UpToDate' }];
  const tcbInfo = {
    id: 'TDX',
    version: 3,
    issueDate,
    nextUpdate,
    fmspc: c.fmspc ?? forge.platform.fmspc,
    pceId: '0000',
    tcbType: 0,
    tcbEvaluationDataNumber: c.tcbEvaluationDataNumber ?? 18,
    tdxModule: { mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    ...(c.moduleIdentities !== undefined ? { tdxModuleIdentities: c.moduleIdentities } : {}),
    tcbLevels: levels.map((l) => ({
      tcb: { sgxtcbcomponents: comps(l.sgx ?? forge.platform.components), pcesvn: l.pceSvn ?? forge.platform.pceSvn, tdxtcbcomponents: comps(l.tdx ?? [3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) },
      tcbDate: '2024-01-01T00:00:00Z',
      tcbStatus: l.status,
      ...(l.advisoryIDs !== undefined ? { advisoryIDs: l.advisoryIDs } : {}),
    })),
  };
  const qe = {
    id: 'TD_QE',
    version: 2,
    issueDate,
    nextUpdate,
    tcbEvaluationDataNumber: c.qeTcbEvaluationDataNumber ?? 18,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: QE_MRSIGNER.toUpperCase(),
    isvprodid: 2,
    tcbLevels: (c.qeLevels ?? [{ isvsvn: 4, status: 'UpToDate' }]).map((l) => ({ tcb: { isvsvn: l.isvsvn }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: l.status })),
  };
  return { tdxTcbInfo: signed('tcbInfo', tcbInfo, key), tdxQeIdentity: signed('enclaveIdentity', qe, key), tcbSigningChain: [forge.tcbSigning.der] };
}

/** Quote plus collateral, ready to verify with `forge.anchors`. */
export function forgeEvidence(forge: TdxForge, q: QuoteOptions, c: CollateralOptions = {}): Evidence {
  return { platform: 'tdx', report: forgeQuote(forge, q), certificates: [], collateral: forgeCollateral(forge, c) };
}

/** A CRL by the PCK CA revoking `serials`, current at `forge.now` unless told otherwise. */
export function forgePckCrl(forge: TdxForge, serials: string[], window: { thisUpdate?: Date; nextUpdate?: Date } = {}): Buffer {
  return buildCrl({
    issuer: parseCertificate(forge.pckCa.der, 'pck ca').subject,
    thisUpdate: window.thisUpdate ?? new Date(forge.now.getTime() - DAY),
    nextUpdate: window.nextUpdate ?? new Date(forge.now.getTime() + DAY),
    revoked: serials.map((serial) => ({ serial, date: forge.now })),
    signWith: { key: forge.pckCa.key, alg: 'ecdsa-sha256' },
  });
}

/** A CRL by the test root (covering the PCK CA and the TCB signing certificate) revoking `serials`. */
export function forgeRootCrl(forge: TdxForge, serials: string[] = []): Buffer {
  return buildCrl({
    issuer: parseCertificate(forge.root.der, 'root').subject,
    thisUpdate: new Date(forge.now.getTime() - DAY),
    nextUpdate: new Date(forge.now.getTime() + DAY),
    revoked: serials.map((serial) => ({ serial, date: forge.now })),
    signWith: { key: forge.root.key, alg: 'ecdsa-sha256' },
  });
}
