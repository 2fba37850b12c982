/**
 * The RA-TLS certificate's validity period is bound into the evidence: whoever obtains an
 * RA-TLS private key cannot mint new certificates around the same evidence with another
 * (longer, later) validity, and no certificate may claim a window longer than the maximum.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  RA_TLS_EXTENSION_OID,
  createAttestedCredentials,
  verifyAttestedCertificateSync,
  type ReferenceValues,
  type SimulatedChain,
} from '../../../src/attestation/index.ts';
import { SIMULATED_DEFAULT_MEASUREMENT } from '../../../src/attestation/simulated.ts';
import { basicConstraints, buildCertificate, dn, keyUsage } from '../../../src/attestation/x509-build.ts';
import { canonicalClaimsJson, raTlsReportData } from '../../../src/attestation/binding.ts';
import { octets, seq, uint, utf8 } from '../../../src/attestation/der.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { chainFor, expectCode, simulatedIssuer, simulatedReference } from './support.ts';

const M = SIMULATED_DEFAULT_MEASUREMENT;
const MINUTE = 60_000;
const DAY = 86_400_000;
const YEAR = 365 * DAY;


/** A certificate for `spki`, signed by `key`, valid from `notBefore` to `notAfter`, carrying `ext` as its RA-TLS extension. */
function mint(spki: Buffer, key: KeyObject, notBefore: Date, notAfter: Date, ext: Buffer): Buffer {
  const name = dn([['CN', 'shadowplane']]);
  return buildCertificate({
    issuer: name,
    subject: name,
    notBefore,
    notAfter,
    spki,
    extensions: [basicConstraints(false), keyUsage(['digitalSignature']), { oid: RA_TLS_EXTENSION_OID, value: ext }],
    signWith: { key, alg: 'ecdsa-sha384' },
  });
}

