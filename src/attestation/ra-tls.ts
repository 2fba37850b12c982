/**
 * RA-TLS certificates for the proxy ↔ agent channel: a fresh ECDSA key made in memory, a
 * self-signed certificate for it, and inside the certificate the platform evidence whose
 * report data binds that certificate's public key, a set of claims and the certificate's
 * validity period:
 *
 *   report_data = SHA-512("shadowplane/v2/ra-tls\0" ‖ SHA-256(SPKI DER) ‖ SHA-256(canonical claims JSON)
 *                         ‖ notBefore ‖ notAfter)      -- u64 big-endian seconds since the epoch
 *
 * The evidence sits in a private, non-critical extension, OID
 * `2.25.68525416531086211201031285565286641773.1` (a UUID-derived arc, so no enterprise
 * number is squatted), whose value is DER:
 *
 *   ShadowplaneAttestation ::= SEQUENCE {
 *     version       INTEGER (2),                 -- 2: the validity is bound (binding.ts)
 *     platform      UTF8String,
 *     report        OCTET STRING,
 *     certificates  SEQUENCE OF OCTET STRING,   -- DER, leaf first
 *     claims        UTF8String,                 -- canonical JSON object of strings
 *     collateral    [0] EXPLICIT UTF8String OPTIONAL }  -- JSON, see evidence.ts
 *
 * TLS proves the peer holds the private key; this module proves the key lives in an
 * attested TEE. Invariant: the report data is recomputed from the certificate's own SPKI
 * bytes and its own notBefore/notAfter, so evidence copied into another certificate, or
 * re-wrapped by a holder of the key in a certificate with another validity, never verifies
 * (SP_ATTEST_TLS_BINDING). And no RA-TLS certificate may span more than
 * MAX_RA_TLS_VALIDITY_MS (+ the backdating): a key that leaks is worth at most that long.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { shortHex } from './bytes.ts';
import { CLAIMS_LIMITS, canonicalClaimsJson, raTlsReportData } from './binding.ts';
import type { VerificationCache } from './cache.ts';
import { TAG, children, ctx, decodeSmallInt, expectTag, explicit, octets, readOnly, seq, uint, utf8 } from './der.ts';
import { decodeEvidence, encodeEvidence, type CollateralJson } from './evidence.ts';
import type { ReferenceValues } from './reference-values.ts';
import type { RevocationPolicy } from './revocation.ts';
import { refuseUnprocessedCritical, requireKeyUsage } from './chain.ts';
import type { Evidence, EvidenceIssuer, VerifiedEvidence } from './types.ts';
import { verifyEvidenceSync } from './verify.ts';
import { basicConstraints, buildCertificate, dn, extKeyUsage, keyUsage, subjectAltName, subjectKeyIdentifier } from './x509-build.ts';
import { OID, derToPem, isSignedBy, parseCertificate } from './x509.ts';

/** The UUID arc (2.25 + 338d83e1-d883-42cf-92ac-39c686e5f06d as an integer) shadowplane uses. */
export const SHADOWPLANE_OID_ARC = '2.25.68525416531086211201031285565286641773';
/** The RA-TLS evidence extension. */
export const RA_TLS_EXTENSION_OID = `${SHADOWPLANE_OID_ARC}.1`;

/** RA-TLS certificates larger than this are refused before parsing. */
export const MAX_RA_TLS_CERT_BYTES = 256 * 1024;
const DEFAULT_VALIDITY_MS = 24 * 3_600_000;
/** The longest lifetime an RA-TLS certificate may be issued with (the `validity` option). */
export const MAX_RA_TLS_VALIDITY_MS = 7 * 86_400_000;
/** How far notBefore is backdated for clock skew. */
export const RA_TLS_BACKDATE_MS = 5 * 60_000;
/** The longest notBefore..notAfter window a verifier accepts: the maximum lifetime plus the backdating. */
export const MAX_RA_TLS_WINDOW_MS = MAX_RA_TLS_VALIDITY_MS + RA_TLS_BACKDATE_MS;
/** The extension version whose evidence binds the validity (binding.ts `shadowplane/v2/ra-tls`). */
const EXTENSION_VERSION = 2;

