import { sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseReferenceValues, revocationPolicy, verifyEvidence, type Evidence, type ReferenceValues } from '../../../src/attestation/index.ts';
import { parseCrl } from '../../../src/attestation/crl.ts';
import { parseQeIdentity, parseTdxTcbInfo, splitSignedJson } from '../../../src/attestation/tdx/collateral.ts';
import { readPckExtensions } from '../../../src/attestation/tdx/pck.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { evaluateTdxTcb } from '../../../src/attestation/tdx/tcb.ts';
import { verifyTdxCrypto } from '../../../src/attestation/tdx/verify.ts';
import { parseCertificate, pemToDer } from '../../../src/attestation/x509.ts';
import { buildCrl } from '../../../src/attestation/x509-build.ts';
import { derNull, seq, uint } from '../../../src/attestation/der.ts';
import { verifyEvidenceWithAnchors } from './tdx-support.ts';
import { expectCode, fixture } from './support.ts';
import { FORGED_IDENTITY, MRTD, forgeEvidence, forgePckCrl, forgeRootCrl, forgeTdxPlatform } from './tdx-forge.ts';

const v4 = fixture('tdx/tdx_prod_quote_SPR_E4.dat');
const v5 = fixture('tdx/quote_v5_sample.dat');
const realCollateral = {
  tdxTcbInfo: fixture('tdx/sample_tcbInfo_response').toString('utf8'),
  tdxQeIdentity: fixture('tdx/sample_qeIdentity_response').toString('utf8'),
  tcbSigningChain: pemToDer(fixture('tdx/tcb_signing_cert.pem').toString('latin1')),
  crls: [fixture('tdx/pckcrl'), fixture('tdx/rootcrl.der')],
};
/** Inside every validity window of the v4 sample's chain and collateral. */
const NOW_V4 = new Date('2023-07-01T00:00:00Z');
const ALL = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'];

describe('TDX quote parser', () => {
  it('reads the v4 sample: header, TD body, QE report and the PCK chain', () => {
    const q = parseTdxQuote(v4);
    expect(q.version).toBe(4);
    expect(q.qeVendorId.toString('hex')).toBe('939a7233f79c4ca9940a0db3957f0607');
    expect(q.body.teeTcbSvn.toString('hex')).toBe('03000400000000000000000000000000');
    expect(q.body.tdAttributes.toString('hex')).toBe('0000004000000000');
    expect(q.body.mrtd.toString('hex').slice(0, 16)).toBe('6363b8043668a3ad');
    expect(q.body.teeTcbSvn2).toBeUndefined();
    expect(q.qeReport.isvSvn).toBe(4);
    expect(q.qeAuthData.length).toBe(32);
    expect(pemToDer(q.pckChainPem).map((d) => parseCertificate(d, 'c').subjectName)).toEqual(['Intel SGX PCK Certificate', 'Intel SGX PCK Platform CA', 'Intel SGX Root CA']);
  });

  it('reads the v5 sample with its TDX 1.5 body', () => {
    const q = parseTdxQuote(v5);
    expect(q.version).toBe(5);
    expect(q.body.teeTcbSvn.toString('hex')).toBe('0b010400000000000000000000000000');
    expect(q.body.teeTcbSvn2?.length).toBe(16);
    expect(q.body.mrServiceTd?.length).toBe(48);
    expect(q.signed.length).toBe(48 + 6 + 648);
  });

  it('reads the FMSPC and TCB of the PCK certificate', () => {
    const pck = readPckExtensions(parseCertificate(pemToDer(parseTdxQuote(v4).pckChainPem)[0]!, 'pck'));
    expect(pck).toMatchObject({ fmspc: '50806f000000', pceId: '0000', pceSvn: 11, components: [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0] });
  });

  it('refuses truncated quotes, unknown versions and foreign key types with precise codes', async () => {
    await expectCode(() => parseTdxQuote(v4.subarray(0, 600)), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => parseTdxQuote(v4.subarray(0, 1200)), 'SP_ATTEST_EVIDENCE_MALFORMED');
    const v3 = Buffer.from(v4);
    v3.writeUInt16LE(3, 0);
    await expectCode(() => parseTdxQuote(v3), 'SP_ATTEST_PLATFORM_UNSUPPORTED');
    const p384 = Buffer.from(v4);
    p384.writeUInt16LE(3, 2);
    await expectCode(() => parseTdxQuote(p384), 'SP_ATTEST_PLATFORM_UNSUPPORTED');
  });
});

