/**
 * What the 64 bytes of report data bind, for each use of attestation in shadowplane.
 *
 * Each binding starts with its own NUL-terminated domain label so that report data made
 * for one purpose can never be accepted for another, and ends in SHA-512 so that the
 * result is exactly the 64 bytes that SEV-SNP REPORT_DATA and TDX REPORTDATA hold.
 */
import { createHash } from 'node:crypto';
import { ShadowplaneError } from '../errors.ts';

export const REPORT_DATA_LENGTH = 64;

const ATTEST_LABEL = Buffer.from('shadowplane/v1/attest\0', 'latin1');
// v2: the certificate's validity period is bound too (v1 bound only the key and the claims).
const RA_TLS_LABEL = Buffer.from('shadowplane/v2/ra-tls\0', 'latin1');

/** Claims may hold at most this many entries, keys and values of bounded length. */
export const CLAIMS_LIMITS = { entries: 32, keyLength: 128, valueLength: 1024, totalBytes: 8192 } as const;

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

function exact(name: string, b: Buffer, length: number): Buffer {
  if (!Buffer.isBuffer(b) || b.length !== length) throw new ShadowplaneError('SP_INTERNAL', `${name} must be exactly ${length} bytes`);
  return b;
}

/**
 * Report data for the proxy's attestation endpoint (proxy ↔ `shadowplane verify`):
 * `SHA-512("shadowplane/v1/attest\0" ‖ SHA-256(SPKI DER of the serving cert) ‖ manifestDigest ‖ nonce)`.
 * `manifestDigest` and `nonce` are exactly 32 bytes each.
 */
export function attestReportData(input: { readonly spkiDer: Buffer; readonly manifestDigest: Buffer; readonly nonce: Buffer }): Buffer {
  return createHash('sha512')
    .update(ATTEST_LABEL)
    .update(sha256(input.spkiDer))
    .update(exact('manifestDigest', input.manifestDigest, 32))
    .update(exact('nonce', input.nonce, 32))
    .digest();
}

/**
 * Validates claims and renders their canonical JSON: keys sorted by UTF-16 code unit, no
 * whitespace, JSON string escaping. Bad claims give SP_ATTEST_EVIDENCE_MALFORMED.
 */
export function canonicalClaimsJson(claims: Readonly<Record<string, string>>): string {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'claims must be an object of strings');
  }
  const keys = Object.keys(claims).sort();
  if (keys.length > CLAIMS_LIMITS.entries) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `more than ${CLAIMS_LIMITS.entries} claims`);
  const parts: string[] = [];
  for (const k of keys) {
    const v = claims[k];
    if (k.length === 0 || k.length > CLAIMS_LIMITS.keyLength) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `a claim name is empty or longer than ${CLAIMS_LIMITS.keyLength}`);
    if (typeof v !== 'string' || v.length > CLAIMS_LIMITS.valueLength) {
      throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `claim values are strings of at most ${CLAIMS_LIMITS.valueLength} characters`);
    }
    parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  const json = `{${parts.join(',')}}`;
  if (Buffer.byteLength(json) > CLAIMS_LIMITS.totalBytes) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `claims exceed ${CLAIMS_LIMITS.totalBytes} bytes`);
  return json;
}

/**
 * One bound instant as 8 bytes: whole seconds since the Unix epoch, unsigned big-endian.
 * X.509 times have one-second resolution, so an instant with milliseconds could never equal
 * a certificate's; such input is a programming error (SP_INTERNAL), never silently rounded.
 */
function epochSeconds(name: string, d: Date): Buffer {
  const ms = d instanceof Date ? d.getTime() : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0 || ms % 1000 !== 0) throw new ShadowplaneError('SP_INTERNAL', `${name} must be a whole second at or after 1970`);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(ms / 1000));
  return out;
}

/**
 * Report data for RA-TLS certificates (proxy ↔ agent):
 * `SHA-512("shadowplane/v2/ra-tls\0" ‖ SHA-256(SPKI DER) ‖ SHA-256(canonical JSON of the claims) ‖ notBefore[8] ‖ notAfter[8])`,
 * where notBefore and notAfter are the certificate's validity bounds as whole seconds since
 * the Unix epoch, unsigned 64-bit big-endian. Binding the validity means a holder of the
 * private key cannot wrap the same evidence in a certificate with another (later, longer)
 * validity: the evidence vouches for this key during this window only.
 */
export function raTlsReportData(input: {
  readonly spkiDer: Buffer;
  readonly claims: Readonly<Record<string, string>>;
  readonly notBefore: Date;
  readonly notAfter: Date;
}): Buffer {
  const notBefore = epochSeconds('notBefore', input.notBefore);
  const notAfter = epochSeconds('notAfter', input.notAfter);
  if (input.notAfter.getTime() <= input.notBefore.getTime()) throw new ShadowplaneError('SP_INTERNAL', 'notAfter must be later than notBefore');
  return createHash('sha512')
    .update(RA_TLS_LABEL)
    .update(sha256(input.spkiDer))
    .update(sha256(Buffer.from(canonicalClaimsJson(input.claims), 'utf8')))
    .update(notBefore)
    .update(notAfter)
    .digest();
}
