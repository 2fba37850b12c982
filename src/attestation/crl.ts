/**
 * X.509 v2 CRLs (RFC 5280 §5): parsed with the bounded DER reader, signature checked
 * against the issuing certificate of the chain under evaluation.
 *
 * Invariants:
 * - A CRL with any critical extension, on the list or on an entry, is refused at parse time.
 *   shadowplane processes no CRL extension, and RFC 5280 §5.2 forbids using a CRL whose
 *   critical extensions the application cannot process: a delta CRL, a CRL partitioned by an
 *   issuing distribution point or an indirect CRL would otherwise pass for the issuer's
 *   complete list.
 * - A CRL counts only inside thisUpdate ≤ now < nextUpdate, and only when signed by the
 *   issuer's key, which must be allowed to sign CRLs when its keyUsage says anything.
 */
import { ShadowplaneError } from '../errors.ts';
import { TAG, children, ctx, decodeOid, decodeTime, decodeUnsigned, expectTag, readOnly, type DerElement } from './der.ts';
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
  /**
   * Held by the verifier (configured), not carried in the peer's evidence: only such a
   * CRL satisfies a requirement for current CRLs (revocation.ts).
   */
  readonly heldByVerifier?: boolean;
}

const CODE = 'SP_ATTEST_COLLATERAL_INVALID';

/** Refuses an Extensions SEQUENCE that holds any critical extension (we process none). */
function refuseCritical(extensions: DerElement, what: string, where: string): void {
  for (const ext of children(expectTag(extensions, TAG.SEQUENCE, what, CODE), what, CODE)) {
    const parts = children(expectTag(ext, TAG.SEQUENCE, what, CODE), what, CODE);
    const extOid = decodeOid(expectTag(parts[0], TAG.OID, what, CODE).content, what, CODE);
    if (parts[1]?.tag === TAG.BOOLEAN && parts[1].content[0] !== 0) {
      throw new ShadowplaneError(CODE, `${what}: ${where} carries the critical extension ${extOid}, which shadowplane does not process (RFC 5280 §5.2)`);
    }
  }
}

/** Parses one DER CRL. Malformed input, or a critical extension, gives SP_ATTEST_COLLATERAL_INVALID. */
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
      if (parts[2] !== undefined) refuseCritical(parts[2], what, 'a revoked-certificate entry');
      if (parts.length > 3) throw new ShadowplaneError(CODE, `${what}: malformed revoked-certificate entry`);
      revoked.add(serial.toString('hex').replace(/^0+(?=.)/, ''));
    }
  }
  const extensions = tbs[i];
  if (extensions !== undefined) {
    if (extensions.tag !== ctx(0, true)) throw new ShadowplaneError(CODE, `${what}: unexpected element after the revoked list`);
    refuseCritical(expectTag(children(extensions, what, CODE)[0], TAG.SEQUENCE, what, CODE), what, 'the list');
    i++;
  }
  if (tbs.length > i) throw new ShadowplaneError(CODE, `${what}: unexpected trailing element`);
  return { der, tbs: tbsEl.raw, signatureAlgorithm, signature: sigBits.subarray(1), issuer, thisUpdate, nextUpdate, revoked };
}

/**
 * True when `issuer` may sign CRLs: its keyUsage, when present, has cRLSign. AMD's ASK and
 * ASVK have keyCertSign only, so AMD revokes no VCEK or VLEK by CRL (the ARK's CRL covers
 * the ASK/ASVK; a VCEK is retired by raising the TCB).
 */
export function mayIssueCrls(issuer: Certificate): boolean {
  return issuer.keyUsage === undefined || issuer.keyUsage.has('cRLSign');
}

/**
 * Refuses (SP_ATTEST_COLLATERAL_INVALID) `crl` unless it names `issuer`, is signed by its
 * key, which may sign CRLs, and is inside its update window at `now`.
 */
export function requireIssuedBy(crl: Crl, issuer: Certificate, now: Date): void {
  if (!crl.issuer.equals(issuer.subject)) throw new ShadowplaneError(CODE, `a CRL expected from '${issuer.subjectName}' names another issuer`);
  if (!mayIssueCrls(issuer)) {
    throw new ShadowplaneError(CODE, `a CRL names '${issuer.subjectName}' as issuer, whose keyUsage does not allow signing CRLs`);
  }
  if (!verifySignature(crl.signatureAlgorithm, issuer.publicKey, crl.tbs, crl.signature)) {
    throw new ShadowplaneError(CODE, `a CRL naming '${issuer.subjectName}' as issuer is not signed by it`);
  }
  if (crl.thisUpdate.getTime() > now.getTime() || (crl.nextUpdate !== undefined && crl.nextUpdate.getTime() <= now.getTime())) {
    throw new ShadowplaneError(
      CODE,
      `the CRL of '${issuer.subjectName}' is valid from ${crl.thisUpdate.toISOString()} until ${crl.nextUpdate?.toISOString() ?? 'unspecified'}, not at ${now.toISOString()}: fetch a current one`,
    );
  }
}

/**
 * Checks `cert` against every CRL issued by `issuer`. A CRL that names the issuer but is
 * not signed by it (or by a key that may not sign CRLs), or is outside its update window
 * at `now`, is refused (SP_ATTEST_COLLATERAL_INVALID): a stale or forged CRL must not
 * silently pass. A revoked serial gives SP_ATTEST_CERT_REVOKED. With `require`, an issuer
 * that may sign CRLs must have at least one current CRL (with a nextUpdate) in `crls`,
 * else SP_ATTEST_REVOCATION_UNKNOWN.
 *
 * Returns the earliest nextUpdate among the CRLs applied (undefined when none was): a
 * verification that relied on them must not be reused past it.
 */
export function checkRevocation(cert: Certificate, certLabel: string, issuer: Certificate, crls: readonly Crl[], now: Date, require = false): Date | undefined {
  let earliest: Date | undefined;
  let current = false;
  for (const crl of crls) {
    if (!crl.issuer.equals(issuer.subject)) continue;
    requireIssuedBy(crl, issuer, now);
    if (crl.revoked.has(cert.serial)) {
      throw new ShadowplaneError('SP_ATTEST_CERT_REVOKED', `the ${certLabel} certificate (serial ${cert.serial}) is revoked by '${issuer.subjectName}'`);
    }
    if (crl.nextUpdate !== undefined) {
      // A CRL the peer carries only adds revocations: it chose which one to send, and an
      // older one still within its validity can predate its own revocation.
      if (crl.heldByVerifier === true) current = true;
      if (earliest === undefined || crl.nextUpdate.getTime() < earliest.getTime()) earliest = crl.nextUpdate;
    }
  }
  if (require && !current && mayIssueCrls(issuer)) {
    throw new ShadowplaneError(
      'SP_ATTEST_REVOCATION_UNKNOWN',
      `current CRLs are required, and none held by this verifier from '${issuer.subjectName}' (with a nextUpdate) covers the ${certLabel} certificate: configure that issuer's CRL`,
    );
  }
  return earliest;
}
