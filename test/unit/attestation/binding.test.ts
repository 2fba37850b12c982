import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attestReportData, canonicalClaimsJson, raTlsReportData } from '../../../src/attestation/index.ts';
import { expectCode } from './support.ts';

const spkiDer = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

describe('report data bindings', () => {
  it('binds the serving key, the manifest digest and the nonce for the attestation endpoint, exactly as specified', () => {
    const manifestDigest = Buffer.alloc(32, 0x11);
    const nonce = Buffer.alloc(32, 0x22);
    const got = attestReportData({ spkiDer, manifestDigest, nonce });
    const want = createHash('sha512').update(Buffer.from('shadowplane/v1/attest\0')).update(sha256(spkiDer)).update(manifestDigest).update(nonce).digest();
    expect(got.length).toBe(64);
    expect(got.equals(want)).toBe(true);
    expect(attestReportData({ spkiDer, manifestDigest, nonce: Buffer.alloc(32, 0x23) }).equals(got)).toBe(false);
  });

  it('refuses a manifest digest or nonce that is not 32 bytes', async () => {
    await expectCode(() => attestReportData({ spkiDer, manifestDigest: Buffer.alloc(31), nonce: Buffer.alloc(32) }), 'SP_INTERNAL');
    await expectCode(() => attestReportData({ spkiDer, manifestDigest: Buffer.alloc(32), nonce: Buffer.alloc(33) }), 'SP_INTERNAL');
  });

  it('binds the key, the canonical claims and the validity period for RA-TLS, in its own (v2) domain', () => {
    const claims = { role: 'agent', pod: 'ns/p' };
    const notBefore = new Date('2025-01-02T03:04:05Z');
    const notAfter = new Date('2025-01-03T03:04:05Z');
    const got = raTlsReportData({ spkiDer, claims, notBefore, notAfter });
    const u64 = (d: Date) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(d.getTime() / 1000));
      return b;
    };
    const want = createHash('sha512')
      .update(Buffer.from('shadowplane/v2/ra-tls\0'))
      .update(sha256(spkiDer))
      .update(sha256('{"pod":"ns/p","role":"agent"}'))
      .update(u64(notBefore))
      .update(u64(notAfter))
      .digest();
    expect(got.equals(want)).toBe(true);
    expect(u64(notBefore).toString('hex')).toBe('0000000067760225');
    expect(raTlsReportData({ spkiDer, claims: { pod: 'ns/p', role: 'agent' }, notBefore, notAfter }).equals(got)).toBe(true);
    expect(raTlsReportData({ spkiDer, claims: { role: 'agent', pod: 'ns/q' }, notBefore, notAfter }).equals(got)).toBe(false);
    // Any other validity is another binding, by a single second at either end.
    expect(raTlsReportData({ spkiDer, claims, notBefore: new Date(notBefore.getTime() + 1000), notAfter }).equals(got)).toBe(false);
    expect(raTlsReportData({ spkiDer, claims, notBefore, notAfter: new Date(notAfter.getTime() + 1000) }).equals(got)).toBe(false);
    // The old (v1) binding of the same key and claims is not this one.
    const v1 = createHash('sha512').update(Buffer.from('shadowplane/v1/ra-tls\0')).update(sha256(spkiDer)).update(sha256('{"pod":"ns/p","role":"agent"}')).digest();
    expect(v1.equals(got)).toBe(false);
  });

  it('refuses RA-TLS validity bounds that a certificate cannot carry exactly (SP_INTERNAL)', async () => {
    const claims = {};
    const t = new Date('2025-01-02T03:04:05Z');
    await expectCode(() => raTlsReportData({ spkiDer, claims, notBefore: new Date(t.getTime() + 1), notAfter: new Date(t.getTime() + 60_000) }), 'SP_INTERNAL');
    await expectCode(() => raTlsReportData({ spkiDer, claims, notBefore: t, notAfter: new Date(Number.NaN) }), 'SP_INTERNAL');
    await expectCode(() => raTlsReportData({ spkiDer, claims, notBefore: new Date(-1000), notAfter: t }), 'SP_INTERNAL');
    await expectCode(() => raTlsReportData({ spkiDer, claims, notBefore: t, notAfter: t }), 'SP_INTERNAL');
  });

  it('renders claims canonically: sorted keys, no whitespace, JSON escapes', () => {
    expect(canonicalClaimsJson({ b: '2', a: 'x"y\n', é: '' })).toBe('{"a":"x\\"y\\n","b":"2","é":""}');
    expect(canonicalClaimsJson({})).toBe('{}');
  });

  it('refuses claims that are too many, too long or not strings', async () => {
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
    await expectCode(() => canonicalClaimsJson(many), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => canonicalClaimsJson({ k: 'v'.repeat(1025) }), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => canonicalClaimsJson({ k: 1 } as unknown as Record<string, string>), 'SP_ATTEST_EVIDENCE_MALFORMED');
    await expectCode(() => canonicalClaimsJson({ '': 'v' }), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });
});
