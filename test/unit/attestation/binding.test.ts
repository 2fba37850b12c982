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

  it('binds the key and the canonical claims for RA-TLS, in its own domain', () => {
    const claims = { role: 'agent', pod: 'ns/p' };
    const got = raTlsReportData({ spkiDer, claims });
    const want = createHash('sha512').update(Buffer.from('shadowplane/v1/ra-tls\0')).update(sha256(spkiDer)).update(sha256('{"pod":"ns/p","role":"agent"}')).digest();
    expect(got.equals(want)).toBe(true);
    expect(raTlsReportData({ spkiDer, claims: { pod: 'ns/p', role: 'agent' } }).equals(got)).toBe(true);
    expect(raTlsReportData({ spkiDer, claims: { role: 'agent', pod: 'ns/q' } }).equals(got)).toBe(false);
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
