/**
 * Simulated evidence runs the same verifier as real SEV-SNP evidence; these tests use it
 * to show every claim check and its precise error code, which the real (debug-enabled)
 * Milan report cannot.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createSimulatedIssuer,
  loadReferenceValues,
  parseReferenceValues,
  signSimulatedReport,
  simulateInit,
  verifyEvidence,
  type Evidence,
  type SimulatedChain,
  type SnpTcb,
} from '../../../src/attestation/index.ts';
import { buildCrl, dn } from '../../../src/attestation/x509-build.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { createLogger } from '../../../src/log.ts';
import { chainFor, expectCode, simulatedReference } from './support.ts';

const M = SIMULATED_DEFAULT_MEASUREMENT;
const RD = Buffer.alloc(64, 0xab);

function evidenceFrom(chain: SimulatedChain, over: Partial<Parameters<typeof signSimulatedReport>[0]> = {}, certs?: Buffer[]): Evidence {
  const report = signSimulatedReport(
    { product: chain.product, reportData: RD, measurement: Buffer.from(M, 'hex'), tcb: chain.tcb, chipId: chain.hwId, signingKey: chain.signingKey, ...over },
    chain.vcek.key,
  );
  return { platform: 'simulated', report, certificates: certs ?? [chain.vcek.der, chain.ask.der, chain.ark.der] };
}

describe('simulate init and the simulated issuer', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-sim-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an RSA-4096 AMD-shaped chain, a private VCEK key and sample reference values that accept its evidence', async () => {
    const init = await simulateInit(dir);
    const ark = parseCertificate(Buffer.from(readFileSync(join(dir, 'ark.pem'), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'), 'ark');
    expect(ark.publicKey.asymmetricKeyDetails?.modulusLength).toBe(4096);
    expect(ark.signatureAlgorithm).toEqual({ kind: 'rsa-pss', hash: 'sha384', saltLength: 48 });
    expect(ark.sha256).toBe(init.arkSha256);
    expect(ark.subjectName).toBe('ARK-Simulated-Milan');
    expect(statSync(join(dir, 'vcek-key.pem')).mode & 0o077).toBe(0);

    const reference = loadReferenceValues(init.referenceValuesPath);
    const issuer = createSimulatedIssuer({ dir, measurement: M });
    const evidence = await issuer.issue(RD);
    expect(evidence.report.length).toBe(1184);
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
    const v = await verifyEvidence(evidence, { reportData: RD, reference, allowSimulated: true, logger });
    expect(v).toMatchObject({ platform: 'simulated', simulated: true, reportVersion: 2, measurement: M, referenceName: 'simulated', policy: '0x0000000000030000' });
    expect(v.snp?.rootSha256).toBe(init.arkSha256);
    expect(lines.join('')).toContain('SIMULATED');
  });

  it('refuses simulated evidence unless allowSimulated is set', async () => {
    const reference = loadReferenceValues(join(dir, 'reference-values.yaml'));
    const evidence = await createSimulatedIssuer({ dir, measurement: M }).issue(RD);
    await expectCode(() => verifyEvidence(evidence, { reportData: RD, reference }), 'SP_ATTEST_SIMULATED_REFUSED');
    await expectCode(() => verifyEvidence(evidence, { reportData: RD, reference, allowSimulated: false }), 'SP_ATTEST_SIMULATED_REFUSED');
  });

  it('refuses simulated evidence relabelled as sev-snp: its ARK is not an AMD root', async () => {
    const evidence = await createSimulatedIssuer({ dir, measurement: M }).issue(RD);
    const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M] }] }, 'test');
    await expectCode(() => verifyEvidence({ ...evidence, platform: 'sev-snp' }, { reportData: RD, reference }), 'SP_ATTEST_ROOT_UNTRUSTED');
  });

  it('refuses a directory that simulate init did not write', async () => {
    await expectCode(() => createSimulatedIssuer({ dir: join(dir, 'missing'), measurement: M }), 'SP_ATTEST_UNAVAILABLE');
  });

  it('refuses report data that is not 64 bytes', async () => {
    await expectCode(() => createSimulatedIssuer({ dir, measurement: M }).issue(Buffer.alloc(32)), 'SP_INTERNAL');
  });
});

describe('verification of SNP-shaped evidence', () => {
  let chain: SimulatedChain;
  beforeAll(async () => {
    chain = await chainFor();
  });
  const verify = (e: Evidence, extra: Record<string, unknown> = {}, reportData = RD) =>
    verifyEvidence(e, { reportData, reference: simulatedReference(chain, M, extra), allowSimulated: true });

  it('accepts evidence that matches every reference value', async () => {
    const v = await verify(evidenceFrom(chain), { hostData: ['00'.repeat(32)], chipIds: [chain.hwId.toString('hex')], vmpl: 0, minimumTcb: chain.tcb });
    expect(v.chipId).toBe(chain.hwId.toString('hex'));
    expect(v.tcb).toEqual(chain.tcb);
    expect(v.snp?.signingKey).toBe('vcek');
  });

  it('only trusts the pinned simulated ARK, not whichever root the evidence carries', async () => {
    const other = await chainFor({ product: 'Genoa' });
    const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [M] }] }, 'test');
    await expectCode(() => verifyEvidence(evidenceFrom(other), { reportData: RD, reference, allowSimulated: true }), 'SP_ATTEST_ROOT_UNTRUSTED');
  });

  it('gives SP_ATTEST_MEASUREMENT_MISMATCH with the measurement and the count of reference measurements', async () => {
    const err = await expectCode(() => verify(evidenceFrom(chain, { measurement: Buffer.alloc(48, 0xb0) })), 'SP_ATTEST_MEASUREMENT_MISMATCH');
    expect(err.message).toContain('measurement b0b0b0b0… is not one of the 1 reference measurement');
  });

  it('gives SP_ATTEST_HOST_DATA_MISMATCH when host data is pinned and differs', async () => {
    await expectCode(() => verify(evidenceFrom(chain, { hostData: Buffer.alloc(32, 1) }), { hostData: ['00'.repeat(32)] }), 'SP_ATTEST_HOST_DATA_MISMATCH');
  });

  it('gives SP_ATTEST_REPORT_DATA_MISMATCH when the report does not carry the expected binding', async () => {
    await expectCode(() => verify(evidenceFrom(chain), {}, Buffer.alloc(64, 0xac)), 'SP_ATTEST_REPORT_DATA_MISMATCH');
  });

  it('gives SP_ATTEST_DEBUG_ENABLED whenever the guest policy allows debugging, whatever the reference values say', async () => {
    await expectCode(() => verify(evidenceFrom(chain, { policy: 0x30000n | (1n << 19n) })), 'SP_ATTEST_DEBUG_ENABLED');
    await expectCode(
      () => verify(evidenceFrom(chain, { policy: 0x30000n | (1n << 19n) }), { policy: { migrationAgent: true } }),
      'SP_ATTEST_DEBUG_ENABLED',
    );
  });

  it('gives SP_ATTEST_POLICY_MISMATCH for a migration agent, SMT or socket policy the reference values do not accept', async () => {
    await expectCode(() => verify(evidenceFrom(chain, { policy: 0x30000n | (1n << 18n) })), 'SP_ATTEST_POLICY_MISMATCH');
    expect((await verify(evidenceFrom(chain, { policy: 0x30000n | (1n << 18n) }), { policy: { migrationAgent: true } })).policy).toBe('0x0000000000070000');
    await expectCode(() => verify(evidenceFrom(chain), { policy: { smt: false } }), 'SP_ATTEST_POLICY_MISMATCH');
    expect((await verify(evidenceFrom(chain, { policy: 0x20000n }), { policy: { smt: false } })).snp?.policy.smt).toBe(false);
    await expectCode(() => verify(evidenceFrom(chain), { policy: { singleSocket: true } }), 'SP_ATTEST_POLICY_MISMATCH');
    await expectCode(() => verify(evidenceFrom(chain, { vmpl: 2 }), { vmpl: 0 }), 'SP_ATTEST_POLICY_MISMATCH');
  });

  it('gives SP_ATTEST_TCB_TOO_LOW when any reported TCB component is below the minimum', async () => {
    const min: SnpTcb = { ...chain.tcb, snp: chain.tcb.snp + 1 };
    const err = await expectCode(() => verify(evidenceFrom(chain), { minimumTcb: min }), 'SP_ATTEST_TCB_TOO_LOW');
    expect(err.message).toContain('(snp)');
  });

  it('gives SP_ATTEST_TCB_MISMATCH when the report claims a TCB the VCEK was not issued for', async () => {
    await expectCode(() => verify(evidenceFrom(chain, { tcb: { ...chain.tcb, microcode: chain.tcb.microcode + 1 } })), 'SP_ATTEST_TCB_MISMATCH');
  });

  it("gives SP_ATTEST_CHIP_ID_MISMATCH when the report's chip ID is not the VCEK's hwID, or not a pinned chip", async () => {
    await expectCode(() => verify(evidenceFrom(chain, { chipId: Buffer.alloc(64, 9) })), 'SP_ATTEST_CHIP_ID_MISMATCH');
    await expectCode(() => verify(evidenceFrom(chain), { chipIds: ['11'.repeat(64)] }), 'SP_ATTEST_CHIP_ID_MISMATCH');
  });

  it('gives SP_ATTEST_PLATFORM_UNSUPPORTED for a report version it does not know, and accepts versions 2 to 5', async () => {
    for (const version of [2, 3, 4, 5]) expect((await verify(evidenceFrom(chain, { version }))).reportVersion).toBe(version);
    expect((await verify(evidenceFrom(chain, { version: 3 }))).snp?.cpuid).toEqual({ family: 0x19, model: 1, stepping: 1 });
    expect((await verify(evidenceFrom(chain, { version: 5 }))).snp?.launchMitVector).toBe('0x0000000000000000');
    await expectCode(() => verify(evidenceFrom(chain, { version: 6 })), 'SP_ATTEST_PLATFORM_UNSUPPORTED');
  });

  it('refuses a product line the reference values do not list', async () => {
    await expectCode(() => verify(evidenceFrom(chain), { products: ['Genoa'] }), 'SP_ATTEST_PLATFORM_UNSUPPORTED');
  });

  it('names the closest entry when several entries all refuse', async () => {
    const reference = parseReferenceValues(
      {
        version: 1,
        entries: [
          { name: 'old-image', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: ['00'.repeat(48)] },
          { name: 'new-image', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [M], hostData: ['22'.repeat(32)] },
        ],
      },
      'test',
    );
    const err = await expectCode(() => verifyEvidence(evidenceFrom(chain), { reportData: RD, reference, allowSimulated: true }), 'SP_ATTEST_HOST_DATA_MISMATCH');
    expect(err.message).toContain("'new-image'");
  });

  it('accepts through the second of several entries', async () => {
    const reference = parseReferenceValues(
      [
        { name: 'a', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: ['00'.repeat(48)] },
        { name: 'b', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [M] },
      ],
      'test',
    );
    expect((await verifyEvidence(evidenceFrom(chain), { reportData: RD, reference, allowSimulated: true })).referenceName).toBe('b');
  });

  it('refuses evidence of a platform the reference values do not list', async () => {
    const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M] }] }, 'test');
    await expectCode(() => verifyEvidence(evidenceFrom(chain), { reportData: RD, reference, allowSimulated: true }), 'SP_ATTEST_PLATFORM_UNSUPPORTED');
  });

  it('refuses a VCEK outside its validity with SP_ATTEST_CERT_EXPIRED', async () => {
    const e = evidenceFrom(chain);
    const later = new Date(Date.now() + 8 * 365 * 86_400_000);
    await expectCode(() => verifyEvidence(e, { reportData: RD, reference: simulatedReference(chain, M), allowSimulated: true, now: later }), 'SP_ATTEST_CERT_EXPIRED');
  });

  it('refuses a chain whose ASK is missing', async () => {
    await expectCode(() => verify(evidenceFrom(chain, {}, [chain.vcek.der, chain.ark.der])), 'SP_ATTEST_CHAIN_INVALID');
  });

  it('refuses a report whose signer field disagrees with the certificate type', async () => {
    await expectCode(() => verify(evidenceFrom(chain, { signingKey: 'vlek' })), 'SP_ATTEST_CHAIN_INVALID');
  });

  describe('revocation', () => {
    const crlOf = (c: SimulatedChain, revoked: string[], thisUpdate = new Date(Date.now() - 3_600_000), nextUpdate = new Date(Date.now() + 86_400_000)) =>
      buildCrl({ issuer: parseCertificate(c.ask.der, 'ask').subject, thisUpdate, nextUpdate, revoked: revoked.map((serial) => ({ serial, date: thisUpdate })), signWith: { key: c.ask.key, alg: 'rsa-pss-sha384' } });

    it('gives SP_ATTEST_CERT_REVOKED when a supplied CRL revokes the VCEK', async () => {
      const serial = parseCertificate(chain.vcek.der, 'vcek').serial;
      const crl = crlOf(chain, [serial]);
      await expectCode(
        () => verifyEvidence(evidenceFrom(chain), { reportData: RD, reference: simulatedReference(chain, M), allowSimulated: true, crls: [crl] }),
        'SP_ATTEST_CERT_REVOKED',
      );
      const inCollateral = { ...evidenceFrom(chain), collateral: { crls: [crl] } };
      await expectCode(() => verify(inCollateral), 'SP_ATTEST_CERT_REVOKED');
    });

    it('accepts when the CRL lists other serials only', async () => {
      const crl = crlOf(chain, ['1234']);
      expect((await verifyEvidence(evidenceFrom(chain), { reportData: RD, reference: simulatedReference(chain, M), allowSimulated: true, crls: [crl] })).simulated).toBe(true);
    });

    it('refuses a stale CRL and a CRL that is not signed by the issuer it names', async () => {
      const stale = crlOf(chain, [], new Date(Date.now() - 10 * 86_400_000), new Date(Date.now() - 86_400_000));
      await expectCode(() => verify({ ...evidenceFrom(chain), collateral: { crls: [stale] } }), 'SP_ATTEST_COLLATERAL_INVALID');
      const other = await chainFor({ product: 'Genoa' });
      const forged = buildCrl({
        issuer: parseCertificate(chain.ask.der, 'ask').subject,
        thisUpdate: new Date(Date.now() - 1000),
        nextUpdate: new Date(Date.now() + 86_400_000),
        revoked: [],
        signWith: { key: other.ask.key, alg: 'rsa-pss-sha384' },
      });
      await expectCode(() => verify({ ...evidenceFrom(chain), collateral: { crls: [forged] } }), 'SP_ATTEST_COLLATERAL_INVALID');
    });

    it('ignores a CRL of an unrelated issuer', async () => {
      const unrelated = buildCrl({ issuer: dn([['CN', 'someone else']]), thisUpdate: new Date(0), nextUpdate: new Date(1000), revoked: [], signWith: { key: chain.ask.key, alg: 'rsa-pss-sha384' } });
      expect((await verify({ ...evidenceFrom(chain), collateral: { crls: [unrelated] } })).simulated).toBe(true);
    });
  });

  describe('other shapes', () => {
    it('verifies a Turin-shaped chain: FMC SPL, 8-byte hwID', async () => {
      const turin = await chainFor({ product: 'Turin', tcb: { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 } });
      const chipId = Buffer.concat([turin.hwId, Buffer.alloc(56)]);
      const v = await verifyEvidence(evidenceFrom(turin, { chipId }), { reportData: RD, reference: simulatedReference(turin, M, { chipIds: [turin.hwId.toString('hex')] }), allowSimulated: true });
      expect(v.snp?.product).toBe('Turin');
      expect(v.chipId).toBe(turin.hwId.toString('hex'));
      expect(v.tcb).toEqual({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 });
      await expectCode(
        () => verifyEvidence(evidenceFrom(turin, { chipId }), { reportData: RD, reference: simulatedReference(turin, M, { minimumTcb: { fmc: 2 } }), allowSimulated: true }),
        'SP_ATTEST_TCB_TOO_LOW',
      );
    });

    it('verifies a VLEK-shaped chain, which carries no chip identity', async () => {
      const vlek = await chainFor({ signingKey: 'vlek' });
      const v = await verifyEvidence(evidenceFrom(vlek, { chipId: Buffer.alloc(64) }), { reportData: RD, reference: simulatedReference(vlek, M), allowSimulated: true });
      expect(v.snp?.signingKey).toBe('vlek');
      expect(v.chipId).toBeUndefined();
      await expectCode(
        () => verifyEvidence(evidenceFrom(vlek), { reportData: RD, reference: simulatedReference(vlek, M, { chipIds: ['11'.repeat(64)] }), allowSimulated: true }),
        'SP_ATTEST_CHIP_ID_MISMATCH',
      );
      await expectCode(
        () => verifyEvidence(evidenceFrom(vlek), { reportData: RD, reference: simulatedReference(vlek, M, { signingKeys: ['vcek'] }), allowSimulated: true }),
        'SP_ATTEST_POLICY_MISMATCH',
      );
    });
  });
});