export interface AttestedCredentialsOptions {
  readonly issuer: EvidenceIssuer;
  /** Bound into the report data; at most 32 entries (see binding.ts). */
  readonly claims: Readonly<Record<string, string>>;
  /** DNS names and IP addresses for subjectAltName. */
  readonly subjectAltNames?: readonly string[];
  /**
   * Lifetime in ms, at most MAX_RA_TLS_VALIDITY_MS (7 days). Default 24 h. notBefore is
   * backdated 5 minutes for clock skew; both bounds are whole seconds and bound into the evidence.
   */
  readonly validity?: number;
  readonly now?: Date;
  /** Default 'P-384'. */
  readonly curve?: 'P-256' | 'P-384';
}

export interface AttestedCredentials {
  /** PKCS#8 PEM of the private key. Keep it in memory; never write or log it. */
  readonly keyPem: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  /** SHA-256 of the certificate's SPKI DER, lowercase hex. */
  readonly spkiSha256: string;
  /** SHA-256 of the certificate DER, lowercase hex (the cache key on the other side). */
  readonly certSha256: string;
  readonly evidence: Evidence;
  readonly notAfter: Date;
  /** The private key as a KeyObject, for callers that never need PEM. */
  readonly privateKey: KeyObject;
}

function encodeExtension(evidence: Evidence, claimsJson: string): Buffer {
  const collateral = encodeEvidence(evidence).collateral;
  return seq(
    uint(EXTENSION_VERSION),
    utf8(evidence.platform),
    octets(evidence.report),
    seq(...evidence.certificates.map((c) => octets(c))),
    utf8(claimsJson),
    ...(collateral !== undefined ? [explicit(0, utf8(JSON.stringify(collateral)))] : []),
  );
}

function decodeExtension(value: Buffer): { evidence: Evidence; claims: Record<string, string>; claimsJson: string } {
  const what = 'RA-TLS attestation extension';
  const parts = children(expectTag(readOnly(value, what), TAG.SEQUENCE, what), what);
  if (decodeSmallInt(expectTag(parts[0], TAG.INTEGER, what), what) !== EXTENSION_VERSION) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: unsupported version`);
  }
  const platform = expectTag(parts[1], TAG.UTF8_STRING, what).content.toString('utf8');
  const report = expectTag(parts[2], TAG.OCTET_STRING, what).content;
  const certificates = children(expectTag(parts[3], TAG.SEQUENCE, what), what).map((c) => expectTag(c, TAG.OCTET_STRING, what).content);
  const claimsJson = expectTag(parts[4], TAG.UTF8_STRING, what).content.toString('utf8');
  let collateral: unknown;
  if (parts[5] !== undefined) {
    const text = expectTag(children(expectTag(parts[5], ctx(0, true), what), what)[0], TAG.UTF8_STRING, what).content.toString('utf8');
    try {
      collateral = JSON.parse(text) as unknown;
    } catch (err) {
      throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: collateral is not JSON`, { cause: err });
    }
  }
  if (parts.length > 6) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: unexpected trailing fields`);
  const evidence = decodeEvidence({
    platform,
    report: report.toString('base64'),
    certificates: certificates.map((c) => c.toString('base64')),
    ...(collateral !== undefined ? { collateral: collateral as CollateralJson } : {}),
  });
  if (Buffer.byteLength(claimsJson) > CLAIMS_LIMITS.totalBytes) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: claims too large`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(claimsJson) as unknown;
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: claims are not JSON`, { cause: err });
  }
  const claims = parsed as Record<string, string>;
  // Only the canonical form is accepted: one byte sequence per set of claims.
  if (canonicalClaimsJson(claims) !== claimsJson) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${what}: claims are not in canonical form`);
  return { evidence, claims: Object.freeze({ ...claims }), claimsJson };
}

