/**
 * The evidence pins that go-sev-guest and go-tdx-guest let owners set and shadowplane's
 * reference values could not express: SEV-SNP guest policy bits 21–25 (and the reserved bits
 * above them), the ID block (ID and author key digests, family and image IDs, guest SVN),
 * and TDX MRSEAM and XFAM. Each is shown accepting and refusing, through the whole verifier,
 * on simulated or Intel-shaped test evidence. The real evidence cannot show a pin at work:
 * the Milan report is refused for DEBUG and the Sapphire Rapids quote for its TCB before any
 * entry is judged. What the Milan report can show is that the new policy defaults leave it
 * as it was.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SIMULATED_DEFAULT_MEASUREMENT, parseReferenceValues, signSimulatedReport, verifyEvidence, type Evidence, type ReferenceValues, type SimulatedChain } from '../../../src/attestation/index.ts';
import type { SnpReferenceEntry } from '../../../src/attestation/reference-values.ts';
import { SNP_OFFSET, parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { snpPolicyRefusal } from '../../../src/attestation/verify.ts';
import { pemToDer } from '../../../src/attestation/x509.ts';
import { MILAN, chainFor, expectCode, fixture, resigned, simulatedReference } from './support.ts';
import { verifyEvidenceWithAnchors } from './tdx-support.ts';
import { FORGED_IDENTITY, MRTD, forgeEvidence, forgeTdxPlatform } from './tdx-forge.ts';

const M = SIMULATED_DEFAULT_MEASUREMENT;
const RD = Buffer.alloc(64, 0x5c);
/** The simulator's default guest policy: SMT allowed, reserved bit 17. */
const BASE_POLICY = 0x30000n;
const bit = (n: number): bigint => 1n << BigInt(n);

function evidenceFrom(chain: SimulatedChain, over: Partial<Parameters<typeof signSimulatedReport>[0]> = {}): Evidence {
  const report = signSimulatedReport({ product: chain.product, reportData: RD, measurement: Buffer.from(M, 'hex'), tcb: chain.tcb, chipId: chain.hwId, ...over }, chain.vcek.key);
  return { platform: 'simulated', report, certificates: [chain.vcek.der, chain.ask.der, chain.ark.der] };
}

/** Evidence whose launch had an ID block signed by `idKey` (48-byte digest) and, if given, an author key. */
function withIdBlock(chain: SimulatedChain, e: Evidence, idKey: Buffer, author?: { digest: Buffer; enabled: boolean }): Evidence {
  return resigned(e, chain.vcek.key, (b) => {
    idKey.copy(b, SNP_OFFSET.idKeyDigest);
    if (author !== undefined) {
      author.digest.copy(b, SNP_OFFSET.authorKeyDigest);
      b.writeUInt32LE((b.readUInt32LE(SNP_OFFSET.flags) & ~1) | (author.enabled ? 1 : 0), SNP_OFFSET.flags);
    }
  });
}

const ID_KEY = Buffer.alloc(48, 0xa1);
const OTHER_KEY = 'b2'.repeat(48);
const AUTHOR_KEY = Buffer.alloc(48, 0xc3);
const FAMILY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const IMAGE = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');

