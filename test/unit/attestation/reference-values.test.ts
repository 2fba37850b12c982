import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadReferenceValues, parseReferenceValues, MAX_REFERENCE_VALUES_BYTES } from '../../../src/attestation/index.ts';
import { expectCode } from './support.ts';

const M = 'AB'.repeat(48);

describe('reference values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-ref-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('normalises hex, fills documented defaults and freezes the result', () => {
    const r = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [`0x${M}`, M.toLowerCase()] }] }, 'test');
    expect(r.entries).toEqual([
      {
        name: 'sev-snp-0',
        platform: 'sev-snp',
        measurements: ['ab'.repeat(48)],
        hostData: undefined,
        minimumTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0, fmc: 0 },
        policy: { migrationAgent: false, smt: true, singleSocket: false },
        vmpl: undefined,
        chipIds: undefined,
        products: ['Milan', 'Genoa', 'Turin'],
        signingKeys: ['vcek', 'vlek'],
        simulatedRootSha256: undefined,
      },
    ]);
    expect(Object.isFrozen(r.entries[0])).toBe(true);
    expect(r.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same digest for the same content and a different one for different content', () => {
    const a = parseReferenceValues([{ platform: 'sev-snp', measurements: [M] }], 'a');
    const b = parseReferenceValues({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M.toLowerCase()] }] }, 'b');
    const c = parseReferenceValues([{ platform: 'sev-snp', measurements: [M], hostData: '00'.repeat(32) }], 'c');
    expect(a.digest).toBe(b.digest);
    expect(c.digest).not.toBe(a.digest);
  });

  it('parses TDX entries with their defaults', () => {
    const r = parseReferenceValues([{ platform: 'tdx', name: 'agent', mrtd: [M], rtmr1: M, acceptableTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] }], 'test');
    expect(r.entries[0]).toMatchObject({ platform: 'tdx', name: 'agent', rtmr1: ['ab'.repeat(48)], rtmr0: undefined, acceptableTcbStatuses: ['UpToDate', 'SWHardeningNeeded'] });
  });

  const cases: Array<[string, unknown, string]> = [
    ['a wrong version', { version: 2, entries: [] }, 'test: version: expected 1'],
    ['no entries', { version: 1, entries: [] }, 'entries: expected a list'],
    ['an unknown platform', [{ platform: 'sgx', measurements: [M] }], 'entries[0].platform: expected one of'],
    ['a short measurement', [{ platform: 'sev-snp', measurements: ['abcd'] }], 'entries[0].measurements[0]: expected 96 hex digits'],
    ['a missing measurement list', [{ platform: 'sev-snp' }], 'entries[0].measurements: is required'],
    ['an unknown field', [{ platform: 'sev-snp', measurements: [M], measurment: [M] }], 'entries[0].measurment: unknown field'],
    ['a debug setting', [{ platform: 'sev-snp', measurements: [M], policy: { debug: true } }], 'entries[0].policy.debug: debug must be off, always'],
    ['a TCB component out of range', [{ platform: 'sev-snp', measurements: [M], minimumTcb: { snp: 256 } }], 'entries[0].minimumTcb.snp: expected an integer'],
    ['an unknown product', [{ platform: 'sev-snp', measurements: [M], products: ['Rome'] }], 'entries[0].products[0]: expected one of'],
    ['a simulated entry without a pinned root', [{ platform: 'simulated', measurements: [M] }], 'entries[0].simulatedRootSha256: is required'],
    ['a pinned root on a sev-snp entry', [{ platform: 'sev-snp', measurements: [M], simulatedRootSha256: 'aa'.repeat(32) }], 'entries[0].simulatedRootSha256: only a simulated entry'],
    ['duplicate names', [{ name: 'x', platform: 'sev-snp', measurements: [M] }, { name: 'x', platform: 'sev-snp', measurements: [M] }], "entries[1].name: duplicate entry name 'x'"],
    ['Revoked as an acceptable TDX status', [{ platform: 'tdx', mrtd: [M], acceptableTcbStatuses: ['Revoked'] }], 'entries[0].acceptableTcbStatuses[0]: expected one of'],
    ['a bad chip ID', [{ platform: 'sev-snp', measurements: [M], chipIds: ['abc'] }], 'entries[0].chipIds[0]: expected 128 or 16 hex digits'],
  ];
  for (const [name, doc, message] of cases) {
    it(`refuses ${name}, naming the field`, async () => {
      const err = await expectCode(() => parseReferenceValues(doc, 'test'), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expect(err.message).toContain(message);
    });
  }

  it('loads YAML and JSON files', () => {
    const yamlPath = join(dir, 'ref.yaml');
    writeFileSync(yamlPath, `version: 1\nentries:\n  - platform: sev-snp\n    measurements: [${M}]\n    minimumTcb: { snp: 8 }\n`);
    expect(loadReferenceValues(yamlPath).entries[0]).toMatchObject({ minimumTcb: { snp: 8 } });
    const jsonPath = join(dir, 'ref.json');
    writeFileSync(jsonPath, JSON.stringify({ version: 1, entries: [{ platform: 'sev-snp', measurements: [M] }] }));
    expect(loadReferenceValues(jsonPath).source).toBe(jsonPath);
  });

  it('refuses unreadable, unparsable, aliased and oversized files', async () => {
    await expectCode(() => loadReferenceValues(join(dir, 'missing.yaml')), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: [1\n');
    await expectCode(() => loadReferenceValues(bad), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
    const alias = join(dir, 'alias.yaml');
    writeFileSync(alias, `m: &m ${M}\nversion: 1\nentries: [{ platform: sev-snp, measurements: [*m] }]\n`);
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
