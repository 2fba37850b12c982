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
  SIMULATED_DEFAULT_TCB,
  createSimulatedIssuer,
  loadReferenceValues,
  parseReferenceValues,
  signSimulatedReport,
  simulateInit,
  revocationPolicy,
  verifyEvidence,
  type Evidence,
  type RevocationPolicy,
  type SimulatedChain,
  type SnpTcb,
} from '../../../src/attestation/index.ts';
import { derNull } from '../../../src/attestation/der.ts';
import { AMD_EXT, endorsementExtensionSpecs } from '../../../src/attestation/snp/endorsement.ts';
import { SNP_OFFSET, encodeTcb } from '../../../src/attestation/snp/report.ts';
import { basicConstraints, buildCertificate, buildCrl, dn, keyUsage, type ExtensionSpec } from '../../../src/attestation/x509-build.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { createLogger } from '../../../src/log.ts';
import { SIMULATED_HOST_DATA, chainFor, expectCode, resigned, simulatedReference } from './support.ts';

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
    const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M], hostData: ['ee'.repeat(32)], minimumTcb: SIMULATED_DEFAULT_TCB }] }, 'test');
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
    const reference = simulatedReference(chain, M);
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
    // An entry that names no VMPL requires VMPL 0; one that names another accepts only that.
    await expectCode(() => verify(evidenceFrom(chain, { vmpl: 3 })), 'SP_ATTEST_POLICY_MISMATCH');
    expect((await verify(evidenceFrom(chain, { vmpl: 2 }), { vmpl: 2 })).snp?.vmpl).toBe(2);
  });

  it('gives SP_ATTEST_TCB_TOO_LOW when any reported TCB component is below the minimum', async () => {
    const min: SnpTcb = { ...chain.tcb, snp: chain.tcb.snp + 1 };
    const err = await expectCode(() => verify(evidenceFrom(chain), { minimumTcb: min }), 'SP_ATTEST_TCB_TOO_LOW');
    expect(err.message).toContain('(snp)');
  });

  // Regression: only REPORTED_TCB was judged. A host could launch the guest under vulnerable
  // firmware, update the firmware live, and pass a strict minimumTcb with the new REPORTED_TCB.
  it('gives SP_ATTEST_TCB_TOO_LOW, naming the launch TCB, when the guest was launched under firmware below the minimum', async () => {
    const launchedLow = resigned(evidenceFrom(chain), chain.vcek.key, (b) => encodeTcb({ ...chain.tcb, snp: chain.tcb.snp - 1, microcode: 0 }, chain.product).copy(b, SNP_OFFSET.launchTcb));
    const err = await expectCode(() => verify(launchedLow, { minimumTcb: chain.tcb }), 'SP_ATTEST_TCB_TOO_LOW');
    expect(err.message).toContain(`launch TCB bl=${chain.tcb.bootloader} tee=${chain.tcb.tee} snp=${chain.tcb.snp - 1} ucode=0 is below the minimum`);
    expect(err.message).toContain('(snp, microcode)');
    // The same report is accepted by a floor it meets, and the launch TCB is in the result.
    expect((await verify(launchedLow, { minimumTcb: { ...chain.tcb, snp: chain.tcb.snp - 1, microcode: 0 } })).snp?.launchTcb).toMatchObject({ snp: chain.tcb.snp - 1, microcode: 0 });
  });

  it('judges the launch TCB fmc on Turin', async () => {
    const turin = await chainFor({ product: 'Turin', tcb: { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 } });
    const chipId = Buffer.concat([turin.hwId, Buffer.alloc(56)]);
    const e = resigned(evidenceFrom(turin, { chipId }), turin.vcek.key, (b) => encodeTcb({ ...turin.tcb, fmc: 0 }, 'Turin').copy(b, SNP_OFFSET.launchTcb));
    const err = await expectCode(
      () => verifyEvidence(e, { reportData: RD, reference: simulatedReference(turin, M, { minimumTcb: turin.tcb }), allowSimulated: true }),
      'SP_ATTEST_TCB_TOO_LOW',
    );
    expect(err.message).toContain('launch TCB fmc=0');
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
          { name: 'old-image', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: ['00'.repeat(48)], hostData: [SIMULATED_HOST_DATA] },
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
        { name: 'a', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: ['00'.repeat(48)], hostData: [SIMULATED_HOST_DATA] },
        { name: 'b', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [M], hostData: [SIMULATED_HOST_DATA] },
      ],
      'test',
    );
    expect((await verifyEvidence(evidenceFrom(chain), { reportData: RD, reference, allowSimulated: true })).referenceName).toBe('b');
  });

  it('refuses evidence of a platform the reference values do not list', async () => {
    const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M], hostData: ['ee'.repeat(32)], minimumTcb: SIMULATED_DEFAULT_TCB }] }, 'test');
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
    const HOUR = 3_600_000;
    const DAY = 86_400_000;
    // AMD's model, which the simulated chain copies: the ARK signs the CRL (keyUsage cRLSign)
    // and it lists revoked ASKs/ASVKs; the ASK may sign certificates only, so no CRL can
    // revoke a VCEK (AMD retires those by raising the TCB).
    const arkCrl = (c: SimulatedChain, revoked: string[], thisUpdate = new Date(Date.now() - HOUR), nextUpdate = new Date(Date.now() + DAY)) =>
      buildCrl({ issuer: parseCertificate(c.ark.der, 'ark').subject, thisUpdate, nextUpdate, revoked: revoked.map((serial) => ({ serial, date: thisUpdate })), signWith: { key: c.ark.key, alg: 'rsa-pss-sha384' } });
    const askSerial = (c: SimulatedChain): string => parseCertificate(c.ask.der, 'ask').serial;
    const verifyWith = (e: Evidence, revocation: RevocationPolicy) =>
      verifyEvidence(e, { reportData: RD, reference: simulatedReference(chain, M), allowSimulated: true, revocation });

    it('gives SP_ATTEST_CERT_REVOKED when a CRL the verifier holds revokes the ASK, though the evidence carries no CRL', async () => {
      const crl = arkCrl(chain, [askSerial(chain)]);
      const err = await expectCode(() => verifyWith(evidenceFrom(chain), revocationPolicy({ crls: [crl] })), 'SP_ATTEST_CERT_REVOKED');
      expect(err.message).toContain('the ASK certificate');
      // The same CRL carried by the prover counts too; leaving it out only works against a verifier without its own.
      await expectCode(() => verify({ ...evidenceFrom(chain), collateral: { crls: [crl] } }), 'SP_ATTEST_CERT_REVOKED');
      expect((await verify(evidenceFrom(chain))).simulated).toBe(true);
    });

    it('accepts when the CRL lists other serials only, and keeps a result no longer than the CRL is current', async () => {
      const nextUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * HOUR); // CRL times have whole seconds
      const v = await verifyWith(evidenceFrom(chain), revocationPolicy({ crls: [arkCrl(chain, ['1234'], undefined, nextUpdate)] }));
      expect(v.simulated).toBe(true);
      expect(v.notAfter).toBe(nextUpdate.toISOString());
    });

    it('with CRLs required, refuses a chain whose issuer has no current CRL held by the verifier (SP_ATTEST_REVOCATION_UNKNOWN), carried ones not counting, and accepts one that has', async () => {
      const err = await expectCode(() => verifyWith(evidenceFrom(chain), revocationPolicy({ requireCrls: true })), 'SP_ATTEST_REVOCATION_UNKNOWN');
      expect(err.message).toContain("'ARK-Simulated-Milan'");
      const current = arkCrl(chain, ['1234']);
      expect((await verifyWith(evidenceFrom(chain), revocationPolicy({ crls: [current], requireCrls: true }))).simulated).toBe(true);
      // A current CRL the peer carries does not: the peer chose it, and an older one still
      // within its validity may predate its own revocation. It is applied all the same.
      await expectCode(() => verifyWith({ ...evidenceFrom(chain), collateral: { crls: [current] } }, revocationPolicy({ requireCrls: true })), 'SP_ATTEST_REVOCATION_UNKNOWN');
      // The VCEK's issuer (the ASK) may not sign CRLs, so nothing is required for that link.
    });

    it('with CRLs required, refuses a stale CRL, including one whose nextUpdate is exactly now', async () => {
      const stale = arkCrl(chain, [], new Date(Date.now() - 10 * DAY), new Date(Date.now() - DAY));
      await expectCode(() => verifyWith(evidenceFrom(chain), revocationPolicy({ crls: [stale], requireCrls: true })), 'SP_ATTEST_COLLATERAL_INVALID');
      const now = new Date();
      const endsNow = arkCrl(chain, [], new Date(now.getTime() - DAY), now);
      await expectCode(
        () => verifyEvidence(evidenceFrom(chain), { reportData: RD, reference: simulatedReference(chain, M), allowSimulated: true, now, revocation: revocationPolicy({ crls: [endsNow], requireCrls: true }) }),
        'SP_ATTEST_COLLATERAL_INVALID',
      );
      const notYet = arkCrl(chain, [], new Date(Date.now() + HOUR), new Date(Date.now() + DAY));
      await expectCode(() => verifyWith(evidenceFrom(chain), revocationPolicy({ crls: [notYet] })), 'SP_ATTEST_COLLATERAL_INVALID');
    });

    it('refuses a CRL that is not signed by the issuer it names, and one naming an issuer whose keyUsage forbids signing CRLs', async () => {
      const other = await chainFor({ product: 'Genoa' });
      const forged = buildCrl({
        issuer: parseCertificate(chain.ark.der, 'ark').subject,
        thisUpdate: new Date(Date.now() - 1000),
        nextUpdate: new Date(Date.now() + DAY),
        revoked: [],
        signWith: { key: other.ark.key, alg: 'rsa-pss-sha384' },
      });
      await expectCode(() => verify({ ...evidenceFrom(chain), collateral: { crls: [forged] } }), 'SP_ATTEST_COLLATERAL_INVALID');
      const byAsk = buildCrl({
        issuer: parseCertificate(chain.ask.der, 'ask').subject,
        thisUpdate: new Date(Date.now() - 1000),
        nextUpdate: new Date(Date.now() + DAY),
        revoked: [{ serial: parseCertificate(chain.vcek.der, 'vcek').serial, date: new Date() }],
        signWith: { key: chain.ask.key, alg: 'rsa-pss-sha384' },
      });
      const err = await expectCode(() => verify({ ...evidenceFrom(chain), collateral: { crls: [byAsk] } }), 'SP_ATTEST_COLLATERAL_INVALID');
      expect(err.message).toContain('does not allow signing CRLs');
    });

    it('ignores a CRL of an unrelated issuer', async () => {
      const unrelated = buildCrl({ issuer: dn([['CN', 'someone else']]), thisUpdate: new Date(0), nextUpdate: new Date(1000), revoked: [], signWith: { key: chain.ask.key, alg: 'rsa-pss-sha384' } });
      expect((await verify({ ...evidenceFrom(chain), collateral: { crls: [unrelated] } })).simulated).toBe(true);
    });
  });

  describe('X.509 rules on every certificate of the chain', () => {
    const UNKNOWN = '1.3.6.1.4.1.55555.7';
    /** The chain's VCEK (same key, same names) re-issued by its ASK with `extra` extensions. */
    const vcekWith = (c: SimulatedChain, extra: ExtensionSpec[]): Buffer => {
      const v = parseCertificate(c.vcek.der, 'vcek');
      return buildCertificate({
        serial: Buffer.from(v.serial.padStart(2, '0'), 'hex'),
        issuer: v.issuer,
        subject: v.subject,
        notBefore: v.notBefore,
        notAfter: v.notAfter,
        spki: v.spki,
        extensions: [...endorsementExtensionSpecs(`${c.product}-B0`, c.tcb, c.hwId, c.product), ...extra],
        signWith: { key: c.ask.key, alg: 'rsa-pss-sha384' },
      });
    };
    /** The chain's ASK re-issued by its ARK with other extensions. */
    const askWith = (c: SimulatedChain, extensions: ExtensionSpec[]): Buffer => {
      const a = parseCertificate(c.ask.der, 'ask');
      return buildCertificate({ issuer: a.issuer, subject: a.subject, notBefore: a.notBefore, notAfter: a.notAfter, spki: a.spki, extensions, signWith: { key: c.ark.key, alg: 'rsa-pss-sha384' } });
    };

    // Regression: RFC 5280 §4.2 says a certificate with a critical extension the verifier does
    // not process must be refused; these were accepted.
    it('refuses a VCEK carrying an unknown critical extension, and accepts the same extension non-critical', async () => {
      const critical = vcekWith(chain, [{ oid: UNKNOWN, critical: true, value: derNull() }]);
      const err = await expectCode(() => verify(evidenceFrom(chain, {}, [critical, chain.ask.der, chain.ark.der])), 'SP_ATTEST_CHAIN_INVALID');
      expect(err.message).toContain(`the VCEK certificate ('SEV-VCEK') carries the critical extension ${UNKNOWN}`);
      const plain = vcekWith(chain, [{ oid: UNKNOWN, value: derNull() }]);
      expect((await verify(evidenceFrom(chain, {}, [plain, chain.ask.der, chain.ark.der]))).simulated).toBe(true);
    });

    it('refuses an ASK carrying an unknown critical extension', async () => {
      const ask = askWith(chain, [basicConstraints(true, 0), keyUsage(['keyCertSign']), { oid: UNKNOWN, critical: true, value: derNull() }]);
      const err = await expectCode(() => verify(evidenceFrom(chain, {}, [chain.vcek.der, ask, chain.ark.der])), 'SP_ATTEST_CHAIN_INVALID');
      expect(err.message).toContain('the ASK certificate');
    });

    it('accepts an AMD extension marked critical on the VCEK: the verifier reads and checks it', async () => {
      const exts = endorsementExtensionSpecs(`${chain.product}-B0`, chain.tcb, chain.hwId, chain.product).map((x) => (x.oid === AMD_EXT.hwId ? { ...x, critical: true } : x));
      const v = parseCertificate(chain.vcek.der, 'vcek');
      const vcek = buildCertificate({ issuer: v.issuer, subject: v.subject, notBefore: v.notBefore, notAfter: v.notAfter, spki: v.spki, extensions: exts, signWith: { key: chain.ask.key, alg: 'rsa-pss-sha384' } });
      expect((await verify(evidenceFrom(chain, {}, [vcek, chain.ask.der, chain.ark.der]))).chipId).toBe(chain.hwId.toString('hex'));
    });

    it('refuses an ASK whose keyUsage does not allow signing certificates, and a VCEK whose keyUsage does not allow signing', async () => {
      const ask = askWith(chain, [basicConstraints(true, 0), keyUsage(['cRLSign'])]);
      const err = await expectCode(() => verify(evidenceFrom(chain, {}, [chain.vcek.der, ask, chain.ark.der])), 'SP_ATTEST_CHAIN_INVALID');
      expect(err.message).toContain('without keyCertSign');
      const vcek = vcekWith(chain, [keyUsage(['keyCertSign'])]);
      await expectCode(() => verify(evidenceFrom(chain, {}, [vcek, chain.ask.der, chain.ark.der])), 'SP_ATTEST_CHAIN_INVALID');
      expect((await verify(evidenceFrom(chain, {}, [vcekWith(chain, [keyUsage(['digitalSignature'])]), chain.ask.der, chain.ark.der]))).simulated).toBe(true);
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
