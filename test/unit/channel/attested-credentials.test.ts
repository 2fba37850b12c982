import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SIMULATED_DEFAULT_MEASUREMENT, createSimulatedIssuer, loadReferenceValues, simulateInit, verifyAttestedCertificate } from '../../../src/attestation/index.ts';
import { startRenewingCredentials } from '../../../src/channel/attested-credentials.ts';
import { agentClaims } from '../../../src/channel/ra-tls-trust.ts';
import type { ChannelCredentials } from '../../../src/channel/trust.ts';
import { silentLogger } from '../../../src/log.ts';

describe('renewing RA-TLS credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-creds-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues a verifiable certificate with the claims, then renews it at half its lifetime (4 s certificate)', async () => {
    const sim = await simulateInit(join(dir, 'sim'));
    const issuer = createSimulatedIssuer({ dir: sim.dir, measurement: SIMULATED_DEFAULT_MEASUREMENT });
    const claims = agentClaims({ namespace: 'payments', pod: 'api-0', container: 'app' });
    const creds = await startRenewingCredentials({ issuer, claims, validityMs: 4000, logger: silentLogger() });
    const first = creds.current();
    const der = new X509Certificate(String(first.cert)).raw;
    const verified = await verifyAttestedCertificate(der, { reference: loadReferenceValues(sim.referenceValuesPath), allowSimulated: true });
    expect(verified.claims).toEqual(claims);
    const renewed = await new Promise<ChannelCredentials>((resolve) => creds.onRenew(resolve));
    creds.stop();
    expect(renewed.cert).not.toBe(first.cert);
    expect(creds.current()).toBe(renewed);
  });
});
