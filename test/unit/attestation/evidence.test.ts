import { describe, expect, it } from 'vitest';
import { EVIDENCE_LIMITS, decodeEvidence, encodeEvidence, parseEvidenceJson, type Evidence } from '../../../src/attestation/index.ts';
import { expectCode, fixture } from './support.ts';

const evidence: Evidence = {
  platform: 'sev-snp',
  report: fixture('sev-snp/milan-report.bin'),
  certificates: [fixture('sev-snp/milan-vcek.der')],
  collateral: { crls: [Buffer.from([0x30, 0])], tdxTcbInfo: '{"a":1}', tdxQeIdentity: '{}', tcbSigningChain: [Buffer.from([1, 2])] },
};

describe('evidence encoding', () => {
  it('round-trips through JSON text', () => {
    const text = JSON.stringify(encodeEvidence(evidence));
    const back = parseEvidenceJson(text);
    expect(back.platform).toBe('sev-snp');
    expect(back.report.equals(evidence.report)).toBe(true);
    expect(back.certificates[0]!.equals(evidence.certificates[0]!)).toBe(true);
    expect(back.collateral?.tdxTcbInfo).toBe('{"a":1}');
    expect(back.collateral?.crls?.[0]?.equals(Buffer.from([0x30, 0]))).toBe(true);
    expect(Object.isFrozen(back)).toBe(true);
  });

  const base = encodeEvidence({ platform: 'sev-snp', report: Buffer.alloc(16, 1), certificates: [] });
  const cases: Array<[string, unknown]> = [
    ['a non-object', 'evidence'],
    ['an unknown platform', { ...base, platform: 'sgx' }],
    ['an unknown field', { ...base, extra: 1 }],
    ['a report that is not base64', { ...base, report: 'not base64!' }],
    ['non-canonical base64', { ...base, report: 'AAA' }],
    ['an empty report', { ...base, report: '' }],
    ['a report over the limit', { ...base, report: Buffer.alloc(EVIDENCE_LIMITS.reportBytes + 1).toString('base64') }],
    ['too many certificates', { ...base, certificates: Array<string>(EVIDENCE_LIMITS.certificates + 1).fill('AAAA') }],
    ['a certificate over the limit', { ...base, certificates: [Buffer.alloc(EVIDENCE_LIMITS.certificateBytes + 1).toString('base64')] }],
    ['a certificate list that is not a list', { ...base, certificates: 'AAAA' }],
    ['collateral that is not an object', { ...base, collateral: [] }],
    ['an unknown collateral field', { ...base, collateral: { x: 1 } }],
    ['TCB info over the limit', { ...base, collateral: { tdxTcbInfo: 'x'.repeat(EVIDENCE_LIMITS.tcbInfoBytes + 1) } }],
    ['too many CRLs', { ...base, collateral: { crls: Array<string>(EVIDENCE_LIMITS.crls + 1).fill('AAAA') } }],
  ];
  for (const [name, json] of cases) {
    it(`refuses ${name} with SP_ATTEST_EVIDENCE_MALFORMED`, async () => {
      await expectCode(() => decodeEvidence(json), 'SP_ATTEST_EVIDENCE_MALFORMED');
    });
  }

  it('refuses JSON text over the limit before parsing it, and text that is not JSON', async () => {
    await expectCode(() => parseEvidenceJson(' '.repeat(EVIDENCE_LIMITS.jsonBytes + 1)), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => parseEvidenceJson('{"platform":'), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });
});
