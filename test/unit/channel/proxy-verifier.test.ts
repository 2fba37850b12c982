/**
 * The agent's check of a proxy certificate: role, manifest binding and the pin, over
 * real RA-TLS certificates with simulated evidence (explicitly allowed here).
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAttestedCredentials, type EvidenceIssuer, type ReferenceValues } from '../../../src/attestation/index.ts';
import { agentClaims, proxyClaims, raTlsProxyVerifier } from '../../../src/channel/ra-tls-trust.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { simulatedTrust } from './support/simulated-trust.ts';

let issuer: EvidenceIssuer;
let reference: ReferenceValues;

beforeAll(async () => {
  ({ issuer, reference } = await simulatedTrust());
}, 60_000);

async function outcome(claims: Record<string, string>, allowedManifestDigests: string[]): Promise<string> {
  const { certDer } = await createAttestedCredentials({ issuer, claims });
  const x509 = new X509Certificate(certDer);
  const verify = raTlsProxyVerifier({ reference, allowedManifestDigests, allowSimulated: true });
  return verify({ x509, raw: certDer, fingerprint256: x509.fingerprint256 }).then(
    (r) => `ok ${r.manifestDigest ?? '-'}`,
    (err: unknown) => (isShadowplaneError(err) ? err.code : 'other'),
  );
}

describe('the agent\'s check of a proxy', () => {
  const mine = 'ab'.repeat(32);
  it('accepts a proxy bound to a pinned manifest, and refuses another manifest', async () => {
    expect(await outcome(proxyClaims(mine), [mine])).toBe(`ok ${mine}`);
    expect(await outcome(proxyClaims('ee'.repeat(32)), [mine])).toBe('SP_ATTEST_MANIFEST_MISMATCH');
  });

  it('refuses a proxy certificate that names no manifest, pinned or not, and a certificate of another role', async () => {
    expect(await outcome({ 'sp.role': 'proxy' }, [])).toBe('SP_ATTEST_MANIFEST_MISMATCH');
    expect(await outcome({ 'sp.role': 'proxy' }, [mine])).toBe('SP_ATTEST_MANIFEST_MISMATCH');
    expect(await outcome(agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }), [])).toBe('SP_AGENT_REFUSED');
    // Unpinned (warned at the agent's start): any manifest.
    expect(await outcome(proxyClaims('ee'.repeat(32)), [])).toBe(`ok ${'ee'.repeat(32)}`);
  });
});
