import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  RA_TLS_EXTENSION_OID,
  createAttestedCredentials,
  createVerificationCache,
  revocationPolicy,
  verifyAttestedCertificate,
  verifyAttestedCertificateSync,
  type AttestedCertificateResult,
  type ReferenceValues,
  type SimulatedChain,
} from '../../../src/attestation/index.ts';
import { SIMULATED_DEFAULT_MEASUREMENT } from '../../../src/attestation/simulated.ts';
import { basicConstraints, buildCertificate, dn, keyUsage, type ExtensionSpec } from '../../../src/attestation/x509-build.ts';
import { canonicalClaimsJson, raTlsReportData } from '../../../src/attestation/binding.ts';
import { derNull, octets, seq, uint, utf8 } from '../../../src/attestation/der.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { chainFor, expectCode, simulatedIssuer, simulatedReference } from './support.ts';

const M = SIMULATED_DEFAULT_MEASUREMENT;


/** A self-signed certificate for a fresh key that carries `extValue` as its RA-TLS extension. */
function certWithForeignExtension(extValue: Buffer): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const name = dn([['CN', 'thief']]);
  return buildCertificate({
    issuer: name,
    subject: name,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    extensions: [basicConstraints(false), { oid: RA_TLS_EXTENSION_OID, value: extValue }],
    signWith: { key: privateKey, alg: 'ecdsa-sha384' },
  });
}

