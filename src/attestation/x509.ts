/**
 * X.509 certificates as the attestation path needs them: parsed once from DER with the
 * bounded reader in der.ts, public key imported through node:crypto, signatures checked
 * with node:crypto against an allow-list of algorithms.
 *
 * Invariant: a `Certificate` is a snapshot of the bytes it was built from; every field a
 * verifier looks at (issuer, validity, extensions, public key) comes from that one parse.
 */
import { createHash, createPublicKey, constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ShadowplaneError, type ErrorCode } from '../errors.ts';
import { TAG, children, ctx, decodeOid, decodeSmallInt, decodeTime, decodeUnsigned, expectTag, readOnly, type DerElement } from './der.ts';

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  country: '2.5.4.6',
  locality: '2.5.4.7',
  state: '2.5.4.8',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export type HashName = 'sha256' | 'sha384' | 'sha512';

/** A signature algorithm shadowplane accepts, decoded from an AlgorithmIdentifier. */
export type SignatureAlgorithm =
  | { readonly kind: 'ecdsa'; readonly hash: HashName }
  | { readonly kind: 'rsa-pss'; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: 'rsa-pkcs1'; readonly hash: HashName }
  | { readonly kind: 'unsupported'; readonly oid: string };

/** keyUsage bits (RFC 5280 §4.2.1.3), by name. */
export const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

export interface Extension {
  readonly critical: boolean;
  /** The content of extnValue (itself DER for standard extensions). */
  readonly value: Buffer;
}

export interface Certificate {
  readonly der: Buffer;
  readonly tbs: Buffer;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  /** Serial number magnitude, lowercase hex without leading zeros. */
  readonly serial: string;
  /** DER of the issuer and subject Names (compared byte for byte). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  /** The subject's common name, printable ASCII only and at most 64 characters, for messages. */
  readonly subjectName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo exactly as it appears in the certificate. */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly extensions: ReadonlyMap<string, Extension>;
  /** SHA-256 of the DER, lowercase hex. */
  readonly sha256: string;
  /** basicConstraints cA, or undefined when the extension is absent. */
  readonly isCa: boolean | undefined;
  /** basicConstraints pathLenConstraint, or undefined when absent (no limit). */
  readonly pathLen: number | undefined;
  /** keyUsage bits that are set, or undefined when the extension is absent (any usage). */
  readonly keyUsage: ReadonlySet<KeyUsage> | undefined;
}

const HASH_OIDS: Record<string, HashName> = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

function hashFromAlgId(el: DerElement | undefined, what: string, code: ErrorCode): HashName {
  const parts = children(expectTag(el, TAG.SEQUENCE, what, code), what, code);
  const name = HASH_OIDS[decodeOid(expectTag(parts[0], TAG.OID, what, code).content, what, code)];
  if (name === undefined) throw new ShadowplaneError(code, `${what}: unsupported hash algorithm`);
  return name;
}

/** Decodes an AlgorithmIdentifier into one of the accepted signature algorithms. */
export function decodeSignatureAlgorithm(el: DerElement | undefined, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): SignatureAlgorithm {
  const parts = children(expectTag(el, TAG.SEQUENCE, what, code), what, code);
  const algOid = decodeOid(expectTag(parts[0], TAG.OID, what, code).content, what, code);
  switch (algOid) {
    case OID.ecdsaSha256:
      return { kind: 'ecdsa', hash: 'sha256' };
    case OID.ecdsaSha384:
      return { kind: 'ecdsa', hash: 'sha384' };
    case OID.sha256WithRsa:
      return { kind: 'rsa-pkcs1', hash: 'sha256' };
    case OID.rsassaPss: {
      // RSASSA-PSS-params: [0] hash, [1] mgf, [2] saltLength, [3] trailerField. The
      // defaults (SHA-1, salt 20) are not accepted: every issuer we trust states them.
      const params = children(expectTag(parts[1], TAG.SEQUENCE, what, code), what, code);
      let hash: HashName | undefined;
      let mgfHash: HashName | undefined;
      let saltLength: number | undefined;
      for (const p of params) {
        const inner = children(p, what, code)[0];
        if (p.tag === ctx(0, true)) hash = hashFromAlgId(inner, what, code);
        else if (p.tag === ctx(1, true)) {
          const mgf = children(expectTag(inner, TAG.SEQUENCE, what, code), what, code);
          if (decodeOid(expectTag(mgf[0], TAG.OID, what, code).content, what, code) !== OID.mgf1) {
            throw new ShadowplaneError(code, `${what}: unsupported PSS mask generation function`);
          }
          mgfHash = hashFromAlgId(mgf[1], what, code);
        } else if (p.tag === ctx(2, true)) {
          const mag = decodeUnsigned(expectTag(inner, TAG.INTEGER, what, code), what, code);
          if (mag.length > 2) throw new ShadowplaneError(code, `${what}: PSS salt too long`);
          saltLength = mag.readUIntBE(0, mag.length);
        } else if (p.tag === ctx(3, true)) {
          const mag = decodeUnsigned(expectTag(inner, TAG.INTEGER, what, code), what, code);
          if (mag.length !== 1 || mag[0] !== 1) throw new ShadowplaneError(code, `${what}: unsupported PSS trailer field`);
        }
      }
      if (hash === undefined || mgfHash !== hash || saltLength === undefined) {
        throw new ShadowplaneError(code, `${what}: RSASSA-PSS parameters must name the same hash for digest and MGF1, and a salt length`);
      }
      return { kind: 'rsa-pss', hash, saltLength };
    }
    default:
      return { kind: 'unsupported', oid: algOid };
  }
}