describe('real Intel TDX evidence', () => {
  const q4 = parseTdxQuote(v4);
  const evidence: Evidence = { platform: 'tdx', report: v4, certificates: [], collateral: realCollateral };
  // The sample's RTMR0–2 are pinned; its MRCONFIGID is zero (no pod policy), hence the opt-out.
  const reference = (extra: Record<string, unknown> = {}): ReferenceValues =>
    parseReferenceValues(
      [{ platform: 'tdx', mrtd: [q4.body.mrtd.toString('hex')], rtmr0: q4.body.rtmr[0].toString('hex'), rtmr1: q4.body.rtmr[1].toString('hex'), rtmr2: q4.body.rtmr[2].toString('hex'), unboundIdentity: true, acceptableTcbStatuses: ALL, ...extra }],
      'test',
    );

  it('verifies the v4 quote, QE report, PCK chain to the shipped Intel root, CRLs and signed collateral, then finds its platform TCB older than every level Intel lists', async () => {
    const err = await expectCode(() => verifyEvidence(evidence, { reportData: q4.body.reportData, reference: reference(), now: NOW_V4 }), 'SP_ATTEST_TCB_STATUS');
    expect(err.message).toContain('unrecognised');
  });

  it('fails with SP_ATTEST_SIGNATURE_INVALID when any signed byte of the header or TD body is flipped', () => {
    const codes = new Map<string, number>();
    // Bytes 0..7 select the layout (version, key type, TEE type); from 8 on, everything is covered by the signature.
    for (let i = 8; i < q4.signed.length; i++) {
      const bad = Buffer.from(v4);
      bad[i]! ^= 0x01;
      try {
        verifyTdxCrypto({ ...evidence, report: bad }, { now: NOW_V4, crls: [] });
        codes.set('accepted', (codes.get('accepted') ?? 0) + 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'thrown';
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    // The QE vendor ID (bytes 12..27) is checked before the signatures.
    expect(Object.fromEntries(codes)).toEqual({ SP_ATTEST_PLATFORM_UNSUPPORTED: 16, SP_ATTEST_SIGNATURE_INVALID: q4.signed.length - 8 - 16 });
  });

  it('fails with SP_ATTEST_SIGNATURE_INVALID when the signature, attestation key, QE report or QE auth data is altered', async () => {
    const sigStart = q4.signed.length + 4;
    for (const offset of [sigStart, sigStart + 63, sigStart + 64, sigStart + 127, sigStart + 134, sigStart + 134 + 300, sigStart + 134 + 384, sigStart + 134 + 450]) {
      const bad = Buffer.from(v4);
      bad[offset]! ^= 0x01;
      await expectCode(() => verifyTdxCrypto({ ...evidence, report: bad }, { now: NOW_V4, crls: [] }), 'SP_ATTEST_SIGNATURE_INVALID');
    }
  });

  it('refuses tampered, stale or missing collateral with SP_ATTEST_COLLATERAL_INVALID', async () => {
    const tampered = realCollateral.tdxTcbInfo.replace('"tcbStatus":"UpToDate"', '"tcbStatus":"UpToDatf"');
    expect(tampered).not.toBe(realCollateral.tdxTcbInfo);
    await expectCode(() => verifyTdxCrypto({ ...evidence, collateral: { ...realCollateral, tdxTcbInfo: tampered } }, { now: NOW_V4, crls: [] }), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => verifyTdxCrypto(evidence, { now: new Date('2023-07-20T00:00:00Z'), crls: [] }), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => verifyTdxCrypto({ ...evidence, collateral: { crls: [] } }, { now: NOW_V4, crls: [] }), 'SP_ATTEST_COLLATERAL_INVALID');
    const swapped = { ...realCollateral, tdxTcbInfo: realCollateral.tdxQeIdentity };
    await expectCode(() => verifyTdxCrypto({ ...evidence, collateral: swapped }, { now: NOW_V4, crls: [] }), 'SP_ATTEST_COLLATERAL_INVALID');
  });

  it('refuses a stale CRL (the root CRL expired in April 2024)', async () => {
    await expectCode(
      () => verifyTdxCrypto(evidence, { now: new Date('2024-05-01T00:00:00Z'), crls: [parseCrl(fixture('tdx/rootcrl.der'))] }),
      'SP_ATTEST_COLLATERAL_INVALID',
    );
  });

  describe('verifier-held CRLs (the real PCK and root CRLs)', () => {
    const withoutCrls: Evidence = { ...evidence, collateral: { ...realCollateral, crls: [] } };
    const real = { pck: fixture('tdx/pckcrl'), root: fixture('tdx/rootcrl.der') };
    const verifyAt = (e: Evidence, crls: Buffer[], requireCrls: boolean, now = NOW_V4) =>
      verifyEvidence(e, { reportData: q4.body.reportData, reference: reference(), now, revocation: revocationPolicy({ crls, requireCrls }) });

    // Regression: CRLs were checked only when the prover shipped them, so a revoked PCK could
    // simply leave them out. Required CRLs must come from somewhere: the verifier or the evidence.
    it('with CRLs required, refuses a quote whose evidence carries no CRL and the verifier holds none (SP_ATTEST_REVOCATION_UNKNOWN)', async () => {
      const err = await expectCode(() => verifyAt(withoutCrls, [], true), 'SP_ATTEST_REVOCATION_UNKNOWN');
      expect(err.message).toContain("'Intel SGX PCK Platform CA'");
      // The PCK CRL alone does not cover the PCK CA (the root's CRL does).
      const err2 = await expectCode(() => verifyAt(withoutCrls, [real.pck], true), 'SP_ATTEST_REVOCATION_UNKNOWN');
      expect(err2.message).toContain("'Intel SGX Root CA'");
    });

    it('with CRLs required, gets through revocation to the TCB verdict with the real CRLs held by the verifier, and not with the same CRLs carried in the evidence', async () => {
      await expectCode(() => verifyAt(withoutCrls, [real.pck, real.root], true), 'SP_ATTEST_TCB_STATUS');
      // The prover picks what it carries: a CRL still within its validity may predate its revocation.
      await expectCode(() => verifyAt(evidence, [], true), 'SP_ATTEST_REVOCATION_UNKNOWN');
      await expectCode(() => verifyAt(evidence, [], false), 'SP_ATTEST_TCB_STATUS');
    });

    it('with CRLs required, refuses the real PCK CRL once it is stale (nextUpdate 2023-07-08)', async () => {
      const late = new Date('2023-07-09T00:00:00Z');
      // The collateral is stale by then too, but the chain (and its CRLs) is checked first.
      const err = await expectCode(() => verifyAt(withoutCrls, [real.pck, real.root], true, late), 'SP_ATTEST_COLLATERAL_INVALID');
      expect(err.message).toContain("the CRL of 'Intel SGX PCK Platform CA'");
    });
  });

  it('verifies the v5 quote signatures and PCK chain; its sample collateral is signed by a TCB signing certificate that had expired', async () => {
    const q5 = parseTdxQuote(v5);
    const e5: Evidence = { platform: 'tdx', report: v5, certificates: [], collateral: { ...realCollateral, crls: [], tdxTcbInfo: fixture('tdx/sample_tcbinfo_response_v5').toString('utf8') } };
    const err = await expectCode(() => verifyTdxCrypto(e5, { now: new Date('2026-02-15T00:00:00Z'), crls: [] }), 'SP_ATTEST_CERT_EXPIRED');
    expect(err.message).toContain('TCB signing');
    expect(q5.version).toBe(5);
  });

  it('judges the v5 platform UpToDate from the real v5 TCB Info: module identity TDX_01, levels compared from component 2', () => {
    const q5 = parseTdxQuote(v5);
    const tcbInfo = parseTdxTcbInfo(splitSignedJson(fixture('tdx/sample_tcbinfo_response_v5').toString('utf8'), 'tcbInfo', 'tcb').signed);
    const qeIdentity = parseQeIdentity(splitSignedJson(realCollateral.tdxQeIdentity, 'enclaveIdentity', 'qe').signed);
    expect([tcbInfo.tcbEvaluationDataNumber, qeIdentity.tcbEvaluationDataNumber]).toEqual([18, 15]);
    const pck = readPckExtensions(parseCertificate(pemToDer(q5.pckChainPem)[0]!, 'pck'));
    const verdict = evaluateTdxTcb({ tcbInfo, qeIdentity, pck, body: q5.body, qeReport: q5.qeReport });
    expect(verdict).toEqual({ status: 'UpToDate', platformStatus: 'UpToDate', moduleStatus: 'UpToDate', qeStatus: 'UpToDate', advisoryIds: [] });
    // An older module SVN falls to the OutOfDate module level, which makes the whole verdict OutOfDate.
    const older = { ...q5.body, teeTcbSvn: Buffer.from('05010400000000000000000000000000', 'hex') };
    expect(evaluateTdxTcb({ tcbInfo, qeIdentity, pck, body: older, qeReport: q5.qeReport })).toMatchObject({ status: 'OutOfDate', moduleStatus: 'OutOfDate', platformStatus: 'UpToDate' });
  });
});

describe('TDX verification with an Intel-shaped test chain', () => {
  const now = new Date();
  const forge = forgeTdxPlatform({ now });
  const RD = Buffer.alloc(64, 0x42);
  const reference = (extra: Record<string, unknown> = {}): ReferenceValues => parseReferenceValues([{ platform: 'tdx', mrtd: [MRTD.toString('hex')], ...FORGED_IDENTITY, ...extra }], 'test');
  const verify = (e: Evidence, extra: Record<string, unknown> = {}, opts: { crls?: Buffer[]; requireCrls?: boolean; now?: Date } = {}) =>
    verifyEvidenceWithAnchors(
      e,
      { reportData: RD, reference: reference(extra), now: opts.now ?? now, revocation: revocationPolicy({ crls: opts.crls ?? [], requireCrls: opts.requireCrls === true }) },
      forge.anchors,
    );

  it('accepts a quote whose chain, signatures, collateral and claims all match', () => {
    const v = verify(forgeEvidence(forge, { reportData: RD }));
    expect(v).toMatchObject({ platform: 'tdx', simulated: false, reportVersion: 4, measurement: MRTD.toString('hex'), tcb: { status: 'UpToDate' }, policy: '0x0000000010000000' });
    expect(v.tdx?.fmspc).toBe(forge.platform.fmspc);
    expect(v.tdx?.rtmr[2]).toBe('32'.repeat(48));
  });

  it('refuses the same quote through the public verifier: its root is not the Intel SGX Root CA', async () => {
    await expectCode(() => verifyEvidence(forgeEvidence(forge, { reportData: RD }), { reportData: RD, reference: reference(), now }), 'SP_ATTEST_ROOT_UNTRUSTED');
  });

  it('gives SP_ATTEST_DEBUG_ENABLED for a debuggable TD', async () => {
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD, tdAttributes: Buffer.from('0100000000000000', 'hex') })), 'SP_ATTEST_DEBUG_ENABLED');
  });

  // Regression: TD attributes other than DEBUG were neither judged nor pinnable, so a
  // MIGRATABLE TD, or a TDX 1.5 TD with a bound service TD, passed the strictest entry.
  it('refuses a MIGRATABLE TD with SP_ATTEST_POLICY_MISMATCH, whatever the entry pins', async () => {
    const migratable = forgeEvidence(forge, { reportData: RD, tdAttributes: Buffer.from('0000003000000000', 'hex') });
    const err = await expectCode(() => verify(migratable), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('TD attributes 0x0000000030000000 have MIGRATABLE set');
    await expectCode(() => verify(migratable, { tdAttributes: { value: '0000000010000000', mask: '0000000010000000' } }), 'SP_ATTEST_POLICY_MISMATCH');
  });

  it('refuses a TDX 1.5 TD with a non-zero MRSERVICETD (a bound service TD) with SP_ATTEST_POLICY_MISMATCH', async () => {
    const v15 = { version: 5 as const, reportData: RD, teeTcbSvn: Buffer.from('07010300000000000000000000000000', 'hex') };
    const collateral = {
      levels: [{ status: 'UpToDate', tdx: [9, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }],
      moduleIdentities: [{ id: 'TDX_01', mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: [{ tcb: { isvsvn: 6 }, tcbStatus: 'UpToDate' }] }],
    };
    const err = await expectCode(() => verify(forgeEvidence(forge, { ...v15, mrServiceTd: Buffer.alloc(48, 0xee) }, collateral)), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('MRSERVICETD eeeeeeee… is not zero');
    expect(verify(forgeEvidence(forge, v15, collateral)).tdx?.mrServiceTd).toBe('00'.repeat(48));
  });

  it('does not require SEPT_VE_DISABLE by default (the real SPR quote has it clear), and refuses a TD that misses a tdAttributes pin', async () => {
    const cleared = forgeEvidence(forge, { reportData: RD, tdAttributes: Buffer.alloc(8) });
    expect(verify(cleared).tdx?.tdAttributes).toBe('0x0000000000000000');
    const septVeDisable = { tdAttributes: { value: '0000000010000000', mask: '0000000010000000' } };
    const err = await expectCode(() => verify(cleared, septVeDisable), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('TD attributes 0x0000000000000000 under mask 0x0000000010000000 are not the reference value 0x0000000010000000');
    expect(verify(forgeEvidence(forge, { reportData: RD }), septVeDisable).referenceName).toBe('tdx-0');
    // A pin may also forbid bits the fixed checks leave open, e.g. PERFMON (bit 63).
    const perfmon = forgeEvidence(forge, { reportData: RD, tdAttributes: Buffer.from('0000001000000080', 'hex') });
    await expectCode(() => verify(perfmon, { tdAttributes: { value: '0000000010000000', mask: '8000000010000000' } }), 'SP_ATTEST_POLICY_MISMATCH');
  });

  // Regression: the prover picks the collateral, and nothing set a floor on its freshness, so
  // a host could keep sending a TCB Info from before a TCB recovery that rated it UpToDate.
  it('refuses collateral whose TCB Info or QE Identity is below minimumTcbEvaluationDataNumber with SP_ATTEST_COLLATERAL_INVALID', async () => {
    const old = forgeEvidence(forge, { reportData: RD }, { tcbEvaluationDataNumber: 17 });
    expect(verify(old).referenceName).toBe('tdx-0'); // no floor: superseded collateral still inside its validity passes
    const err = await expectCode(() => verify(old, { minimumTcbEvaluationDataNumber: 18 }), 'SP_ATTEST_COLLATERAL_INVALID');
    expect(err.message).toContain('the TCB Info is from TCB evaluation 17, below the minimum 18 (minimumTcbEvaluationDataNumber)');
    const oldQe = forgeEvidence(forge, { reportData: RD }, { qeTcbEvaluationDataNumber: 17 });
    expect((await expectCode(() => verify(oldQe, { minimumTcbEvaluationDataNumber: 18 }), 'SP_ATTEST_COLLATERAL_INVALID')).message).toContain('the QE Identity is from TCB evaluation 17');
    expect(verify(forgeEvidence(forge, { reportData: RD }), { minimumTcbEvaluationDataNumber: 18 }).referenceName).toBe('tdx-0');
  });

  it('refuses a TCB Info or QE Identity without a tcbEvaluationDataNumber', async () => {
    const c = forgeEvidence(forge, { reportData: RD }).collateral!;
    const strip = (text: string, member: string): string => {
      const doc = JSON.parse(text) as Record<string, Record<string, unknown>>;
      const { tcbEvaluationDataNumber: _n, ...rest } = doc[member]!;
      const body = JSON.stringify(rest);
      return `{"${member}":${body},"signature":"${sign('sha256', Buffer.from(body), { key: forge.tcbSigning.key, dsaEncoding: 'ieee-p1363' }).toString('hex')}"}`;
    };
    const noTcbNumber = { platform: 'tdx' as const, report: forgeEvidence(forge, { reportData: RD }).report, certificates: [], collateral: { ...c, tdxTcbInfo: strip(c.tdxTcbInfo!, 'tcbInfo') } };
    expect((await expectCode(() => verify(noTcbNumber), 'SP_ATTEST_COLLATERAL_INVALID')).message).toContain('TCB Info.tcbEvaluationDataNumber');
    const noQeNumber = { ...noTcbNumber, collateral: { ...c, tdxQeIdentity: strip(c.tdxQeIdentity!, 'enclaveIdentity') } };
    expect((await expectCode(() => verify(noQeNumber), 'SP_ATTEST_COLLATERAL_INVALID')).message).toContain('QE Identity.tcbEvaluationDataNumber');
  });

  it('gives SP_ATTEST_REPORT_DATA_MISMATCH, MEASUREMENT_MISMATCH, HOST_DATA_MISMATCH and POLICY_MISMATCH for the matching claims', async () => {
    await expectCode(() => verify(forgeEvidence(forge, { reportData: Buffer.alloc(64) })), 'SP_ATTEST_REPORT_DATA_MISMATCH');
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD, mrtd: Buffer.alloc(48, 9) })), 'SP_ATTEST_MEASUREMENT_MISMATCH');
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), { rtmr1: ['01'.repeat(48)] }), 'SP_ATTEST_MEASUREMENT_MISMATCH');
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), { mrConfigId: ['01'.repeat(48)] }), 'SP_ATTEST_HOST_DATA_MISMATCH');
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), { mrOwner: ['01'.repeat(48)] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(verify(forgeEvidence(forge, { reportData: RD }), { rtmr1: ['31'.repeat(48)], mrConfigId: ['40'.repeat(48)] }).referenceName).toBe('tdx-0');
  });

  it('judges the TCB status against the acceptable statuses, and never accepts Revoked', async () => {
    const outOfDate = forgeEvidence(forge, { reportData: RD }, { levels: [{ status: 'OutOfDate', advisoryIDs: ['INTEL-SA-00001'] }] });
    const err = await expectCode(() => verify(outOfDate), 'SP_ATTEST_TCB_STATUS');
    expect(err.message).toContain('INTEL-SA-00001');
    expect(verify(outOfDate, { acceptableTcbStatuses: ['UpToDate', 'OutOfDate'] }).tdx?.advisoryIds).toEqual(['INTEL-SA-00001']);
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }, { levels: [{ status: 'Revoked' }] }), { acceptableTcbStatuses: ALL }), 'SP_ATTEST_TCB_STATUS');
  });

  it('picks the first TCB level the platform meets', () => {
    const e = forgeEvidence(forge, { reportData: RD }, { levels: [{ status: 'UpToDate', pceSvn: 99 }, { status: 'SWHardeningNeeded' }, { status: 'OutOfDate' }] });
    expect(verify(e, { acceptableTcbStatuses: ['SWHardeningNeeded'] }).tcb).toEqual({ status: 'SWHardeningNeeded' });
  });

  it('lets an out-of-date quoting enclave pull the verdict down', async () => {
    const e = forgeEvidence(forge, { reportData: RD, qeIsvSvn: 3 }, { qeLevels: [{ isvsvn: 4, status: 'UpToDate' }, { isvsvn: 2, status: 'OutOfDate' }] });
    await expectCode(() => verify(e), 'SP_ATTEST_TCB_STATUS');
    expect(verify(e, { acceptableTcbStatuses: ['OutOfDate'] }).tdx?.qeTcbStatus).toBe('OutOfDate');
  });

  it('refuses a quoting enclave that is not the one the QE Identity describes', async () => {
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD, qeMrSigner: '00'.repeat(32) })), 'SP_ATTEST_CHAIN_INVALID');
  });

  it('verifies v5 quotes with a TDX 1.5 body and a module identity', () => {
    const e = forgeEvidence(
      forge,
      { version: 5, reportData: RD, teeTcbSvn: Buffer.from('07010300000000000000000000000000', 'hex') },
      {
        levels: [{ status: 'UpToDate', tdx: [9, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }],
        moduleIdentities: [{ id: 'TDX_01', mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: [{ tcb: { isvsvn: 6 }, tcbStatus: 'UpToDate' }] }],
      },
    );
    const v = verify(e);
    expect(v.reportVersion).toBe(5);
    expect(v.tdx?.mrServiceTd).toBe('00'.repeat(48));
  });

  it('refuses a TDX module version the TCB Info does not list', async () => {
    const e = forgeEvidence(forge, { reportData: RD, teeTcbSvn: Buffer.from('07020500000000000000000000000000', 'hex') }, { moduleIdentities: [] });
    // An empty identity list falls back to the plain tdxModule check; a listed-but-missing one is refused.
    expect(verify(e, { acceptableTcbStatuses: ALL }).tcb).toEqual({ status: 'UpToDate' });
    const listed = forgeEvidence(forge, { reportData: RD, teeTcbSvn: Buffer.from('07020500000000000000000000000000', 'hex') }, {
      moduleIdentities: [{ id: 'TDX_01', mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: [{ tcb: { isvsvn: 1 }, tcbStatus: 'UpToDate' }] }],
    });
    await expectCode(() => verify(listed), 'SP_ATTEST_TCB_STATUS');
  });

  it('refuses an expired PCK certificate and a revoked one', async () => {
    const shortLived = forgeTdxPlatform({ now, pckValidDays: 1 });
    const e = forgeEvidence(shortLived, { reportData: RD });
    await expectCode(
      () => verifyEvidenceWithAnchors(e, { reportData: RD, reference: reference(), now: new Date(now.getTime() + 2 * 86_400_000) }, shortLived.anchors),
      'SP_ATTEST_CERT_EXPIRED',
    );
    const serial = parseCertificate(forge.pck.der, 'pck').serial;
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), {}, { crls: [forgePckCrl(forge, [serial])] }), 'SP_ATTEST_CERT_REVOKED');
    expect(verify(forgeEvidence(forge, { reportData: RD }), {}, { crls: [forgePckCrl(forge, ['abcdef'])] }).platform).toBe('tdx');
  });

  describe('verifier-side revocation', () => {
    const pckSerial = (): string => parseCertificate(forge.pck.der, 'pck').serial;

    it('refuses a revoked PCK from the verifier\'s own CRL although the evidence carries no CRL', async () => {
      const e = forgeEvidence(forge, { reportData: RD });
      expect(e.collateral?.crls).toBeUndefined();
      await expectCode(() => verify(e, {}, { crls: [forgePckCrl(forge, [pckSerial()])] }), 'SP_ATTEST_CERT_REVOKED');
      await expectCode(() => verify(e, {}, { crls: [forgePckCrl(forge, [pckSerial()]), forgeRootCrl(forge)], requireCrls: true }), 'SP_ATTEST_CERT_REVOKED');
    });

    it('refuses a revoked PCK CA through the root CRL, and a revoked TCB signing certificate', async () => {
      const e = forgeEvidence(forge, { reportData: RD });
      await expectCode(() => verify(e, {}, { crls: [forgeRootCrl(forge, [parseCertificate(forge.pckCa.der, 'ca').serial])] }), 'SP_ATTEST_CERT_REVOKED');
      const err = await expectCode(() => verify(e, {}, { crls: [forgeRootCrl(forge, [parseCertificate(forge.tcbSigning.der, 'tcb').serial])] }), 'SP_ATTEST_CERT_REVOKED');
      expect(err.message).toContain('TCB signing');
    });

    it('with CRLs required: refuses without them, accepts with a current CRL from each issuer, refuses a stale one', async () => {
      const e = forgeEvidence(forge, { reportData: RD });
      await expectCode(() => verify(e, {}, { requireCrls: true }), 'SP_ATTEST_REVOCATION_UNKNOWN');
      await expectCode(() => verify(e, {}, { crls: [forgePckCrl(forge, [])], requireCrls: true }), 'SP_ATTEST_REVOCATION_UNKNOWN');
      const v = verify(e, {}, { crls: [forgePckCrl(forge, []), forgeRootCrl(forge)], requireCrls: true });
      expect(v.platform).toBe('tdx');
      // A result that relied on the CRLs is not to be reused past their nextUpdate.
      expect(Date.parse(v.notAfter)).toBeLessThanOrEqual(now.getTime() + 86_400_000);
      const stale = forgePckCrl(forge, [], { thisUpdate: new Date(now.getTime() - 3 * 86_400_000), nextUpdate: new Date(now.getTime() - 86_400_000) });
      await expectCode(() => verify(e, {}, { crls: [stale, forgeRootCrl(forge)], requireCrls: true }), 'SP_ATTEST_COLLATERAL_INVALID');
    });

    it('refuses a CRL that carries a critical extension it does not process (a delta CRL, say), even if it revokes nothing', async () => {
      const delta = buildCrl({
        issuer: parseCertificate(forge.pckCa.der, 'ca').subject,
        thisUpdate: new Date(now.getTime() - 3_600_000),
        nextUpdate: new Date(now.getTime() + 3_600_000),
        revoked: [],
        signWith: { key: forge.pckCa.key, alg: 'ecdsa-sha256' },
        extensions: [{ oid: '2.5.29.27', critical: true, value: uint(1) }],
      });
      const err = await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), {}, { crls: [delta] }), 'SP_ATTEST_COLLATERAL_INVALID');
      expect(err.message).toContain('2.5.29.27');
      const entryExt = buildCrl({
        issuer: parseCertificate(forge.pckCa.der, 'ca').subject,
        thisUpdate: new Date(now.getTime() - 3_600_000),
        nextUpdate: new Date(now.getTime() + 3_600_000),
        revoked: [{ serial: 'abcdef', date: now, extensions: [{ oid: '2.5.29.29', critical: true, value: seq() }] }],
        signWith: { key: forge.pckCa.key, alg: 'ecdsa-sha256' },
      });
      await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }), {}, { crls: [entryExt] }), 'SP_ATTEST_COLLATERAL_INVALID');
    });
  });

  describe('X.509 rules on the PCK chain', () => {
    it('refuses a PCK certificate carrying an unknown critical extension, and accepts the same extension non-critical', async () => {
      const unknown = { oid: '1.3.6.1.4.1.55555.1', value: derNull() };
      const critical = forgeTdxPlatform({ now, pckExtensions: [{ ...unknown, critical: true }] });
      const err = await expectCode(
        () => verifyEvidenceWithAnchors(forgeEvidence(critical, { reportData: RD }), { reportData: RD, reference: reference(), now }, critical.anchors),
        'SP_ATTEST_CHAIN_INVALID',
      );
      expect(err.message).toContain('critical extension 1.3.6.1.4.1.55555.1');
      const plain = forgeTdxPlatform({ now, pckExtensions: [unknown] });
      expect(verifyEvidenceWithAnchors(forgeEvidence(plain, { reportData: RD }), { reportData: RD, reference: reference(), now }, plain.anchors).platform).toBe('tdx');
    });

    it('refuses a path longer than the root\'s pathLenConstraint allows', async () => {
      const tight = forgeTdxPlatform({ now, rootPathLen: 0 });
      const err = await expectCode(
        () => verifyEvidenceWithAnchors(forgeEvidence(tight, { reportData: RD }), { reportData: RD, reference: reference(), now }, tight.anchors),
        'SP_ATTEST_CHAIN_INVALID',
      );
      expect(err.message).toContain('allows 0 intermediate certificates');
      const fits = forgeTdxPlatform({ now, rootPathLen: 1 });
      expect(verifyEvidenceWithAnchors(forgeEvidence(fits, { reportData: RD }), { reportData: RD, reference: reference(), now }, fits.anchors).platform).toBe('tdx');
    });
  });

  it('refuses collateral signed by a key other than the TCB signing certificate, and collateral for another FMSPC', async () => {
    const other = forgeTdxPlatform({ now });
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }, { signWith: other.tcbSigning.key })), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => verify(forgeEvidence(forge, { reportData: RD }, { fmspc: '00606a000000' })), 'SP_ATTEST_COLLATERAL_INVALID');
  });
});
