import { describe, expect, it } from 'vitest';
import { decodePolicy, decodeTcb, encodeTcb, parseSnpReport, SNP_REPORT_SIZE } from '../../../src/attestation/snp/report.ts';
import { fixture, MILAN } from './support.ts';
import { expectCode } from './support.ts';

describe('SEV-SNP report parser', () => {
  const r = parseSnpReport(fixture('sev-snp/milan-report.bin'));

  it('reproduces every fact the test-data README states about the real Milan report', () => {
    expect(r.version).toBe(2);
    expect(r.guestSvn).toBe(0);
    expect(r.policy).toBe(0x00000000000b0000n);
    expect(r.reportData.equals(MILAN.reportData)).toBe(true);
    expect(r.measurement.toString('hex')).toBe(MILAN.measurement);
    expect(r.hostData.equals(Buffer.alloc(32))).toBe(true);
    expect(r.reportedTcb.toString('hex')).toBe('0200000000000544');
    expect(decodeTcb(r.reportedTcb, 'Milan')).toEqual({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(r.chipId.toString('hex')).toBe(MILAN.chipId);
    expect(r.signatureAlgo).toBe(1);
    expect(r.body.length).toBe(0x2a0);
    expect(r.signature.length).toBe(96);
    expect(r.signaturePaddingClean).toBe(true);
  });

  it('reads the remaining fields at their ABI offsets', () => {
    expect(r.vmpl).toBe(0);
    expect(r.signingKey).toBe(0);
    expect(r.maskChipId).toBe(false);
    expect(r.cpuid).toBeUndefined();
    expect(r.launchMitVector).toBeUndefined();
    expect(r.currentVersion).toEqual({ build: 3, minor: 49, major: 1 });
    expect(decodeTcb(r.committedTcb, 'Milan')).toEqual({ bootloader: 2, tee: 0, snp: 5, microcode: 68 });
  });

  it('decodes the guest policy bits, DEBUG included', () => {
    expect(decodePolicy(r.policy)).toEqual({ abiMajor: 0, abiMinor: 0, smt: true, migrationAgent: false, debug: true, singleSocket: false, raw: '0x00000000000b0000' });
  });

  it('lays out Turin TCBs with the FMC byte first', () => {
    const tcb = { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 };
    expect(encodeTcb(tcb, 'Turin').toString('hex')).toBe('0102030000000405');
    expect(decodeTcb(encodeTcb(tcb, 'Turin'), 'Turin')).toEqual(tcb);
    expect(encodeTcb(tcb, 'Genoa').toString('hex')).toBe('0203000000000405');
  });

  it('refuses a report of the wrong size', async () => {
    await expectCode(() => parseSnpReport(Buffer.alloc(SNP_REPORT_SIZE - 1)), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => parseSnpReport(Buffer.alloc(SNP_REPORT_SIZE + 1)), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });
});