describe('SEV-SNP guest policy bits 21–25', () => {
  let chain: SimulatedChain;
  beforeAll(async () => {
    chain = await chainFor();
  });
  const verify = (e: Evidence, extra: Record<string, unknown> = {}) => verifyEvidence(e, { reportData: RD, reference: simulatedReference(chain, M, extra), allowSimulated: true });

  it('refuses a guest policy with CXL_ALLOW by default (a relaxation), and accepts it only with policy.cxl: true', async () => {
    const cxl = evidenceFrom(chain, { policy: BASE_POLICY | bit(21) });
    const err = await expectCode(() => verify(cxl), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('guest policy 0x0000000000230000 sets CXL_ALLOW');
    expect(err.message).toContain('(policy.cxl)');
    expect((await verify(cxl, { policy: { cxl: true } })).policy).toBe('0x0000000000230000');
    // Accepting it does not require it.
    expect((await verify(evidenceFrom(chain), { policy: { cxl: true } })).policy).toBe('0x0000000000030000');
  });

  for (const [field, n, name] of [
    ['memAes256Xts', 22, 'MEM_AES_256_XTS'],
    ['raplDisabled', 23, 'RAPL_DIS'],
    ['ciphertextHiding', 24, 'CIPHERTEXT_HIDING_DRAM'],
    ['pageSwapDisabled', 25, 'PAGE_SWAP_DISABLE'],
  ] as const) {
    it(`does not require ${name} by default, refuses a guest policy without it when policy.${field} is true, and accepts one with it`, async () => {
      const hardened = evidenceFrom(chain, { policy: BASE_POLICY | bit(n) });
      expect((await verify(evidenceFrom(chain))).referenceName).toBe('sim');
      expect((await verify(hardened)).referenceName).toBe('sim');
      const err = await expectCode(() => verify(evidenceFrom(chain), { policy: { [field]: true } }), 'SP_ATTEST_POLICY_MISMATCH');
      expect(err.message).toContain(`guest policy 0x0000000000030000 does not set ${name}`);
      expect(err.message).toContain(`the reference values require it (policy.${field})`);
      expect((await verify(hardened, { policy: { [field]: true } })).policy).toBe(`0x${(BASE_POLICY | bit(n)).toString(16).padStart(16, '0')}`);
    });
  }

  it('refuses a guest policy with a reserved bit (26–63) set, whatever the entry accepts', async () => {
    const all = { policy: { migrationAgent: true, cxl: true } };
    for (const n of [26, 40, 63]) {
      const err = await expectCode(() => verify(evidenceFrom(chain, { policy: BASE_POLICY | bit(n) }), all), 'SP_ATTEST_POLICY_MISMATCH');
      expect(err.message).toContain('sets reserved bits (26–63)');
    }
  });

  it('leaves the real Milan report as it was: its policy 0x00000000000b0000 sets none of bits 21–63, so only DEBUG refuses it', async () => {
    const policy = parseSnpReport(fixture('sev-snp/milan-report.bin')).policy;
    expect(policy).toBe(0xb0000n);
    const defaults = parseReferenceValues([{ platform: 'sev-snp', measurements: [MILAN.measurement], minimumTcb: MILAN.tcb, unboundIdentity: true }], 'test');
    const entry = defaults.entries[0] as SnpReferenceEntry;
    expect(snpPolicyRefusal(policy, entry.policy)).toBeUndefined();
    // Requiring a hardening bit it lacks would refuse it.
    expect(snpPolicyRefusal(policy, { ...entry.policy, ciphertextHiding: true })).toContain('does not set CIPHERTEXT_HIDING_DRAM');
    const [ask, ark] = pemToDer(fixture('sev-snp/ask_ark_milan.pem').toString('latin1'));
    const milan: Evidence = { platform: 'sev-snp', report: fixture('sev-snp/milan-report.bin'), certificates: [fixture('sev-snp/milan-vcek.der'), ask!, ark!] };
    await expectCode(() => verifyEvidence(milan, { reportData: MILAN.reportData, reference: defaults, now: MILAN.now }), 'SP_ATTEST_DEBUG_ENABLED');
  });
});

describe('SEV-SNP ID block pins', () => {
  let chain: SimulatedChain;
  beforeAll(async () => {
    chain = await chainFor();
  });
  const verify = (e: Evidence, extra: Record<string, unknown> = {}) => verifyEvidence(e, { reportData: RD, reference: simulatedReference(chain, M, extra), allowSimulated: true });

  it('accepts a launch signed by a pinned ID key and refuses another ID key, or none, with SP_ATTEST_POLICY_MISMATCH', async () => {
    const signed = withIdBlock(chain, evidenceFrom(chain), ID_KEY);
    expect((await verify(signed, { idKeyDigests: [ID_KEY.toString('hex')] })).snp?.idKeyDigest).toBe(ID_KEY.toString('hex'));
    const err = await expectCode(() => verify(signed, { idKeyDigests: [OTHER_KEY] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('ID key digest a1a1a1a1… is not one of the 1 reference ID key digest (idKeyDigests)');
    await expectCode(() => verify(evidenceFrom(chain), { idKeyDigests: [ID_KEY.toString('hex')] }), 'SP_ATTEST_POLICY_MISMATCH');
    // Unpinned: any ID key, or none.
    expect((await verify(signed)).referenceName).toBe('sim');
  });

  it('accepts an ID key signed by a pinned author key, and refuses another author key or a report without AUTHOR_KEY_EN', async () => {
    const pin = { authorKeyDigests: [AUTHOR_KEY.toString('hex')] };
    const authored = withIdBlock(chain, evidenceFrom(chain), ID_KEY, { digest: AUTHOR_KEY, enabled: true });
    expect((await verify(authored, pin)).snp?.authorKeyDigest).toBe(AUTHOR_KEY.toString('hex'));
    const other = await expectCode(() => verify(authored, { authorKeyDigests: [OTHER_KEY] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(other.message).toContain('author key digest c3c3c3c3… is not one of the 1 reference author key digest (authorKeyDigests)');
    // The same digest without AUTHOR_KEY_EN: the firmware checked no author signature.
    const notEnabled = withIdBlock(chain, evidenceFrom(chain), ID_KEY, { digest: AUTHOR_KEY, enabled: false });
    const err = await expectCode(() => verify(notEnabled, pin), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('AUTHOR_KEY_EN clear');
    // Both pinned: both must match.
    await expectCode(() => verify(authored, { ...pin, idKeyDigests: [OTHER_KEY] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect((await verify(authored, { ...pin, idKeyDigests: [ID_KEY.toString('hex')] })).referenceName).toBe('sim');
  });

  it('accepts the pinned family and image IDs under a pinned ID key, and refuses others with SP_ATTEST_POLICY_MISMATCH', async () => {
    const e = withIdBlock(chain, evidenceFrom(chain, { familyId: FAMILY, imageId: IMAGE }), ID_KEY);
    const key = { idKeyDigests: [ID_KEY.toString('hex')] };
    const v = await verify(e, { ...key, familyIds: [FAMILY.toString('hex')], imageIds: ['00'.repeat(16), IMAGE.toString('hex')] });
    expect([v.snp?.familyId, v.snp?.imageId]).toEqual([FAMILY.toString('hex'), IMAGE.toString('hex')]);
    const family = await expectCode(() => verify(e, { ...key, familyIds: ['11'.repeat(16)] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(family.message).toContain('family ID 00112233… is not one of the 1 reference family ID (familyIds)');
    const image = await expectCode(() => verify(e, { ...key, imageIds: ['11'.repeat(16), '22'.repeat(16)] }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(image.message).toContain('image ID ffeeddcc… is not one of the 2 reference image IDs (imageIds)');
  });

  it('accepts a guest SVN at the minimumGuestSvn and refuses one below it with SP_ATTEST_TCB_TOO_LOW', async () => {
    const e = withIdBlock(chain, evidenceFrom(chain, { guestSvn: 3 }), ID_KEY);
    const key = { idKeyDigests: [ID_KEY.toString('hex')] };
    expect((await verify(e, { ...key, minimumGuestSvn: 3 })).snp?.guestSvn).toBe(3);
    const err = await expectCode(() => verify(e, { ...key, minimumGuestSvn: 4 }), 'SP_ATTEST_TCB_TOO_LOW');
    expect(err.message).toContain('guest SVN 3 is below the minimum 4 (minimumGuestSvn)');
  });
});

describe('TDX MRSEAM and XFAM pins, on an Intel-shaped test quote (MRSEAM 22…22, XFAM 0x00000000000602e7)', () => {
  const now = new Date();
  const forge = forgeTdxPlatform({ now });
  const TD_RD = Buffer.alloc(64, 0x42);
  const reference = (extra: Record<string, unknown>): ReferenceValues => parseReferenceValues([{ platform: 'tdx', mrtd: [MRTD.toString('hex')], ...FORGED_IDENTITY, ...extra }], 'test');
  const verify = (extra: Record<string, unknown>) => verifyEvidenceWithAnchors(forgeEvidence(forge, { reportData: TD_RD }), { reportData: TD_RD, reference: reference(extra), now }, forge.anchors);

  it('accepts a listed MRSEAM and refuses another with SP_ATTEST_MEASUREMENT_MISMATCH', async () => {
    expect(verify({ mrSeam: ['33'.repeat(48), '22'.repeat(48)] }).tdx?.mrSeam).toBe('22'.repeat(48));
    const err = await expectCode(() => verify({ mrSeam: ['33'.repeat(48)] }), 'SP_ATTEST_MEASUREMENT_MISMATCH');
    expect(err.message).toContain("MRSEAM 22222222… (the TDX module's measurement) is not one of the 1 reference MRSEAM value (mrSeam)");
  });

  it('accepts an XFAM that matches the masked pin and refuses one that does not with SP_ATTEST_POLICY_MISMATCH', async () => {
    expect(verify({ xfam: { value: '00000000000602e7', mask: 'ffffffffffffffff' } }).tdx?.xfam).toBe('0x00000000000602e7');
    // Forbid PKRU (bit 9), which this TD has.
    const err = await expectCode(() => verify({ xfam: { value: '0000000000000000', mask: '0000000000000200' } }), 'SP_ATTEST_POLICY_MISMATCH');
    expect(err.message).toContain('XFAM 0x00000000000602e7 under mask 0x0000000000000200 is not the reference value 0x0000000000000000 (xfam)');
    // Forbidding PT (bit 8) and CET (bits 11–12), which it lacks, accepts it.
    expect(verify({ xfam: { value: '0000000000000000', mask: '0000000000001900' } }).referenceName).toBe('tdx-0');
  });
});
