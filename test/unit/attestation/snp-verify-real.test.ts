/**
 * The real Milan evidence from the shared test data. Its guest policy has DEBUG set, so
 * the best a correct verifier can do is check the chain to the shipped AMD root and the
 * report signature, and then refuse it for DEBUG. These tests show both halves.
 */
import { describe, expect, it } from 'vitest';
import { verifyEvidence, parseReferenceValues } from '../../../src/attestation/index.ts';
import { verifySnpCrypto } from '../../../src/attestation/snp/verify.ts';
import { pemToDer } from '../../../src/attestation/x509.ts';
import type { Evidence } from '../../../src/attestation/types.ts';
import { expectCode, fixture, MILAN, chainFor } from './support.ts';

const report = fixture('sev-snp/milan-report.bin');
const vcek = fixture('sev-snp/milan-vcek.der');
const [ask, ark] = pemToDer(fixture('sev-snp/ask_ark_milan.pem').toString('latin1'));
const evidence: Evidence = { platform: 'sev-snp', report, certificates: [vcek, ask!, ark!] };
// The sample's HOST_DATA is zero (no pod policy was bound), hence the explicit opt-out.
const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [MILAN.measurement], minimumTcb: MILAN.tcb, unboundIdentity: true }] }, 'test');
const crypto = (e: Evidence, now = MILAN.now) => verifySnpCrypto(e, { now, crls: [], simulatedRoots: [] });

describe('real Milan SEV-SNP evidence', () => {
  it('chains VCEK → ASK → ARK to the shipped Milan root and carries a valid report signature', () => {
    const c = crypto(evidence);
    expect(c.product).toBe('Milan');
    expect(c.signingKey).toBe('vcek');
    expect(c.reportedTcb).toEqual({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(c.hwId?.toString('hex')).toBe(MILAN.chipId);
    expect(c.chainNotAfter.toISOString()).toBe('2029-09-24T00:55:28.000Z');
  });

  it('completes the chain from the shipped roots when the evidence carries only the VCEK', () => {
    expect(crypto({ ...evidence, certificates: [vcek] }).product).toBe('Milan');
  });

  it('refuses the real report because its guest policy allows debugging, after every cryptographic check passed', async () => {
    const err = await expectCode(() => verifyEvidence(evidence, { reportData: MILAN.reportData, reference, now: MILAN.now }), 'SP_ATTEST_DEBUG_ENABLED');
    expect(err.message).toContain('0x00000000000b0000');
  });

  it('refuses it as stale when the expected report data differs (checked before policy)', async () => {
    await expectCode(() => verifyEvidence(evidence, { reportData: Buffer.alloc(64, 7), reference, now: MILAN.now }), 'SP_ATTEST_REPORT_DATA_MISMATCH');
  });

  it('fails with SP_ATTEST_SIGNATURE_INVALID when any byte of the report is flipped', () => {
    const codes = new Map<string, number>();
    for (let i = 0; i < report.length; i++) {
      const bad = Buffer.from(report);
      bad[i]! ^= 0x01;
      try {
        crypto({ ...evidence, report: bad });
        codes.set('accepted', (codes.get('accepted') ?? 0) + 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'thrown';
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(codes)).toEqual({ SP_ATTEST_SIGNATURE_INVALID: report.length });
  });

  it('refuses the VCEK outside its validity period', async () => {
    await expectCode(() => crypto(evidence, new Date('2030-01-01T00:00:00Z')), 'SP_ATTEST_CERT_EXPIRED');
    await expectCode(() => crypto(evidence, new Date('2022-01-01T00:00:00Z')), 'SP_ATTEST_CERT_EXPIRED');
  });

  it('refuses a VCEK that is not signed by the ASK it names', async () => {
    const bad = Buffer.from(vcek);
    bad[bad.length - 10]! ^= 0x40; // inside the ASK's signature over the VCEK
    await expectCode(() => crypto({ ...evidence, certificates: [bad] }), 'SP_ATTEST_CHAIN_INVALID');
  });

  it("refuses evidence that carries a certificate outside its chain (another product's ASK)", async () => {
    const [gAsk] = pemToDer(fixture('sev-snp/ask_ark_genoa.pem').toString('latin1'));
    const err = await expectCode(() => crypto({ ...evidence, certificates: [vcek, gAsk!] }), 'SP_ATTEST_CHAIN_INVALID');
    expect(err.message).toContain('not part of the verified chain');
  });

  it('refuses a report signed by a key whose chain ends at a root that is not AMD', async () => {
    const sim = await chainFor();
    await expectCode(() => crypto({ ...evidence, certificates: [sim.vcek.der, sim.ask.der, sim.ark.der] }), 'SP_ATTEST_ROOT_UNTRUSTED');
  });

  it('refuses evidence without any endorsement key certificate', async () => {
    await expectCode(() => crypto({ ...evidence, certificates: [] }), 'SP_ATTEST_CHAIN_INVALID');
  });
});
