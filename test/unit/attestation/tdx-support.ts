/**
 * Runs the whole verifier (crypto, report data, DEBUG, entries) with test anchors in place
 * of the Intel SGX Root CA, through the trust-store injection point of verify.ts.
 */
import { verifyWithTrust } from '../../../src/attestation/verify.ts';
import type { TrustAnchor } from '../../../src/attestation/chain.ts';
import type { Evidence, VerifiedEvidence, VerifyOptions } from '../../../src/attestation/types.ts';

export function verifyEvidenceWithAnchors(e: Evidence, opts: VerifyOptions, anchors: readonly TrustAnchor[]): VerifiedEvidence {
  return verifyWithTrust(e, opts, { intel: anchors });
}