/** Printable ASCII only, at most 64 characters: safe to put into a one-line error. */
export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}

/** The first common name of a DER Name, or '' when there is none. */
export function commonName(name: Buffer, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): string {
  const rdns = children(readOnly(name, 'certificate name', code), 'certificate name', code);
  for (const rdn of rdns) {
    for (const atv of children(rdn, 'certificate name', code)) {
      const [type, value] = children(atv, 'certificate name', code);
      if (type === undefined || value === undefined) continue;
      if (decodeOid(expectTag(type, TAG.OID, 'certificate name', code).content, 'certificate name', code) === OID.commonName) {
        return printable(value.content.toString(value.tag === TAG.UTF8_STRING ? 'utf8' : 'latin1'));
      }
    }
  }
  return '';
}

function importKey(spki: Buffer, what: string, code: ErrorCode): KeyObject {
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw new ShadowplaneError(code, `${what}: public key cannot be imported`, { cause: err });
  }
}

/**
 * Parses one DER certificate. `what` names it in errors ("VCEK certificate"). Malformed
 * input gives `code` (default SP_ATTEST_EVIDENCE_MALFORMED).
 */
export function parseCertificate(der: Buffer, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): Certificate {
  const top = children(expectTag(readOnly(der, what, code), TAG.SEQUENCE, what, code), what, code);
  if (top.length !== 3) throw new ShadowplaneError(code, `${what}: a certificate has three parts`);
  const tbsEl = expectTag(top[0], TAG.SEQUENCE, what, code);
  const signatureAlgorithm = decodeSignatureAlgorithm(top[1], what, code);
  const sigBits = expectTag(top[2], TAG.BIT_STRING, what, code).content;
  if (sigBits.length < 2 || sigBits[0] !== 0) throw new ShadowplaneError(code, `${what}: bad signature BIT STRING`);

  const tbs = children(tbsEl, what, code);
  let i = 0;
  if (tbs[0]?.tag === ctx(0, true)) i++; // version
  const serialMag = decodeUnsigned(expectTag(tbs[i++], TAG.INTEGER, what, code), what, code);
  const innerAlg = decodeSignatureAlgorithm(tbs[i++], what, code);
  if (JSON.stringify(innerAlg) !== JSON.stringify(signatureAlgorithm)) {
    throw new ShadowplaneError(code, `${what}: the signed and unsigned signature algorithms differ`);
  }
  const issuer = expectTag(tbs[i++], TAG.SEQUENCE, what, code).raw;
  const validity = children(expectTag(tbs[i++], TAG.SEQUENCE, what, code), what, code);
  if (validity.length !== 2) throw new ShadowplaneError(code, `${what}: bad validity`);
  const notBefore = decodeTime(validity[0]!, what, code);
  const notAfter = decodeTime(validity[1]!, what, code);
  const subject = expectTag(tbs[i++], TAG.SEQUENCE, what, code).raw;
  const spki = expectTag(tbs[i++], TAG.SEQUENCE, what, code).raw;

  const extensions = new Map<string, Extension>();
  for (; i < tbs.length; i++) {
    const el = tbs[i]!;
    if (el.tag !== ctx(3, true)) continue; // issuerUniqueID / subjectUniqueID
    const list = children(expectTag(children(el, what, code)[0], TAG.SEQUENCE, what, code), what, code);
    for (const ext of list) {
      const parts = children(expectTag(ext, TAG.SEQUENCE, what, code), what, code);
      const extOid = decodeOid(expectTag(parts[0], TAG.OID, what, code).content, what, code);
      let critical = false;
      let valueEl = parts[1];
      if (valueEl?.tag === TAG.BOOLEAN) {
        critical = valueEl.content[0] !== 0;
        valueEl = parts[2];
      }
      const value = expectTag(valueEl, TAG.OCTET_STRING, what, code).content;
      if (extensions.has(extOid)) throw new ShadowplaneError(code, `${what}: duplicate extension ${extOid}`);
      extensions.set(extOid, { critical, value });
    }
  }

  let isCa: boolean | undefined;
  let pathLen: number | undefined;
  const bc = extensions.get(OID.basicConstraints);
  if (bc !== undefined) {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
    const parts = children(expectTag(readOnly(bc.value, what, code), TAG.SEQUENCE, what, code), what, code);
    const hasCa = parts[0]?.tag === TAG.BOOLEAN;
    isCa = hasCa && parts[0]!.content[0] !== 0;
    const lenEl = parts[hasCa ? 1 : 0];
    if (lenEl !== undefined) pathLen = decodeSmallInt(expectTag(lenEl, TAG.INTEGER, what, code), what, code);
    if (parts.length > (hasCa ? 1 : 0) + (lenEl !== undefined ? 1 : 0)) throw new ShadowplaneError(code, `${what}: malformed basicConstraints`);
  }
  const ku = extensions.get(OID.keyUsage);
  const keyUsage = ku === undefined ? undefined : decodeKeyUsage(ku.value, what, code);

  return {
    der,
    tbs: tbsEl.raw,
    signatureAlgorithm,
    signature: sigBits.subarray(1),
    serial: serialMag.toString('hex').replace(/^0+(?=.)/, ''),
    issuer,
    subject,
    subjectName: commonName(subject, code),
    notBefore,
    notAfter,
    spki,
    publicKey: importKey(spki, what, code),
    extensions,
    sha256: createHash('sha256').update(der).digest('hex'),
    isCa,
    pathLen,
    keyUsage,
  };
}

