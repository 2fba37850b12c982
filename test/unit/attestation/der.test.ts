import { describe, expect, it } from 'vitest';
import { TAG, children, decodeOid, decodeSmallInt, decodeTime, oid, readElement, readOnly, seq, time, uint } from '../../../src/attestation/der.ts';
import { expectCode } from './support.ts';

describe('DER codec', () => {
  it('round-trips OIDs, including large UUID arcs', () => {
    for (const o of ['1.2.840.113549.1.1.10', '2.25.68525416531086211201031285565286641773.1', '1.3.6.1.4.1.3704.1.3.8', '0.9.2342']) {
      expect(decodeOid(readOnly(oid(o), 'oid').content, 'oid')).toBe(o);
    }
  });

  it('round-trips integers and times (UTCTime before 2050, GeneralizedTime after)', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 65535, 2 ** 40]) expect(decodeSmallInt(readOnly(uint(n), 'int'), 'int')).toBe(n);
    for (const d of [new Date('2024-06-01T12:34:56Z'), new Date('2051-01-01T00:00:00Z'), new Date('1999-12-31T23:59:59Z')]) {
      expect(decodeTime(readOnly(time(d), 't'), 't').toISOString()).toBe(d.toISOString());
    }
    expect(readOnly(time(new Date('2051-01-01T00:00:00Z')), 't').tag).toBe(TAG.GENERALIZED_TIME);
  });

  it('reads nested structures and long lengths', () => {
    const big = seq(Buffer.from(Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? 0x05 : 0x00))));
    expect(children(readOnly(big, 'big'), 'big').length).toBe(150);
  });

  const bad: Array<[string, Buffer]> = [
    ['a truncated header', Buffer.from([0x30])],
    ['an indefinite length', Buffer.from([0x30, 0x80, 0, 0])],
    ['a length past the end', Buffer.from([0x04, 0x05, 1, 2])],
    ['a high tag number', Buffer.from([0x1f, 0x01, 0x00])],
    ['a length of five octets', Buffer.from([0x04, 0x85, 0, 0, 0, 0, 1])],
    ['a non-minimal long length', Buffer.from([0x04, 0x81, 0x01, 0x00])],
    ['a length with a leading zero octet', Buffer.from([0x04, 0x82, 0x00, 0x80, ...Buffer.alloc(0x80)])],
    ['trailing bytes', Buffer.from([0x05, 0x00, 0x00])],
  ];
  for (const [name, input] of bad) {
    it(`refuses ${name}`, async () => {
      await expectCode(() => readOnly(input, 'input'), 'SP_ATTEST_EVIDENCE_MALFORMED');
    });
  }

  it('refuses children of a primitive element and bad times and OIDs', async () => {
    await expectCode(() => children(readElement(Buffer.from([0x04, 0x00]), 0, 'x'), 'x'), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => decodeTime({ tag: TAG.UTC_TIME, raw: Buffer.alloc(0), content: Buffer.from('2401011200Z') }, 't'), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => decodeOid(Buffer.from([0x2a, 0x86]), 'oid'), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => decodeOid(Buffer.from([0x2a, 0x80, 0x01]), 'oid'), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });
});