describe('RA-TLS certificates', () => {
  let chain: SimulatedChain;
  let reference: ReferenceValues;
  beforeAll(async () => {
    chain = await chainFor();
    reference = simulatedReference(chain, M);
  });

  it('round-trips: the verifier recovers the claims and the verified evidence', async () => {
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { role: 'agent', pod: 'payments/api-0' }, subjectAltNames: ['10.0.0.7', 'agent.local', '::1'] });
    expect(cred.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(cred.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const res = await verifyAttestedCertificate(cred.certDer, { reference, allowSimulated: true });
    expect(res.claims).toEqual({ pod: 'payments/api-0', role: 'agent' });
    expect(res.evidence.measurement).toBe(M);
    expect(res.certSha256).toBe(cred.certSha256);
    const cert = parseCertificate(cred.certDer, 'ra-tls');
    expect(cert.extensions.get(RA_TLS_EXTENSION_OID)?.critical).toBe(false);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });

  it('supports P-256 keys', async () => {
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, curve: 'P-256' });
    expect((await verifyAttestedCertificate(cred.certDer, { reference, allowSimulated: true })).claims).toEqual({});
  });

  it('refuses a certificate whose attestation extension belongs to another key (SP_ATTEST_TLS_BINDING)', async () => {
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { role: 'agent' } });
    const stolen = parseCertificate(cred.certDer, 'ra-tls').extensions.get(RA_TLS_EXTENSION_OID)!.value;
    await expectCode(() => verifyAttestedCertificateSync(certWithForeignExtension(stolen), { reference, allowSimulated: true }), 'SP_ATTEST_TLS_BINDING');
  });

  it('refuses claims edited after the evidence was made (SP_ATTEST_TLS_BINDING)', async () => {
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { role: 'agent' } });
    const ext = parseCertificate(cred.certDer, 'ra-tls').extensions.get(RA_TLS_EXTENSION_OID)!.value;
    const edited = Buffer.from(ext.toString('latin1').replace('{"role":"agent"}', '{"role":"proxy"}'), 'latin1');
    expect(edited.equals(ext)).toBe(false);
    await expectCode(() => verifyAttestedCertificateSync(certWithForeignExtension(edited), { reference, allowSimulated: true }), 'SP_ATTEST_TLS_BINDING');
  });

  it('refuses a certificate without the extension, an expired one, and a tampered signature', async () => {
    const plain = certWithForeignExtension(Buffer.from([0x30, 0]));
    await expectCode(() => verifyAttestedCertificateSync(plain, { reference, allowSimulated: true }), 'SP_ATTEST_EVIDENCE_MALFORMED');
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, validity: 60_000 });
    await expectCode(() => verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, now: new Date(Date.now() + 3_600_000) }), 'SP_ATTEST_CERT_EXPIRED');
    const bad = Buffer.from(cred.certDer);
    bad[bad.length - 5]! ^= 1;
    await expectCode(() => verifyAttestedCertificateSync(bad, { reference, allowSimulated: true }), 'SP_ATTEST_CHAIN_INVALID');
  });

  it('refuses evidence from a measurement the reference values do not list, and simulated evidence when not allowed', async () => {
    const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain, '00'.repeat(48)), claims: {} });
    await expectCode(() => verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true }), 'SP_ATTEST_MEASUREMENT_MISMATCH');
    await expectCode(() => verifyAttestedCertificateSync(cred.certDer, { reference }), 'SP_ATTEST_SIMULATED_REFUSED');
  });

  describe('X.509 rules on the RA-TLS certificate itself', () => {
    /** An RA-TLS certificate made the way createAttestedCredentials makes it, with other extensions. */
    async function raTlsWith(extensions: ExtensionSpec[]): Promise<Buffer> {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const claims = { role: 'agent' };
      const t = Math.floor(Date.now() / 1000) * 1000;
      const notBefore = new Date(t - 60_000);
      const notAfter = new Date(t + 3_600_000);
      const evidence = await simulatedIssuer(chain).issue(raTlsReportData({ spkiDer: spki, claims, notBefore, notAfter }));
      const ext = seq(uint(2), utf8(evidence.platform), octets(evidence.report), seq(...evidence.certificates.map((c) => octets(c))), utf8(canonicalClaimsJson(claims)));
      const name = dn([['CN', 'shadowplane RA-TLS']]);
      return buildCertificate({
        issuer: name,
        subject: name,
        notBefore,
        notAfter,
        spki,
        extensions: [...extensions, { oid: RA_TLS_EXTENSION_OID, value: ext }],
        signWith: { key: privateKey, alg: 'ecdsa-sha384' },
      });
    }

    it('refuses an otherwise valid RA-TLS certificate that carries an unknown critical extension', async () => {
      const base = [basicConstraints(false), keyUsage(['digitalSignature'])];
      expect((await verifyAttestedCertificate(await raTlsWith(base), { reference, allowSimulated: true })).claims).toEqual({ role: 'agent' });
      const withCritical = await raTlsWith([...base, { oid: '1.3.6.1.4.1.55555.9', critical: true, value: derNull() }]);
      const err = await expectCode(() => verifyAttestedCertificateSync(withCritical, { reference, allowSimulated: true }), 'SP_ATTEST_CHAIN_INVALID');
      expect(err.message).toContain('critical extension 1.3.6.1.4.1.55555.9');
    });

    it('refuses an RA-TLS certificate whose keyUsage does not let its key sign', async () => {
      await expectCode(async () => verifyAttestedCertificateSync(await raTlsWith([keyUsage(['keyCertSign'])]), { reference, allowSimulated: true }), 'SP_ATTEST_CHAIN_INVALID');
    });
  });

  it('refuses garbage and oversized input without crashing', async () => {
    await expectCode(() => verifyAttestedCertificateSync(Buffer.from('not a certificate'), { reference }), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => verifyAttestedCertificateSync(Buffer.alloc(300 * 1024), { reference }), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });

  describe('verification cache', () => {
    it('returns the cached result for the same certificate, reference values and allowance', async () => {
      const cache = createVerificationCache<AttestedCertificateResult>();
      const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { a: 'b' } });
      const first = verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache });
      const second = verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache });
      expect(second).toBe(first);
      expect(cache.size).toBe(1);
      // A different reference-values document is a different question: not answered from the cache.
      const other = simulatedReference(chain, M, { hostData: ['00'.repeat(32), '01'.repeat(32)] });
      expect(verifyAttestedCertificateSync(cred.certDer, { reference: other, allowSimulated: true, cache })).not.toBe(first);
      expect(cache.size).toBe(2);
      // So is a different revocation policy: a success without CRLs never answers a caller that has some.
      expect(verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache, revocation: revocationPolicy({}) })).not.toBe(first);
      expect(cache.size).toBe(3);
      await expectCode(() => verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache, revocation: revocationPolicy({ requireCrls: true }) }), 'SP_ATTEST_REVOCATION_UNKNOWN');
      // The allowance is part of the key too: a cached simulated success never answers a strict caller.
      await expectCode(() => verifyAttestedCertificateSync(cred.certDer, { reference, cache }), 'SP_ATTEST_SIMULATED_REFUSED');
    });

    it('expires entries at the TTL and never past the certificate notAfter', async () => {
      const cred = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, validity: 120_000 });
      const t0 = Date.now();
      const cache = createVerificationCache<AttestedCertificateResult>({ ttlMs: 3_600_000 });
      const first = verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache, now: new Date(t0) });
      expect(verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache, now: new Date(t0 + 60_000) })).toBe(first);
      // Past notAfter the cache does not answer, and the fresh check refuses the certificate.
      await expectCode(
        () => verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache, now: new Date(t0 + 180_000) }),
        'SP_ATTEST_CERT_EXPIRED',
      );
      const short = createVerificationCache<AttestedCertificateResult>({ ttlMs: 1000 });
      const a = verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache: short, now: new Date(t0) });
      expect(verifyAttestedCertificateSync(cred.certDer, { reference, allowSimulated: true, cache: short, now: new Date(t0 + 2000) })).not.toBe(a);
    });

    it('holds at most maxEntries, evicting the least recently used', () => {
      const cache = createVerificationCache<number>({ maxEntries: 2, ttlMs: 10_000 });
      cache.set('a', 1, 0, 10_000);
      cache.set('b', 2, 0, 10_000);
      expect(cache.get('a', 1)).toBe(1); // a is now the most recent
      cache.set('c', 3, 0, 10_000);
      expect(cache.size).toBe(2);
      expect(cache.get('b', 1)).toBeUndefined();
      expect(cache.get('a', 1)).toBe(1);
      expect(cache.get('c', 1)).toBe(3);
      cache.set('d', 4, 0, 0); // already expired: not stored
      expect(cache.get('d', 0)).toBeUndefined();
    });
  });
});
