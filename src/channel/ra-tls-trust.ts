/**
 * The channel's trust callbacks built on RA-TLS (src/attestation): what each side puts in
 * its certificate's claims and how each side judges the other's certificate.
 *
 * Claims (bound into the evidence's report data together with the certificate's key):
 *
 * | claim            | agent certificate      | proxy certificate          |
 * |------------------|------------------------|----------------------------|
 * | `sp.role`        | `agent`                | `proxy`                    |
 * | `pod.namespace`  | the pod's namespace    | —                          |
 * | `pod.name`       | the pod's name         | —                          |
 * | `pod.container`  | the agent's container  | —                          |
 * | `manifest.sha256`| —                      | the manifest digest (hex)  |
 * | `manifest.sig`   | —                      | the owner's signature of it, when the proxy was given one |
 *
 * The role claim keeps an agent certificate from ever passing as a proxy (and back) even
 * where both run the same measured image.
 */
import { timingSafeEqual } from 'node:crypto';
import { currentRevocation, verifyAttestedCertificate, type AttestedCertificateResult, type ReferenceValues, type RevocationSetting, type VerificationCache } from '../attestation/index.ts';
import { type ManifestSigner, verifyManifestSignature } from '../config/manifest-signature.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AgentIdentity, AgentVerifier, ProxyVerifier } from './trust.ts';

export const CLAIM = {
  role: 'sp.role',
  namespace: 'pod.namespace',
  pod: 'pod.name',
  container: 'pod.container',
  manifestDigest: 'manifest.sha256',
  manifestSignature: 'manifest.sig',
} as const;

/** Claims of an agent's RA-TLS certificate. */
export function agentClaims(identity: { readonly namespace: string; readonly pod: string; readonly container: string }): Record<string, string> {
  return { [CLAIM.role]: 'agent', [CLAIM.namespace]: identity.namespace, [CLAIM.pod]: identity.pod, [CLAIM.container]: identity.container };
}

/** Claims of the proxy's RA-TLS client certificate for the channel. */
export function proxyClaims(manifestDigestHex: string, manifestSignature?: string): Record<string, string> {
  return { [CLAIM.role]: 'proxy', [CLAIM.manifestDigest]: manifestDigestHex, ...(manifestSignature === undefined ? {} : { [CLAIM.manifestSignature]: manifestSignature }) };
}

export interface RaTlsAgentVerifierOptions {
  /** The manifest's reference values for the workload of this pod; undefined refuses. */
  readonly referenceFor: (expected: AgentIdentity) => ReferenceValues | undefined;
  readonly allowSimulated?: boolean;
  /** The proxy's own CRLs and whether they are required (docs/attestation.md, revocation). */
  readonly revocation?: RevocationSetting;
  readonly cache?: VerificationCache<AttestedCertificateResult>;
  readonly logger?: Logger;
}

/**
 * Proxy side: accepts an agent whose evidence matches the reference values of the pod's
 * workload, and returns the pod identity it claims (the channel compares it with the pod
 * the proxy asked for).
 */
export function raTlsAgentVerifier(options: RaTlsAgentVerifierOptions): AgentVerifier {
  return async (peer, expected) => {
    const reference = options.referenceFor(expected);
    if (reference === undefined) throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'no reference values for this workload');
    const result = await verifyAttestedCertificate(peer.raw, {
      reference,
      ...(options.allowSimulated === undefined ? {} : { allowSimulated: options.allowSimulated }),
      ...(options.revocation === undefined ? {} : { revocation: currentRevocation(options.revocation) }),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const claims = result.claims;
    if (claims[CLAIM.role] !== 'agent') throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'the certificate is not an agent certificate');
    const namespace = claims[CLAIM.namespace];
    const pod = claims[CLAIM.pod];
    if (namespace === undefined || pod === undefined) throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'the certificate names no pod');
    return { identity: { namespace, pod }, platform: result.evidence.platform, notAfterMs: Date.parse(result.evidence.notAfter) };
  };
}

export interface RaTlsProxyVerifierOptions {
  /** The reference values for the proxy, from the agent's measured configuration. */
  readonly reference: ReferenceValues;
  /** Manifest digests (hex) the proxy may be bound to. */
  readonly allowedManifestDigests: readonly string[];
  /**
   * Owner keys whose signature of the bound manifest is accepted instead of a pinned
   * digest. With neither digests nor signers, any manifest is accepted. Default none.
   */
  readonly manifestSigners?: readonly ManifestSigner[];
  readonly allowSimulated?: boolean;
  /** The agent's own CRLs and whether they are required (docs/attestation.md, revocation). */
  readonly revocation?: RevocationSetting;
  readonly cache?: VerificationCache<AttestedCertificateResult>;
  readonly logger?: Logger;
}

function digestAllowed(claimed: string, allowed: readonly string[]): boolean {
  const a = Buffer.from(claimed, 'utf8');
  // Compare with every entry, without an early exit on the first match.
  let found = false;
  for (const entry of allowed) {
    const b = Buffer.from(entry, 'utf8');
    if (a.length === b.length && timingSafeEqual(a, b)) found = true;
  }
  return found;
}

/** Agent side: accepts a proxy whose evidence matches its reference values (and manifest pin). */
export function raTlsProxyVerifier(options: RaTlsProxyVerifierOptions): ProxyVerifier {
  return async (peer) => {
    const result = await verifyAttestedCertificate(peer.raw, {
      reference: options.reference,
      ...(options.allowSimulated === undefined ? {} : { allowSimulated: options.allowSimulated }),
      ...(options.revocation === undefined ? {} : { revocation: currentRevocation(options.revocation) }),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    if (result.claims[CLAIM.role] !== 'proxy') throw new ShadowplaneError('SP_AGENT_REFUSED', 'the certificate is not a proxy certificate');
    const digest = result.claims[CLAIM.manifestDigest];
    // A proxy is always bound to a manifest (it is what grants exec, logs, …): a proxy
    // certificate without that claim is refused, pinned digests or not.
    if (digest === undefined) throw new ShadowplaneError('SP_ATTEST_MANIFEST_MISMATCH', 'the proxy certificate names no manifest');
    const evidenceNotAfterMs = Date.parse(result.evidence.notAfter);
    const signers = options.manifestSigners ?? [];
    const pinned = options.allowedManifestDigests.length > 0 && digestAllowed(digest.toLowerCase(), options.allowedManifestDigests);
    if (!pinned && signers.length > 0) {
      // Not pinned: the owner's signature of exactly the digest the evidence binds.
      const signature = result.claims[CLAIM.manifestSignature];
      if (signature === undefined) throw new ShadowplaneError('SP_ATTEST_MANIFEST_MISMATCH', 'the proxy\'s manifest is neither pinned nor signed by an owner key');
      const { signer, serial, notAfterMs } = await verifyManifestSignature(signature, digest, signers);
      options.logger?.debug({ ownerKeySha256: signer.keySha256, serial }, 'proxy manifest signed by an owner key');
      // The signature vouches for the manifest only until it expires: so does the session.
      return { manifestDigest: digest, notAfterMs: Math.min(evidenceNotAfterMs, notAfterMs ?? Infinity) };
    } else if (!pinned && options.allowedManifestDigests.length > 0) {
      throw new ShadowplaneError('SP_ATTEST_MANIFEST_MISMATCH');
    }
    return { manifestDigest: digest, notAfterMs: evidenceNotAfterMs };
  };
}
