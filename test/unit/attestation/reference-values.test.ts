import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadReferenceValues, parseReferenceValues, referenceValuesWarnings, MAX_REFERENCE_VALUES_BYTES } from '../../../src/attestation/index.ts';
import { expectCode } from './support.ts';

const M = 'AB'.repeat(48);
/** A pod policy digest (SNP HOST_DATA). */
const H = 'CD'.repeat(32);
/** A TDX entry's identity pins: MRCONFIGID and RTMR0–2. */
const TDX_PINS = { mrConfigId: 'C1'.repeat(48), rtmr0: 'A0'.repeat(48), rtmr1: 'A1'.repeat(48), rtmr2: 'A2'.repeat(48) };
/** A firmware floor, as every sev-snp entry must state one. */
const TCB = { bootloader: 3, tee: 0, snp: 14, microcode: 209 };
const snp = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ platform: 'sev-snp', measurements: [M], hostData: [H], minimumTcb: TCB, ...extra });

describe('reference values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-ref-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('normalises hex, fills documented defaults and freezes the result', () => {
    const r = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [`0x${M}`, M.toLowerCase()], hostData: H, minimumTcb: TCB }] }, 'test');
    expect(r.entries).toEqual([
      {
        name: 'sev-snp-0',
        platform: 'sev-snp',
        measurements: ['ab'.repeat(48)],
        hostData: ['cd'.repeat(32)],
        minimumTcb: { ...TCB, fmc: 0 },
        policy: { migrationAgent: false, smt: true, singleSocket: false, cxl: false, memAes256Xts: false, raplDisabled: false, ciphertextHiding: false, pageSwapDisabled: false },
        vmpl: 0,
        idKeyDigests: undefined,
        authorKeyDigests: undefined,
        familyIds: undefined,
        imageIds: undefined,
        minimumGuestSvn: undefined,
        chipIds: undefined,
        products: ['Milan', 'Genoa', 'Turin'],
        signingKeys: ['vcek', 'vlek'],
        simulatedRootSha256: undefined,
        unboundIdentity: false,
      },
    ]);
    expect(Object.isFrozen(r.entries[0])).toBe(true);
    expect(r.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same digest for the same content and a different one for different content', () => {
    const a = parseReferenceValues([snp()], 'a');
    const b = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M.toLowerCase()], hostData: [H.toLowerCase()], minimumTcb: TCB }] }, 'b');
    const c = parseReferenceValues([snp({ hostData: 'ef'.repeat(32) })], 'c');
    expect(a.digest).toBe(b.digest);
    expect(c.digest).not.toBe(a.digest);
  });

  it('parses TDX entries with their defaults', () => {
    const r = parseReferenceValues([{ platform: 'tdx', name: 'agent', mrtd: [M], ...TDX_PINS, rtmr1: M, acceptableTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] }], 'test');
    expect(r.entries[0]).toMatchObject({ platform: 'tdx', name: 'agent', rtmr1: ['ab'.repeat(48)], rtmr3: undefined, mrOwner: undefined, acceptableTcbStatuses: ['UpToDate', 'SWHardeningNeeded'], unboundIdentity: false });
    expect(r.entries[0]).toMatchObject({ tdAttributes: undefined, minimumTcbEvaluationDataNumber: undefined, xfam: undefined, mrSeam: undefined });
  });

  const cases: Array<[string, unknown, string]> = [
    ['a wrong version', { version: 2, entries: [] }, 'test: version: expected 1'],
    ['no entries', { version: 1, entries: [] }, 'entries: expected a list'],
    ['an unknown platform', [{ platform: 'sgx', measurements: [M] }], 'entries[0].platform: expected one of'],
    ['a short measurement', [{ platform: 'sev-snp', measurements: ['abcd'] }], 'entries[0].measurements[0]: expected 96 hex digits'],
    ['a missing measurement list', [{ platform: 'sev-snp' }], 'entries[0].measurements: is required'],
    ['an unknown field', [snp({ measurment: [M] })], 'entries[0].measurment: unknown field'],
    ['a debug setting', [{ platform: 'sev-snp', measurements: [M], policy: { debug: true } }], 'entries[0].policy.debug: debug must be off, always'],
    ['a TCB component out of range', [{ platform: 'sev-snp', measurements: [M], minimumTcb: { snp: 256 } }], 'entries[0].minimumTcb.snp: expected an integer'],
    ['an unknown product', [{ platform: 'sev-snp', measurements: [M], products: ['Rome'] }], 'entries[0].products[0]: expected one of'],
    ['a simulated entry without a pinned root', [{ platform: 'simulated', measurements: [M] }], 'entries[0].simulatedRootSha256: is required'],
    ['a pinned root on a sev-snp entry', [{ platform: 'sev-snp', measurements: [M], simulatedRootSha256: 'aa'.repeat(32) }], 'entries[0].simulatedRootSha256: only a simulated entry'],
    ['duplicate names', [snp({ name: 'x' }), snp({ name: 'x' })], "entries[1].name: duplicate entry name 'x'"],
    ['Revoked as an acceptable TDX status', [{ platform: 'tdx', mrtd: [M], acceptableTcbStatuses: ['Revoked'] }], 'entries[0].acceptableTcbStatuses[0]: expected one of'],
    ['a bad chip ID', [{ platform: 'sev-snp', measurements: [M], chipIds: ['abc'] }], 'entries[0].chipIds[0]: expected 128 or 16 hex digits'],
  ];
  for (const [name, doc, message] of cases) {
    it(`refuses ${name}, naming the field`, async () => {
      const err = await expectCode(() => parseReferenceValues(doc, 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain(message);
    });
  }

  describe('identity binding', () => {
    // Regression: hostData (SNP) and MRCONFIGID/RTMRs (TDX) used to be optional, so an entry
    // that pinned only the launch measurement accepted every pod of the same image, under
    // any pod policy, as the same identity.
    it('refuses an SEV-SNP or simulated entry that does not pin hostData, naming the field and the opt-out', async () => {
      for (const entry of [{ platform: 'sev-snp', measurements: [M] }, { platform: 'simulated', simulatedRootSha256: 'aa'.repeat(32), measurements: [M] }]) {
        const err = await expectCode(() => parseReferenceValues([entry], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
        expect(err.message).toContain('entries[0].hostData: must be pinned');
        expect(err.message).toContain('unboundIdentity: true');
      }
    });

    it('refuses an all-zero hostData on sev-snp (no policy was bound), and accepts it on simulated, whose reports carry zero host data', async () => {
      const err = await expectCode(() => parseReferenceValues([snp({ hostData: ['00'.repeat(32), H] })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain('entries[0].hostData: must be pinned to a non-zero value');
      expect(parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: 'aa'.repeat(32), measurements: [M], hostData: ['00'.repeat(32)] }], 'test').entries[0]).toMatchObject({ unboundIdentity: false });
    });

    it('refuses a TDX entry that does not pin MRCONFIGID and RTMR0–2 (RTMR3, extended at run time, stays optional)', async () => {
      for (const [missing, field] of [['mrConfigId', 'mrConfigId'], ['rtmr0', 'rtmr0'], ['rtmr1', 'rtmr1'], ['rtmr2', 'rtmr2']] as const) {
        const { [missing]: _dropped, ...rest } = TDX_PINS;
        const err = await expectCode(() => parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...rest }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
        expect(err.message).toContain(`entries[0].${field}: must be pinned`);
      }
      await expectCode(() => parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS, mrConfigId: '00'.repeat(48) }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS }], 'test').entries[0]).toMatchObject({ rtmr3: undefined, unboundIdentity: false });
    });

    it('accepts an unpinned entry only with unboundIdentity: true, and names what it leaves open in a loud warning', () => {
      const r = parseReferenceValues(
        [
          { name: 'pinned', ...snp() },
          { name: 'open-snp', platform: 'sev-snp', measurements: [M], minimumTcb: TCB, unboundIdentity: true },
          { name: 'open-tdx', platform: 'tdx', mrtd: [M], rtmr0: TDX_PINS.rtmr0, unboundIdentity: true },
        ],
        'ref.yaml',
      );
      expect(r.entries.map((e) => e.unboundIdentity)).toEqual([false, true, true]);
      const lines = referenceValuesWarnings(r);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain("reference entry 'open-snp' of ref.yaml sets unboundIdentity: hostData not pinned");
      expect(lines[1]).toContain("'open-tdx'");
      expect(lines[1]).toContain('mrConfigId, rtmr1, rtmr2 not pinned');
      expect(referenceValuesWarnings(parseReferenceValues([snp()], 'x'))).toEqual([]);
    });

    it('refuses unboundIdentity on an entry that pins everything, and a non-boolean opt-out', async () => {
      const err = await expectCode(() => parseReferenceValues([snp({ unboundIdentity: true })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain('entries[0].unboundIdentity: every identity field is pinned');
      await expectCode(() => parseReferenceValues([{ platform: 'sev-snp', measurements: [M], unboundIdentity: 'yes' }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    });
  });

  describe('SEV-SNP firmware floor', () => {
    // Regression: minimumTcb defaulted to all zero without a word, so a sev-snp entry that
    // did not mention it accepted any firmware and microcode, published vulnerabilities included.
    it('refuses a sev-snp entry without minimumTcb, naming the field and the explicit opt-out', async () => {
      const { minimumTcb: _dropped, ...rest } = snp();
      const err = await expectCode(() => parseReferenceValues([rest], 'ref.yaml'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain('ref.yaml: entries[0].minimumTcb: is required on sev-snp');
      expect(err.message).toContain('explicit all-zero');
    });

    it('refuses a sev-snp minimumTcb that leaves out a component, and reports a misspelt one as unknown', async () => {
      const err = await expectCode(() => parseReferenceValues([snp({ minimumTcb: { bootloader: 3, snp: 14 } })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain('entries[0].minimumTcb.tee: is required on sev-snp (missing: tee, microcode)');
      const typo = await expectCode(() => parseReferenceValues([snp({ minimumTcb: { ...TCB, microcod: 1 } })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(typo.message).toContain('entries[0].minimumTcb.microcod: unknown field');
      const misspelt = await expectCode(() => parseReferenceValues([{ ...snp({ minimumTcb: undefined }), minimumTCB: TCB }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(misspelt.message).toContain('entries[0].minimumTCB: unknown field');
    });

    it('keeps fmc optional (Turin only, default 0) and simulated entries exempt', () => {
      expect(parseReferenceValues([snp()], 'test').entries[0]).toMatchObject({ minimumTcb: { ...TCB, fmc: 0 } });
      const sim = parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: 'aa'.repeat(32), measurements: [M], hostData: [H] }], 'test');
      expect(sim.entries[0]).toMatchObject({ minimumTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0, fmc: 0 } });
      expect(referenceValuesWarnings(sim)).toEqual([]);
    });

    it('accepts an explicit all-zero minimumTcb on sev-snp and announces it loudly at start', () => {
      const r = parseReferenceValues([snp({ name: 'any-firmware', minimumTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }), snp({ name: 'floored' })], 'ref.yaml');
      const lines = referenceValuesWarnings(r);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("reference entry 'any-firmware' of ref.yaml sets an all-zero minimumTcb: any SEV-SNP firmware and microcode is accepted");
      expect(referenceValuesWarnings(parseReferenceValues([snp({ minimumTcb: { ...TCB, bootloader: 0, snp: 0, microcode: 0, tee: 1 } })], 'x'))).toEqual([]);
    });
  });

  describe('TDX attributes and collateral floor', () => {
    it('parses a masked tdAttributes pin and a minimumTcbEvaluationDataNumber, normalised', () => {
      const r = parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS, tdAttributes: { value: '0x0000000010000000', mask: '0x00000000F0000000' }, minimumTcbEvaluationDataNumber: 18 }], 'test');
      expect(r.entries[0]).toMatchObject({ tdAttributes: { value: '0000000010000000', mask: '00000000f0000000' }, minimumTcbEvaluationDataNumber: 18 });
    });

    it('refuses a tdAttributes pin that no TD could match: bits outside the mask, DEBUG or MIGRATABLE required', async () => {
      const pin = (value: string, mask: string) => () => parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS, tdAttributes: { value, mask } }], 'test');
      expect((await expectCode(pin('0000000010000000', '0000000000000000'), 'SP_ATTEST_REFERENCE_VALUES_INVALID')).message).toContain('entries[0].tdAttributes.value: sets bits outside mask');
      expect((await expectCode(pin('0000000000000001', 'ffffffffffffffff'), 'SP_ATTEST_REFERENCE_VALUES_INVALID')).message).toContain('requires DEBUG');
      expect((await expectCode(pin('0000000020000000', 'ffffffffffffffff'), 'SP_ATTEST_REFERENCE_VALUES_INVALID')).message).toContain('requires MIGRATABLE');
      expect((await expectCode(pin('10000000', 'ffffffff'), 'SP_ATTEST_REFERENCE_VALUES_INVALID')).message).toContain('expected 16 hex digits');
      await expectCode(() => parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS, tdAttributes: { value: '0000000010000000' } }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    });

    it('refuses a minimumTcbEvaluationDataNumber that is not a small non-negative integer', async () => {
      for (const bad of [-1, 1.5, '18', 70_000]) {
        const err = await expectCode(() => parseReferenceValues([{ platform: 'tdx', mrtd: [M], ...TDX_PINS, minimumTcbEvaluationDataNumber: bad }], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
        expect(err.message).toContain('entries[0].minimumTcbEvaluationDataNumber: expected an integer from 0 to 65535');
      }
    });
  });

  describe('SEV-SNP guest policy bits and ID block pins', () => {
    const KEY = 'A1'.repeat(48);
    it('parses the policy bits, the ID and author key digests, family and image IDs and minimumGuestSvn, normalised, on sev-snp and simulated', () => {
      const pins = {
        policy: { cxl: true, memAes256Xts: true, raplDisabled: true, ciphertextHiding: true, pageSwapDisabled: true },
        idKeyDigests: `0x${KEY}`,
        authorKeyDigests: [KEY, KEY.toLowerCase()],
        familyIds: ['00112233445566778899AABBCCDDEEFF'],
        imageIds: '0xFFEEDDCCBBAA99887766554433221100',
        minimumGuestSvn: 4_294_967_295,
      };
      const expected = {
        policy: { migrationAgent: false, smt: true, singleSocket: false, cxl: true, memAes256Xts: true, raplDisabled: true, ciphertextHiding: true, pageSwapDisabled: true },
        idKeyDigests: ['a1'.repeat(48)],
        authorKeyDigests: ['a1'.repeat(48)],
        familyIds: ['00112233445566778899aabbccddeeff'],
        imageIds: ['ffeeddccbbaa99887766554433221100'],
        minimumGuestSvn: 4_294_967_295,
      };
      expect(parseReferenceValues([snp(pins)], 'test').entries[0]).toMatchObject(expected);
      expect(parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: 'aa'.repeat(32), measurements: [M], hostData: [H], ...pins }], 'test').entries[0]).toMatchObject(expected);
    });

    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['a short ID key digest', { idKeyDigests: ['ab'.repeat(32)] }, 'entries[0].idKeyDigests[0]: expected 96 hex digits'],
      ['a non-hex author key digest', { authorKeyDigests: ['zz'.repeat(48)] }, 'entries[0].authorKeyDigests[0]: expected 96 hex digits'],
      ['an all-zero ID key digest (no ID block)', { idKeyDigests: [KEY, '00'.repeat(48)] }, 'entries[0].idKeyDigests[1]: is all zero, which is what a report carries when the launch had no ID block'],
      ['an all-zero author key digest', { authorKeyDigests: ['00'.repeat(48)] }, 'entries[0].authorKeyDigests[0]: is all zero, which is what a report carries when the launch had no author key'],
      ['an empty ID key list', { idKeyDigests: [] }, 'entries[0].idKeyDigests: expected a list of 1 to 1024 hex values'],
      ['a family ID of 15 bytes', { idKeyDigests: [KEY], familyIds: ['00'.repeat(15)] }, 'entries[0].familyIds[0]: expected 32 hex digits'],
      ['an image ID that is not a string', { idKeyDigests: [KEY], imageIds: [42] }, 'entries[0].imageIds[0]: expected 32 hex digits'],
      ['a negative minimumGuestSvn', { idKeyDigests: [KEY], minimumGuestSvn: -1 }, 'entries[0].minimumGuestSvn: expected an integer from 0 to 4294967295'],
      ['a fractional minimumGuestSvn', { idKeyDigests: [KEY], minimumGuestSvn: 1.5 }, 'entries[0].minimumGuestSvn: expected an integer from 0 to 4294967295'],
      ['a minimumGuestSvn as a string', { idKeyDigests: [KEY], minimumGuestSvn: '3' }, 'entries[0].minimumGuestSvn: expected an integer from 0 to 4294967295'],
      ['a minimumGuestSvn beyond 32 bits', { idKeyDigests: [KEY], minimumGuestSvn: 2 ** 32 }, 'entries[0].minimumGuestSvn: expected an integer from 0 to 4294967295'],
      ['a non-boolean policy bit', { policy: { cxl: 'no' } }, 'entries[0].policy.cxl: expected true or false'],
      ['familyIds without a pinned signer', { familyIds: ['00'.repeat(16)] }, 'entries[0].familyIds: comes from the ID block, which whoever signs it writes: pin the signer too (idKeyDigests or authorKeyDigests)'],
      ['imageIds without a pinned signer', { imageIds: ['00'.repeat(16)] }, 'entries[0].imageIds: comes from the ID block'],
      ['minimumGuestSvn without a pinned signer', { minimumGuestSvn: 2 }, 'entries[0].minimumGuestSvn: comes from the ID block'],
    ];
    for (const [name, extra, message] of cases) {
      it(`refuses ${name}, naming the field`, async () => {
        const err = await expectCode(() => parseReferenceValues([snp(extra)], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
        expect(err.message).toContain(message);
      });
    }

    it('reports a misspelt signer pin or policy bit as an unknown field, not as a missing signer, where the right spelling parses', async () => {
      expect(parseReferenceValues([snp({ idKeyDigests: [KEY], familyIds: ['00'.repeat(16)], policy: { ciphertextHiding: true } })], 'test').entries[0]).toMatchObject({ policy: { ciphertextHiding: true } });
      const signer = await expectCode(() => parseReferenceValues([snp({ idKeyDigest: [KEY], familyIds: ['00'.repeat(16)] })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(signer.message).toContain('entries[0].idKeyDigest: unknown field');
      const bit = await expectCode(() => parseReferenceValues([snp({ policy: { ciphertextHidding: true } })], 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(bit.message).toContain('entries[0].policy.ciphertextHidding: unknown field');
    });

    it('accepts family and image IDs and a guest SVN floor under an author key pin alone', () => {
      const r = parseReferenceValues([snp({ authorKeyDigests: [KEY], familyIds: ['01'.repeat(16)], imageIds: ['02'.repeat(16)], minimumGuestSvn: 0 })], 'test');
      expect(r.entries[0]).toMatchObject({ idKeyDigests: undefined, minimumGuestSvn: 0 });
    });
  });

  describe('TDX MRSEAM and XFAM pins', () => {
    const tdx = (extra: Record<string, unknown>) => [{ platform: 'tdx', mrtd: [M], ...TDX_PINS, ...extra }];
    it('parses mrSeam and a masked xfam pin, normalised', () => {
      const r = parseReferenceValues(tdx({ mrSeam: `0x${'2F'.repeat(48)}`, xfam: { value: '0x00000000000602E7', mask: 'FFFFFFFFFFFFFFFF' } }), 'test');
      expect(r.entries[0]).toMatchObject({ mrSeam: ['2f'.repeat(48)], xfam: { value: '00000000000602e7', mask: 'ffffffffffffffff' } });
    });

    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['a short MRSEAM', { mrSeam: ['2f'.repeat(32)] }, 'entries[0].mrSeam[0]: expected 96 hex digits'],
      ['an XFAM value with bits outside its mask', { xfam: { value: '00000000000602e7', mask: '00000000000000ff' } }, 'entries[0].xfam.value: sets bits outside mask'],
      ['an XFAM pin without a mask', { xfam: { value: '00000000000602e7' } }, 'entries[0].xfam.mask: is required'],
      ['an XFAM value of 8 hex digits', { xfam: { value: '000602e7', mask: 'ffffffffffffffff' } }, 'entries[0].xfam.value: expected 16 hex digits'],
      ['an unknown XFAM key', { xfam: { value: '00000000000602e7', mask: 'ffffffffffffffff', exact: true } }, 'entries[0].xfam.exact: unknown field'],
      ['an XFAM that is not a mapping', { xfam: '00000000000602e7' }, 'entries[0].xfam: expected a mapping'],
    ];
    for (const [name, extra, message] of cases) {
      it(`refuses ${name}, naming the field`, async () => {
        const err = await expectCode(() => parseReferenceValues(tdx(extra), 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
        expect(err.message).toContain(message);
      });
    }
  });

  it('loads YAML and JSON files', () => {
    const yamlPath = join(dir, 'ref.yaml');
    writeFileSync(yamlPath, `version: 1\nentries:\n  - platform: sev-snp\n    measurements: [${M}]\n    hostData: [${H}]\n    minimumTcb: { bootloader: 3, tee: 0, snp: 8, microcode: 209 }\n`);
    expect(loadReferenceValues(yamlPath).entries[0]).toMatchObject({ minimumTcb: { snp: 8 } });
    const jsonPath = join(dir, 'ref.json');
    writeFileSync(jsonPath, JSON.stringify({ version: 1, entries: [snp()] }));
    expect(loadReferenceValues(jsonPath).source).toBe(jsonPath);
  });

  it('refuses unreadable, unparsable, aliased and oversized files', async () => {
    await expectCode(() => loadReferenceValues(join(dir, 'missing.yaml')), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: [1\n');
    await expectCode(() => loadReferenceValues(bad), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    // Where it failed, never what the line holds.
    writeFileSync(bad, 'version: 1\nentries:\n  - platform: sev-snp\n   hostData: [hunter2\n');
    const where = await expectCode(() => loadReferenceValues(bad), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    expect(where.message).toMatch(/: not valid YAML or JSON at line 4, column 1 \(MISSING_CHAR\)$/);
    expect(where.message).not.toContain('hunter2');
    const alias = join(dir, 'alias.yaml');
    writeFileSync(alias, `m: &m ${M}\nversion: 1\nentries: [{ platform: sev-snp, measurements: [*m], hostData: [${H}] }]\n`);
    await expectCode(() => loadReferenceValues(alias), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(MAX_REFERENCE_VALUES_BYTES)}\n`);
    await expectCode(() => loadReferenceValues(big), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
  });
});

describe('docs/reference-values.md', () => {
  it('has an example that validates', () => {
    const doc = readFileSync(new URL('../../../docs/reference-values.md', import.meta.url), 'utf8');
    const example = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const r = parseReferenceValues(parseYaml(example!) as unknown, 'docs example');
    expect(r.entries.map((e) => e.platform)).toEqual(['sev-snp', 'tdx']);
  });
});