/** KeyUsage ::= BIT STRING; bit 0 is the most significant bit of the first octet. */
function decodeKeyUsage(value: Buffer, what: string, code: ErrorCode): ReadonlySet<KeyUsage> {
  const bits = expectTag(readOnly(value, what, code), TAG.BIT_STRING, what, code).content;
  if (bits.length < 1 || bits.length > 3 || bits[0]! > 7) throw new ShadowplaneError(code, `${what}: malformed keyUsage`);
  const set = new Set<KeyUsage>();
  KEY_USAGE_BITS.forEach((name, i) => {
    const byte = bits[1 + (i >> 3)];
    if (byte !== undefined && (byte & (0x80 >> (i & 7))) !== 0) set.add(name);
  });
  return set;
}

/**
 * Verifies `signature` over `data` with `key` under `alg`. Returns false for a wrong
 * signature and for a key that does not fit the algorithm; never throws.
 */
export function verifySignature(alg: SignatureAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (alg.kind) {
      case 'ecdsa':
        return key.asymmetricKeyType === 'ec' && cryptoVerify(alg.hash, data, key, signature);
      case 'rsa-pss':
        return (
          key.asymmetricKeyType === 'rsa' &&
          cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature)
        );
      case 'rsa-pkcs1':
        return key.asymmetricKeyType === 'rsa' && cryptoVerify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'unsupported':
        return false;
    }
  } catch {
    return false;
  }
}

/** True when `cert` carries a signature by `issuer`'s key over its TBS bytes. */
export function isSignedBy(cert: Certificate, issuer: Certificate): boolean {
  return verifySignature(cert.signatureAlgorithm, issuer.publicKey, cert.tbs, cert.signature);
}

/** Describes an algorithm for messages ("RSASSA-PSS/SHA-384"). */
export function describeAlgorithm(alg: SignatureAlgorithm): string {
  switch (alg.kind) {
    case 'ecdsa':
      return `ECDSA/${alg.hash.toUpperCase()}`;
    case 'rsa-pss':
      return `RSASSA-PSS/${alg.hash.toUpperCase()}`;
    case 'rsa-pkcs1':
      return `RSA-PKCS1/${alg.hash.toUpperCase()}`;
    case 'unsupported':
      return `unsupported algorithm ${alg.oid}`;
  }
}

/** PEM (one or more CERTIFICATE blocks) to DER buffers, in order. */
export function pemToDer(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** DER to one PEM block. */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
