/**
 * Test credentials for the channel: self-signed ECDSA certificates (no evidence), and
 * verifiers that accept exactly the fingerprints a test names. They stand in for RA-TLS
 * credentials and attestation verifiers where a test is about the channel itself.
 */
import { X509Certificate } from 'node:crypto';
import { ShadowplaneError } from '../../../../src/errors.ts';
import type { AgentIdentity, AgentVerifier, ChannelCredentials, ProxyVerifier } from '../../../../src/channel/trust.ts';
import { createSelfSigned } from '../../../../src/tls/certificates.ts';

export interface TestCredentials extends ChannelCredentials {
  readonly key: string;
  readonly cert: string;
  readonly fingerprint256: string;
}

export async function makeCredentials(commonName: string): Promise<TestCredentials> {
  const { keyPem, certPem } = await createSelfSigned({ commonName, validityMs: 3_600_000, usage: 'server' });
  return { key: keyPem, cert: certPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

/** Proxy side: agents known by fingerprint, each with the pod it claims to be. */
export function agentVerifier(known: Map<string, AgentIdentity>, calls?: { count: number }): AgentVerifier {
  return (peer) => {
    if (calls !== undefined) calls.count += 1;
    const identity = known.get(peer.fingerprint256);
    if (identity === undefined) return Promise.reject(new ShadowplaneError('SP_ATTEST_MEASUREMENT_MISMATCH'));
    return Promise.resolve({ identity });
  };
}

/** Agent side: proxies known by fingerprint. */
export function proxyVerifier(allowed: ReadonlySet<string>): ProxyVerifier {
  return (peer) => (allowed.has(peer.fingerprint256) ? Promise.resolve({}) : Promise.reject(new ShadowplaneError('SP_ATTEST_MEASUREMENT_MISMATCH')));
}
