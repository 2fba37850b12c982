/**
 * Each side of the channel checks the other's evidence once, at the handshake; a session
 * must not outlive it. Here the proxy's certificate lives 3 s: the agent then closes the
 * session to new streams (GOAWAY), the proxy marks it unusable, and the next operation
 * dials and verifies again. Real TLS over loopback, simulated evidence (allowed here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttestedCredentials, revocationPolicy, type EvidenceIssuer, type ReferenceValues, type SimulatedChain } from '../../../src/attestation/index.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { buildCrl } from '../../../src/attestation/x509-build.ts';
import { AgentListener } from '../../../src/channel/agent-listener.ts';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import { agentClaims, proxyClaims, raTlsAgentVerifier, raTlsProxyVerifier } from '../../../src/channel/ra-tls-trust.ts';
import { silentLogger } from '../../../src/log.ts';
import { simulatedTrust } from './support/simulated-trust.ts';

let issuer: EvidenceIssuer;
let chain: SimulatedChain;
let reference: ReferenceValues;
let listener: AgentListener;
let port: number;
let verifiedProxies = 0;

beforeAll(async () => {
  ({ issuer, reference, chain } = await simulatedTrust());
  const agentCreds = await createAttestedCredentials({ issuer, claims: agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }), validity: 600_000 });
  const verifyProxy = raTlsProxyVerifier({ reference, allowedManifestDigests: [], allowSimulated: true });
  listener = new AgentListener({
    credentials: { key: agentCreds.keyPem, cert: agentCreds.certPem },
    verifyProxy: (peer) => {
      verifiedProxies++;
      return verifyProxy(peer);
    },
    serve: (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ namespace: 'ns', pod: 'p', containers: [{ name: 'c', attachStdin: false }] }));
    },
    logger: silentLogger(),
    maxConcurrentStreams: 100,
  });
  port = (await listener.listen('127.0.0.1', 0)).port;
}, 60_000);

afterAll(async () => {
  await listener?.close(100);
});

describe('a channel session and the evidence it was checked with', () => {
  it('ends for new operations when the proxy\'s certificate does, and the next operation is verified again', async () => {
    let proxyCreds = await createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)), validity: 3000 });
    const pool = new AgentPool({
      credentials: () => ({ key: proxyCreds.keyPem, cert: proxyCreds.certPem }),
      verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true }),
      logger: silentLogger(),
    });
    const target = { address: '127.0.0.1', port, identity: { namespace: 'ns', pod: 'p' } };
    const first = await pool.connect(target);
    expect((await first.info()).pod).toBe('p');
    expect(verifiedProxies).toBe(1);
    // The proxy renews its certificate, as it does at half its life; the old session lives on until the old one ends.
    proxyCreds = await createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)), validity: 600_000 });
    const ends = Date.now() + 4000;
    while (first.usable && Date.now() < ends) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(first.usable).toBe(false);
    const second = await pool.connect(target);
    expect(second).not.toBe(first);
    expect((await second.info()).pod).toBe('p');
    expect(verifiedProxies).toBe(2);
    pool.close();
  }, 30_000);

  // Bug (review of 0fa261b): a session ended only with the peer's certificate (or after
  // 1 h), so with CRLs required it took new work for up to an hour after the CRL it was
  // verified with was due, when a fresh verification already refused the same certificate.
  it('ends for new operations when a CRL the proxy was verified with is due, though the certificate lives on', async () => {
    const nextUpdate = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000);
    const crl = buildCrl({ issuer: parseCertificate(chain.ark.der, 'ark').subject, thisUpdate: new Date(Date.now() - 60_000), nextUpdate, revoked: [], signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' } });
    const agentCreds = await createAttestedCredentials({ issuer, claims: agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }), validity: 600_000 });
    const strict = new AgentListener({
      credentials: { key: agentCreds.keyPem, cert: agentCreds.certPem },
      verifyProxy: raTlsProxyVerifier({ reference, allowedManifestDigests: [], allowSimulated: true, revocation: revocationPolicy({ crls: [crl], requireCrls: true }) }),
      serve: (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ namespace: 'ns', pod: 'p', containers: [{ name: 'c', attachStdin: false }] }));
      },
      logger: silentLogger(),
      maxConcurrentStreams: 100,
    });
    const strictPort = (await strict.listen('127.0.0.1', 0)).port;
    const proxyCreds = await createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)), validity: 600_000 });
    const pool = new AgentPool({
      credentials: () => ({ key: proxyCreds.keyPem, cert: proxyCreds.certPem }),
      verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true }),
      logger: silentLogger(),
    });
    try {
      const session = await pool.connect({ address: '127.0.0.1', port: strictPort, identity: { namespace: 'ns', pod: 'p' } });
      expect((await session.info()).pod).toBe('p');
      const ends = nextUpdate.getTime() + 3000;
      while (session.usable && Date.now() < ends) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(session.usable).toBe(false);
      expect(Date.now()).toBeGreaterThanOrEqual(nextUpdate.getTime());
      // Verified again, the proxy is refused: the CRL is no longer current.
      await expect(pool.connect({ address: '127.0.0.1', port: strictPort, identity: { namespace: 'ns', pod: 'p' } }).then((s) => s.info())).rejects.toThrow();
    } finally {
      pool.close();
      await strict.close(100);
    }
  }, 30_000);
});