const wholeSecond = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/**
 * Makes a fresh key and an RA-TLS certificate for it, with evidence from `issuer` bound
 * to the key, the claims and the certificate's validity period. The key exists only in
 * memory. Every RA-TLS certificate shadowplane issues is made here.
 */
export async function createAttestedCredentials(opts: AttestedCredentialsOptions): Promise<AttestedCredentials> {
  const claimsJson = canonicalClaimsJson(opts.claims);
  const validity = opts.validity ?? DEFAULT_VALIDITY_MS;
  if (!Number.isFinite(validity) || validity <= 0 || validity > MAX_RA_TLS_VALIDITY_MS) {
    throw new ShadowplaneError('SP_CONFIG_INVALID', `RA-TLS validity must be a positive number of milliseconds, at most ${MAX_RA_TLS_VALIDITY_MS} (7 days)`);
  }
  const now = opts.now ?? new Date();
  if (!Number.isFinite(now.getTime())) throw new ShadowplaneError('SP_INTERNAL', 'RA-TLS issuance time is not a valid date');
  // X.509 times have one-second resolution: fix both bounds to whole seconds before they are
  // bound, so that the certificate carries exactly the instants the evidence covers.
  const notBefore = wholeSecond(now.getTime() - RA_TLS_BACKDATE_MS);
  const notAfter = wholeSecond(now.getTime() + validity);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: opts.curve ?? 'P-384' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const evidence = await opts.issuer.issue(raTlsReportData({ spkiDer: spki, claims: opts.claims, notBefore, notAfter }));
  const name = dn([['O', 'shadowplane'], ['CN', 'shadowplane RA-TLS']]);
  const sans = opts.subjectAltNames ?? [];
  const certDer = buildCertificate({
    issuer: name,
    subject: name,
    notBefore,
    notAfter,
    spki,
    extensions: [
      basicConstraints(false),
      keyUsage(['digitalSignature']),
      extKeyUsage([OID.serverAuth, OID.clientAuth]),
      subjectKeyIdentifier(spki),
      ...(sans.length > 0 ? [subjectAltName(sans)] : []),
      { oid: RA_TLS_EXTENSION_OID, value: encodeExtension(evidence, claimsJson) },
    ],
    signWith: { key: privateKey, alg: opts.curve === 'P-256' ? 'ecdsa-sha256' : 'ecdsa-sha384' },
  });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    certPem: derToPem(certDer),
    certDer,
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
    certSha256: createHash('sha256').update(certDer).digest('hex'),
    evidence,
    notAfter,
    privateKey,
  };
}

export interface AttestedCertificateResult {
  readonly claims: Readonly<Record<string, string>>;
  readonly evidence: VerifiedEvidence;
  /** SHA-256 of the certificate DER, lowercase hex. */
  readonly certSha256: string;
}

export interface VerifyAttestedCertificateOptions {
  readonly reference: ReferenceValues;
  readonly allowSimulated?: boolean;
  readonly now?: Date;
  /** Reuse earlier successes (see cache.ts). Keyed by certificate, reference digest, revocation policy digest and allowSimulated. */
  readonly cache?: VerificationCache<AttestedCertificateResult>;
  /** The verifier's CRLs and whether they are required (see VerifyOptions.revocation). */
  readonly revocation?: RevocationPolicy;
  readonly logger?: Logger;
}

/**
 * Verifies a peer's RA-TLS certificate (DER, as from `getPeerX509Certificate().raw`):
 * validity (now, and a window of at most MAX_RA_TLS_WINDOW_MS), self-signature, the evidence
 * against the reference values, and that the evidence binds this very certificate's key,
 * claims and notBefore/notAfter. Synchronous, so it can run in TLS
 * callbacks; `verifyAttestedCertificate` is the Promise form.
 */
