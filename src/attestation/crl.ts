/**
 * X.509 v2 CRLs (RFC 5280 §5): parsed with the bounded DER reader, signature checked
 * against the issuing certificate of the chain under evaluation.
 */
import { ShadowplaneError } from '../errors.ts';
import { TAG, children, ctx, decodeTime, decodeUnsigned, expectTag, readOnly } from './der.ts';
import { decodeSignatureAlgorithm, verifySignature, type Certificate, type SignatureAlgorithm } from './x509.ts';

/** CRLs larger than this are refused before parsing. */
export const MAX_CRL_BYTES = 1024 * 1024;

export interface Crl {
  readonly der: Buffer;
  readonly tbs: Buffer;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  readonly issuer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Revoked serial numbers, lowercase hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
}

const CODE = 'SP_ATTEST_COLLATERAL_INVALID';

/** Parses one DER CRL. Malformed input gives SP_ATTEST_COLLATERAL_INVALID. */
export function parseCrl(der: Buffer, what = 'CRL'): Crl {
  if (der.length > MAX_CRL_BYTES) throw new ShadowplaneError(CODE, `${what} is larger than ${MAX_CRL_BYTES} bytes`);
  const top = children(expectTag(readOnly(der, what, CODE), TAG.SEQUENCE, what, CODE), what, CODE);
  if (top.length !== 3) throw new ShadowplaneError(CODE, `${what}: a CRL has three parts`);
  const tbsEl = expectTag(top[0], TAG.SEQUENCE, what, CODE);
  const signatureAlgorithm = decodeSignatureAlgorithm(top[1], what, CODE);
  const sigBits = expectTag(top[2], TAG.BIT_STRING, what, CODE).content;
  if (sigBits.length < 2 || sigBits[0] !== 0) throw new ShadowplaneError(CODE, `${what}: bad signature BIT STRING`);
  const tbs = children(tbsEl, what, CODE);
  let i = 0;
  if (tbs[0]?.tag === TAG.INTEGER) i++;
  const inner = decodeSignatureAlgorithm(tbs[i++], what, CODE);
  if (JSON.stringify(inner) !== JSON.stringify(signatureAlgorithm)) {
    throw new ShadowplaneError(CODE, `${what}: the signed and unsigned signature algorithms differ`);
  }
  const issuer = expectTag(tbs[i++], TAG.SEQUENCE, what, CODE).raw;
  const thisUpdateEl = tbs[i++];
  if (thisUpdateEl === undefined) throw new ShadowplaneError(CODE, `${what}: missing thisUpdate`);
  const thisUpdate = decodeTime(thisUpdateEl, what, CODE);
  let nextUpdate: Date | undefined;
  if (tbs[i] !== undefined && (tbs[i]!.tag === TAG.UTC_TIME || tbs[i]!.tag === TAG.GENERALIZED_TIME)) {
    nextUpdate = decodeTime(tbs[i++]!, what, CODE);
  }
  const revoked = new Set<string>();
  if (tbs[i]?.tag === TAG.SEQUENCE) {
    for (const entry of children(tbs[i++]!, what, CODE)) {
      const parts = children(expectTag(entry, TAG.SEQUENCE, what, CODE), what, CODE);
      const serial = decodeUnsigned(expectTag(parts[0], TAG.INTEGER, what, CODE), what, CODE);
      revoked.add(serial.toString('hex').replace(/^0+(?=.)/, ''));
    }
  }
  if (tbs[i] !== undefined && tbs[i]!.tag !== ctx(0, true)) throw new ShadowplaneError(CODE, `${what}: unexpected element after the revoked list`);
  return { der, tbs: tbsEl.raw, signatureAlgorithm, signature: sigBits.subarray(1), issuer, thisUpdate, nextUpdate, revoked };
}

/**
 * Checks `cert` against every CRL issued by `issuer`. A CRL that names the issuer but is
 * not signed by it, or is outside its update window at `now`, is refused
 * (SP_ATTEST_COLLATERAL_INVALID): a stale or forged CRL must not silently pass.
 * A revoked serial gives SP_ATTEST_CERT_REVOKED.
 */
export function checkRevocation(cert: Certificate, certLabel: string, issuer: Certificate, crls: readonly Crl[], now: Date): void {
  for (const crl of crls) {
    if (!crl.issuer.equals(issuer.subject)) continue;
    if (!verifySignature(crl.signatureAlgorithm, issuer.publicKey, crl.tbs, crl.signature)) {
      throw new ShadowplaneError(CODE, `a CRL naming '${issuer.subjectName}' as issuer is not signed by it`);
    }
    if (crl.thisUpdate.getTime() > now.getTime() || (crl.nextUpdate !== undefined && crl.nextUpdate.getTime() < now.getTime())) {
      throw new ShadowplaneError(
        CODE,
        `the CRL of '${issuer.subjectName}' is valid from ${crl.thisUpdate.toISOString()} until ${crl.nextUpdate?.toISOString() ?? 'unspecified'}, not at ${now.toISOString()}: fetch a current one`,
      );
    }
    if (crl.revoked.has(cert.serial)) {
      throw new ShadowplaneError('SP_ATTEST_CERT_REVOKED', `the ${certLabel} certificate (serial ${cert.serial}) is revoked by '${issuer.subjectName}'`);
    }
  }
}