describe('RA-TLS certificate validity is bound into the evidence', () => {
  let chain: SimulatedChain;
  let reference: ReferenceValues;
  beforeAll(async () => {
    chain = await chainFor();
    reference = simulatedReference(chain, M);
  });

  it('accepts the genuine certificate, whose window is whole seconds, and refuses it once it has expired', async () => {
    const creds = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { 'sp.role': 'proxy' } });
    const cert = parseCertificate(creds.certDer, 'ra-tls');
    expect(cert.notAfter.getTime()).toBe(creds.notAfter.getTime());
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeLessThanOrEqual(DAY + 5 * MINUTE);
    expect(verifyAttestedCertificateSync(creds.certDer, { reference, allowSimulated: true }).claims).toEqual({ 'sp.role': 'proxy' });
    await expectCode(() => verifyAttestedCertificateSync(creds.certDer, { reference, allowSimulated: true, now: new Date(Date.now() + 5 * YEAR) }), 'SP_ATTEST_CERT_EXPIRED');
  });

  it('refuses a certificate re-minted with the same key and evidence but another validity (SP_ATTEST_TLS_BINDING)', async () => {
    const creds = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { 'sp.role': 'proxy', 'manifest.sha256': 'ee'.repeat(32) } });
    const original = parseCertificate(creds.certDer, 'ra-tls');
    const ext = original.extensions.get(RA_TLS_EXTENSION_OID)!.value;
    const now = Date.now();

    // The review's proof: valid for 10 years, checked 5 years from now (also longer than any RA-TLS certificate may be).
    const later = new Date(now + 5 * YEAR);
    const tenYears = mint(original.spki, creds.privateKey, new Date(now + 4 * YEAR), new Date(now + 10 * YEAR), ext);
    await expectCode(() => verifyAttestedCertificateSync(tenYears, { reference, allowSimulated: true, now: later }), 'SP_ATTEST_CHAIN_INVALID');
    // The same attack within the maximum: a fresh 1-day certificate five years on, around the same evidence.
    const fiveYearsOn = mint(original.spki, creds.privateKey, new Date(now + 5 * YEAR - 3_600_000), new Date(now + 5 * YEAR + DAY), ext);
    const err = await expectCode(() => verifyAttestedCertificateSync(fiveYearsOn, { reference, allowSimulated: true, now: later }), 'SP_ATTEST_TLS_BINDING');
    expect(err.message).not.toMatch(/20[3-9]\d-/); // no dates the forger chose

    // Subtler: the same notBefore, notAfter one second later; and the same length shifted by a second.
    const oneMore = mint(original.spki, creds.privateKey, original.notBefore, new Date(original.notAfter.getTime() + 1000), ext);
    await expectCode(() => verifyAttestedCertificateSync(oneMore, { reference, allowSimulated: true }), 'SP_ATTEST_TLS_BINDING');
    const shifted = mint(original.spki, creds.privateKey, new Date(original.notBefore.getTime() + 1000), new Date(original.notAfter.getTime() + 1000), ext);
    await expectCode(() => verifyAttestedCertificateSync(shifted, { reference, allowSimulated: true }), 'SP_ATTEST_TLS_BINDING');

    // Re-minting with the very same window is only the genuine certificate again (another signature): accepted.
    const same = mint(original.spki, creds.privateKey, original.notBefore, original.notAfter, ext);
    expect(verifyAttestedCertificateSync(same, { reference, allowSimulated: true }).claims).toEqual({ 'manifest.sha256': 'ee'.repeat(32), 'sp.role': 'proxy' });
  });

  it('issues at most the maximum lifetime (7 days) and refuses longer (SP_CONFIG_INVALID)', async () => {
    const week = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, validity: 7 * DAY });
    expect(verifyAttestedCertificateSync(week.certDer, { reference, allowSimulated: true }).claims).toEqual({});
    await expectCode(() => createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, validity: 7 * DAY + 1000 }), 'SP_CONFIG_INVALID');
    await expectCode(() => createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: {}, validity: 10 * YEAR }), 'SP_CONFIG_INVALID');
  });

  it('refuses a certificate whose evidence binds a window longer than the maximum (SP_ATTEST_CHAIN_INVALID)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const claims = { 'sp.role': 'proxy' };
    const t = Math.floor(Date.now() / 1000) * 1000;
    const make = async (notBefore: Date, notAfter: Date): Promise<Buffer> => {
      const evidence = await simulatedIssuer(chain).issue(raTlsReportData({ spkiDer: spki, claims, notBefore, notAfter }));
      const ext = seq(uint(2), utf8(evidence.platform), octets(evidence.report), seq(...evidence.certificates.map((c) => octets(c))), utf8(canonicalClaimsJson(claims)));
      return mint(spki, privateKey, notBefore, notAfter, ext);
    };
    // Exactly the maximum (7 days plus the 5-minute backdating): accepted.
    const longest = await make(new Date(t - 5 * MINUTE), new Date(t + 7 * DAY));
    expect(verifyAttestedCertificateSync(longest, { reference, allowSimulated: true }).claims).toEqual(claims);
    // One second more, or years: refused even though the evidence binds it.
    await expectCode(async () => verifyAttestedCertificateSync(await make(new Date(t - 5 * MINUTE - 1000), new Date(t + 7 * DAY)), { reference, allowSimulated: true }), 'SP_ATTEST_CHAIN_INVALID');
    const err = await expectCode(async () => verifyAttestedCertificateSync(await make(new Date(t - MINUTE), new Date(t + 10 * YEAR)), { reference, allowSimulated: true }), 'SP_ATTEST_CHAIN_INVALID');
    expect(err.message).toContain('validity period');
  });

  it('refuses the old binding (version 1 extension, report data without the window)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const t = Math.floor(Date.now() / 1000) * 1000;
    const notBefore = new Date(t - MINUTE);
    const notAfter = new Date(t + DAY);
    const evidence = await simulatedIssuer(chain).issue(raTlsReportData({ spkiDer: spki, claims: {}, notBefore, notAfter }));
    const v1 = seq(uint(1), utf8(evidence.platform), octets(evidence.report), seq(...evidence.certificates.map((c) => octets(c))), utf8('{}'));
    const err = await expectCode(() => verifyAttestedCertificateSync(mint(spki, privateKey, notBefore, notAfter, v1), { reference, allowSimulated: true }), 'SP_ATTEST_EVIDENCE_MALFORMED');
    expect(err.message).toContain('unsupported version');
  });
});
