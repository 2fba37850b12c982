/**
 * Builds X.509 certificates and CRLs with node:crypto keys: the simulated AMD-shaped chain,
 * RA-TLS certificates, and (in tests) chains and CRLs that real data cannot show.
 *
 * Why not @peculiar/x509: its 2.x line resolves algorithms through a DI container that
 * demands a global Reflect polyfill; node-forge cannot sign or hold ECDSA keys. DER is
 * simple enough to write directly (der.ts) and node:crypto signs every algorithm we need.
 */
import { constants, createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { bitString, bool, derNull, explicit, octets, oid, seq, set, time, tlv, uint, utf8, TAG } from './der.ts';
import { OID, type HashName } from './x509.ts';

/** How the issuer signs: ECDSA (DER signature) or RSASSA-PSS with salt = hash length. */
export type SignWith = { readonly key: KeyObject; readonly alg: 'ecdsa-sha256' | 'ecdsa-sha384' | 'rsa-pss-sha384' | 'rsa-pss-sha256' };

export interface ExtensionSpec {
  readonly oid: string;
  readonly critical?: boolean;
  /** DER content of extnValue. */
  readonly value: Buffer;
}

export interface CertificateSpec {
  /** Positive serial; default 16 random bytes. */
  readonly serial?: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions?: readonly ExtensionSpec[];
  readonly signWith: SignWith;
}

const NAME_OIDS = {
  CN: OID.commonName,
  O: OID.organization,
  OU: OID.organizationalUnit,
  C: OID.country,
  L: OID.locality,
  ST: OID.state,
} as const;

/** A DER Name from ordered attributes, one per RDN (C as PrintableString, others UTF8). */
export function dn(attrs: ReadonlyArray<readonly [keyof typeof NAME_OIDS, string]>): Buffer {
  return seq(
    ...attrs.map(([k, v]) => set(seq(oid(NAME_OIDS[k]), k === 'C' ? tlv(TAG.PRINTABLE_STRING, Buffer.from(v, 'latin1')) : utf8(v)))),
  );
}

function hashOf(alg: SignWith['alg']): HashName {
  return alg.endsWith('384') ? 'sha384' : 'sha256';
}

/** The AlgorithmIdentifier for `alg` (PSS with MGF1 of the same hash, salt = hash length). */
export function algorithmIdentifier(alg: SignWith['alg']): Buffer {
  const hash = hashOf(alg);
  if (alg.startsWith('ecdsa')) return seq(oid(hash === 'sha384' ? OID.ecdsaSha384 : OID.ecdsaSha256));
  const hashAlg = seq(oid(hash === 'sha384' ? OID.sha384 : OID.sha256), derNull());
  return seq(
    oid(OID.rsassaPss),
    seq(explicit(0, hashAlg), explicit(1, seq(oid(OID.mgf1), hashAlg)), explicit(2, uint(hash === 'sha384' ? 48 : 32))),
  );
}

/** Signs `data` the way `algorithmIdentifier(alg)` announces. */
export function signData(signWith: SignWith, data: Buffer): Buffer {
  const hash = hashOf(signWith.alg);
  if (signWith.alg.startsWith('ecdsa')) return sign(hash, data, signWith.key);
  return sign(hash, data, { key: signWith.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hash === 'sha384' ? 48 : 32 });
}

/** An Extensions SEQUENCE (certificates, CRLs and CRL entries share the form). */
function extensionList(exts: readonly ExtensionSpec[]): Buffer {
  return seq(...exts.map((e) => seq(oid(e.oid), ...(e.critical === true ? [bool(true)] : []), octets(e.value))));
}

function extensionsBlock(exts: readonly ExtensionSpec[]): Buffer {
  return explicit(3, extensionList(exts));
}

/** Builds and signs one v3 certificate; returns its DER. */
export function buildCertificate(spec: CertificateSpec): Buffer {
  let serial = spec.serial ?? randomBytes(16);
  if (serial.length === 0 || serial.every((b) => b === 0)) serial = Buffer.from([1]);
  const alg = algorithmIdentifier(spec.signWith.alg);
  const tbs = seq(
    explicit(0, uint(2)),
    uint(serial),
    alg,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.spki,
    ...(spec.extensions !== undefined && spec.extensions.length > 0 ? [extensionsBlock(spec.extensions)] : []),
  );
  return seq(tbs, alg, bitString(signData(spec.signWith, tbs)));
}

// Common extensions ---------------------------------------------------------------------

export function basicConstraints(ca: boolean, pathLen?: number): ExtensionSpec {
  const body = ca ? [bool(true), ...(pathLen !== undefined ? [uint(pathLen)] : [])] : [];
  return { oid: OID.basicConstraints, critical: true, value: seq(...body) };
}

/** keyUsage from named bits (digitalSignature 0, keyCertSign 5, cRLSign 6). */
export function keyUsage(bits: ReadonlyArray<'digitalSignature' | 'keyCertSign' | 'cRLSign'>): ExtensionSpec {
  const index = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;
  let byte = 0;
  let highest = 0;
  for (const b of bits) {
    byte |= 0x80 >> index[b];
    highest = Math.max(highest, index[b]);
  }
  const unused = 7 - highest;
  return { oid: OID.keyUsage, critical: true, value: tlv(TAG.BIT_STRING, Buffer.from([unused, byte])) };
}

export function extKeyUsage(oids: readonly string[]): ExtensionSpec {
  return { oid: OID.extKeyUsage, value: seq(...oids.map((o) => oid(o))) };
}

export function subjectKeyIdentifier(spki: Buffer): ExtensionSpec {
  return { oid: OID.subjectKeyIdentifier, value: octets(createHash('sha1').update(spki).digest()) };
}

/** subjectAltName from DNS names and IP addresses (v4 dotted or v6). */
export function subjectAltName(names: readonly string[]): ExtensionSpec {
  const items = names.map((n) => {
    const ip = parseIp(n);
    return ip === undefined ? tlv(0x82, Buffer.from(n, 'latin1')) : tlv(0x87, ip);
  });
  return { oid: OID.subjectAltName, value: seq(...items) };
}

function parseIp(s: string): Buffer | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? Buffer.from(parts) : undefined;
  }
  if (!s.includes(':') || !/^[0-9a-fA-F:]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return out;
}

// CRLs ----------------------------------------------------------------------------------

export interface CrlSpec {
  readonly issuer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: ReadonlyArray<{ readonly serial: string; readonly date: Date; readonly extensions?: readonly ExtensionSpec[] }>;
  readonly signWith: SignWith;
  readonly crlNumber?: number;
  /** crlExtensions after the CRL number. */
  readonly extensions?: readonly ExtensionSpec[];
}

/** Builds and signs a v2 CRL; returns its DER. */
export function buildCrl(spec: CrlSpec): Buffer {
  const alg = algorithmIdentifier(spec.signWith.alg);
  const revoked = spec.revoked.map((r) =>
    seq(uint(Buffer.from(r.serial.length % 2 === 1 ? `0${r.serial}` : r.serial, 'hex')), time(r.date), ...(r.extensions !== undefined && r.extensions.length > 0 ? [extensionList(r.extensions)] : [])),
  );
  const tbs = seq(
    uint(1),
    alg,
    spec.issuer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
    ...(revoked.length > 0 ? [seq(...revoked)] : []),
    explicit(0, extensionList([{ oid: OID.crlNumber, value: uint(spec.crlNumber ?? 1) }, ...(spec.extensions ?? [])])),
  );
  return seq(tbs, alg, bitString(signData(spec.signWith, tbs)));
}
