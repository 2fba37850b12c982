/**
 * The agent's check of a proxy certificate: role, manifest binding and the pin, over
 * real RA-TLS certificates with simulated evidence (explicitly allowed here).
 */
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAttestedCredentials, revocationPolicy, type EvidenceIssuer, type ReferenceValues, type RevocationPolicy, type SimulatedChain } from '../../../src/attestation/index.ts';
import { buildCrl } from '../../../src/attestation/x509-build.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { agentClaims, proxyClaims, raTlsAgentVerifier, raTlsProxyVerifier } from '../../../src/channel/ra-tls-trust.ts';
import { type ManifestSigner, manifestSigner, signManifest } from '../../../src/config/manifest-signature.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { simulatedTrust } from './support/simulated-trust.ts';

let issuer: EvidenceIssuer;
let reference: ReferenceValues;
let chain: SimulatedChain;

beforeAll(async () => {
  ({ issuer, reference, chain } = await simulatedTrust());
}, 60_000);

/** `ok DIGEST`, or the refusal's code (with its detail when `withDetail`). */
async function outcome(claims: Record<string, string>, allowedManifestDigests: string[], revocation?: RevocationPolicy, manifestSigners?: ManifestSigner[], withDetail = false): Promise<string> {
  const { certDer } = await createAttestedCredentials({ issuer, claims });
  const x509 = new X509Certificate(certDer);
  const verify = raTlsProxyVerifier({
    reference,
    allowedManifestDigests,
    allowSimulated: true,
    ...(revocation === undefined ? {} : { revocation }),
    ...(manifestSigners === undefined ? {} : { manifestSigners }),
  });
  return verify({ x509, raw: certDer, fingerprint256: x509.fingerprint256 }).then(
    (r) => `ok ${r.manifestDigest ?? '-'}`,
    (err: unknown) => (isShadowplaneError(err) ? `${err.code}${withDetail && err.detail !== undefined ? `: ${err.detail}` : ''}` : 'other'),
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

describe('the agent\'s check of an owner-signed manifest', () => {
  const mine = 'ab'.repeat(32);
  const owner = generateKeyPairSync('ed25519');
  const signer = manifestSigner(owner.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 2);
  const signed = (digest: string, serial: number) => signManifest({ digestHex: digest, name: 'm' }, owner.privateKey, { serial });

  it('accepts a proxy whose bound manifest the owner signed, pinned digest or not', async () => {
    expect(await outcome(proxyClaims(mine, await signed(mine, 2)), [], undefined, [signer])).toBe(`ok ${mine}`);
    expect(await outcome(proxyClaims(mine, await signed(mine, 2)), ['cd'.repeat(32)], undefined, [signer])).toBe(`ok ${mine}`);
    // A pinned digest needs no signature.
    expect(await outcome(proxyClaims(mine), [mine], undefined, [signer])).toBe(`ok ${mine}`);
  });

  it('refuses an unsigned unpinned manifest, a signature of another manifest, and a serial below the minimum', async () => {
    expect(await outcome(proxyClaims(mine), [], undefined, [signer], true)).toBe('SP_ATTEST_MANIFEST_MISMATCH: the proxy\'s manifest is neither pinned nor signed by an owner key');
    // The signature of another manifest, carried by a proxy bound to this one.
    expect(await outcome(proxyClaims(mine, await signed('ee'.repeat(32), 2)), [], undefined, [signer], true)).toMatch(
      /^SP_ATTEST_MANIFEST_MISMATCH: the manifest signature by owner key [0-9a-f]{16}… is for another manifest$/,
    );
    expect(await outcome(proxyClaims(mine, await signed(mine, 1)), [], undefined, [signer], true)).toMatch(/serial 1 is below the minimum 2/);
  });

  it('trusts a session it admitted on a signature only until the signature expires', async () => {
    const verify = raTlsProxyVerifier({ reference, allowedManifestDigests: [], allowSimulated: true, manifestSigners: [signer] });
    const trust = async (claims: Record<string, string>) => {
      const { certDer } = await createAttestedCredentials({ issuer, claims });
      const x509 = new X509Certificate(certDer);
      return (await verify({ x509, raw: certDer, fingerprint256: x509.fingerprint256 })).notAfterMs!;
    };
    const expiry = new Date(Date.now() + 90_000);
    const soon = await trust(proxyClaims(mine, await signManifest({ digestHex: mine, name: 'm' }, owner.privateKey, { serial: 2, notAfter: expiry })));
    expect(soon).toBe(expiry.getTime());
    // Without an expiry, the evidence's own end (hours away for the simulated chain) bounds it.
    const open = await trust(proxyClaims(mine, await signed(mine, 2)));
    expect(open).toBeGreaterThan(expiry.getTime());
  });
});

describe('the agent\'s own CRLs', () => {
  const mine = 'ab'.repeat(32);
  /** A CRL by the simulated ARK (which, like AMD's, is the only CRL signer of the chain). */
  const arkCrl = (revoked: string[], nextUpdate = new Date(Date.now() + 86_400_000)): Buffer =>
    buildCrl({
      issuer: parseCertificate(chain.ark.der, 'ark').subject,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate,
      revoked: revoked.map((serial) => ({ serial, date: new Date() })),
      signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' },
    });

  it('refuses a proxy whose ASK the agent\'s CRL revokes, though the proxy sends no CRL', async () => {
    const askSerial = parseCertificate(chain.ask.der, 'ask').serial;
    expect(await outcome(proxyClaims(mine), [mine], revocationPolicy({ crls: [arkCrl([askSerial])] }))).toBe('SP_ATTEST_CERT_REVOKED');
    expect(await outcome(proxyClaims(mine), [mine], revocationPolicy({ crls: [arkCrl(['1234'])] }))).toBe(`ok ${mine}`);
  });

  it('with CRLs required, refuses a proxy when the agent holds no current CRL for its chain', async () => {
    expect(await outcome(proxyClaims(mine), [mine], revocationPolicy({ requireCrls: true }))).toBe('SP_ATTEST_REVOCATION_UNKNOWN');
    expect(await outcome(proxyClaims(mine), [mine], revocationPolicy({ crls: [arkCrl([])], requireCrls: true }))).toBe(`ok ${mine}`);
  });
});

describe('the proxy\'s own CRLs, for agents', () => {
  it('refuses an agent whose chain its CRL revokes, and with CRLs required one it holds no CRL for', async () => {
    const { certDer } = await createAttestedCredentials({ issuer, claims: agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }) });
    const x509 = new X509Certificate(certDer);
    const peer = { x509, raw: certDer, fingerprint256: x509.fingerprint256 };
    const crl = buildCrl({
      issuer: parseCertificate(chain.ark.der, 'ark').subject,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + 86_400_000),
      revoked: [{ serial: parseCertificate(chain.ask.der, 'ask').serial, date: new Date() }],
      signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' },
    });
    const codeOf = (revocation: RevocationPolicy): Promise<string> =>
      raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true, revocation })(peer, { namespace: 'ns', pod: 'p' }).then(
        () => 'ok',
        (err: unknown) => (isShadowplaneError(err) ? err.code : 'other'),
      );
    expect(await codeOf(revocationPolicy({ crls: [crl] }))).toBe('SP_ATTEST_CERT_REVOKED');
    expect(await codeOf(revocationPolicy({ requireCrls: true }))).toBe('SP_ATTEST_REVOCATION_UNKNOWN');
    expect(await codeOf(revocationPolicy({}))).toBe('ok');
  });
});