export function verifyAttestedCertificateSync(certDer: Buffer, opts: VerifyAttestedCertificateOptions): AttestedCertificateResult {
  if (!Buffer.isBuffer(certDer) || certDer.length === 0 || certDer.length > MAX_RA_TLS_CERT_BYTES) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `an RA-TLS certificate is 1 to ${MAX_RA_TLS_CERT_BYTES} bytes`);
  }
  const now = opts.now ?? new Date();
  const certSha256 = createHash('sha256').update(certDer).digest('hex');
  const cacheKey = `${certSha256}|${opts.reference.digest}|${opts.revocation?.digest ?? 'none'}|${opts.allowSimulated === true ? 'sim' : 'real'}`;
  const cached = opts.cache?.get(cacheKey, now.getTime());
  if (cached !== undefined) return cached;

  const cert = parseCertificate(Buffer.from(certDer), 'RA-TLS certificate');
  if (cert.notBefore.getTime() > now.getTime() || cert.notAfter.getTime() < now.getTime()) {
    throw new ShadowplaneError(
      'SP_ATTEST_CERT_EXPIRED',
      `the RA-TLS certificate is valid from ${cert.notBefore.toISOString()} until ${cert.notAfter.toISOString()}, not at ${now.toISOString()}`,
    );
  }
  // A window the evidence binds may still be longer than any shadowplane issuer makes; such a
  // certificate (a misconfigured or modified issuer) is refused, whatever its evidence says.
  const windowMs = cert.notAfter.getTime() - cert.notBefore.getTime();
  if (windowMs <= 0 || windowMs > MAX_RA_TLS_WINDOW_MS) {
    throw new ShadowplaneError(
      'SP_ATTEST_CHAIN_INVALID',
      `the RA-TLS certificate's validity period is empty or longer than ${MAX_RA_TLS_VALIDITY_MS / 86_400_000} days (plus ${RA_TLS_BACKDATE_MS / 60_000} minutes of backdating)`,
    );
  }
  if (!isSignedBy(cert, cert)) throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', 'the RA-TLS certificate is not signed by its own key');
  // The same X.509 rules as every vendor certificate: no critical extension we do not act
  // on, and a keyUsage (if any) that lets the key sign (TLS handshakes).
  refuseUnprocessedCritical(cert, 'RA-TLS', [RA_TLS_EXTENSION_OID]);
  requireKeyUsage(cert, 'RA-TLS', 'digitalSignature');
  const ext = cert.extensions.get(RA_TLS_EXTENSION_OID);
  if (ext === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'the certificate carries no shadowplane attestation extension');
  const { evidence, claims } = decodeExtension(ext.value);
  // Recomputed from this certificate's own SPKI and validity: the evidence must bind exactly
  // these, so the same evidence in a re-minted certificate (any other notBefore/notAfter) fails.
  const expected = raTlsReportData({ spkiDer: cert.spki, claims, notBefore: cert.notBefore, notAfter: cert.notAfter });
  let verified: VerifiedEvidence;
  try {
    verified = verifyEvidenceSync(evidence, {
      reportData: expected,
      reference: opts.reference,
      ...(opts.allowSimulated !== undefined ? { allowSimulated: opts.allowSimulated } : {}),
      now,
      ...(opts.revocation !== undefined ? { revocation: opts.revocation } : {}),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    });
  } catch (err) {
    if (isShadowplaneError(err, 'SP_ATTEST_REPORT_DATA_MISMATCH')) {
      throw new ShadowplaneError(
        'SP_ATTEST_TLS_BINDING',
        `the evidence in this certificate binds another key, other claims or another validity period (expected report data ${shortHex(expected)})`,
        { cause: err },
      );
    }
    throw err;
  }
  const result: AttestedCertificateResult = Object.freeze({ claims, evidence: verified, certSha256 });
  opts.cache?.set(cacheKey, result, now.getTime(), Math.min(cert.notAfter.getTime(), Date.parse(verified.notAfter)));
  return result;
}

/** Promise form of `verifyAttestedCertificateSync`. */
export function verifyAttestedCertificate(certDer: Buffer, opts: VerifyAttestedCertificateOptions): Promise<AttestedCertificateResult> {
  try {
    return Promise.resolve(verifyAttestedCertificateSync(certDer, opts));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new ShadowplaneError('SP_INTERNAL'));
  }
}
