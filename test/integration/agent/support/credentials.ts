/**
 * Test credentials for the channel: self-signed ECDSA certificates (no evidence), and
 * verifiers that accept exactly the fingerprints a test names. They stand in for RA-TLS
 * credentials and attestation verifiers where a test is about the channel itself.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { ShadowplaneError } from '../../../../src/errors.ts';
import type { AgentIdentity, AgentVerifier, ChannelCredentials, ProxyVerifier } from '../../../../src/channel/trust.ts';

x509.cryptoProvider.set(webcrypto);

export interface TestCredentials extends ChannelCredentials {
  readonly key: string;
  readonly cert: string;
  readonly fingerprint256: string;
}

export async function makeCredentials(commonName: string): Promise<TestCredentials> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: alg,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  const certPem = cert.toString('pem');
  return { key, cert: certPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
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
