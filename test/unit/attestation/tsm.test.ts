/**
 * The configfs-tsm issuer against a directory that imitates the kernel interface: report
 * directories get `provider` and `generation` on mkdir, writing `inblob` bumps generation
 * and produces `outblob` (a simulated, correctly signed SEV-SNP report) and `auxblob`
 * (the host's certificate table). A second writer can be made to race.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMULATED_DEFAULT_MEASUREMENT, signSimulatedReport, verifyEvidence, type SimulatedChain } from '../../../src/attestation/index.ts';
import { createIssuer } from '../../../src/attestation/issuer.ts';
import { buildCertTable, parseCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { createTsmIssuer, detectPlatform, nodeTsmFs, type TsmFs } from '../../../src/attestation/tsm.ts';
import { chainFor, expectCode, simulatedReference } from './support.ts';

class FakeKernel implements TsmFs {
  readonly root: string;
  readonly provider: string;
  /** Extra generation bumps on the next N inblob writes: another process writing concurrently. */
  races = 0;
  auxblob: Buffer | undefined;
  writes: string[] = [];

  readonly #chain: SimulatedChain;

  constructor(root: string, provider: string, chain: SimulatedChain) {
    this.#chain = chain;
    this.root = root;
    this.provider = provider;
    mkdirSync(root, { recursive: true });
  }

  async mkdir(path: string): Promise<void> {
    if (dirname(path) !== this.root) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    await mkdir(path);
    await writeFile(join(path, 'provider'), `${this.provider}\n`);
    await writeFile(join(path, 'generation'), '0\n');
  }

  async rmdir(path: string): Promise<void> {
    await rm(path, { recursive: true });
  }

  async read(path: string, max: number): Promise<Buffer> {
    return nodeTsmFs.read(path, max);
  }

  async write(path: string, data: Buffer | string): Promise<void> {
    const dir = dirname(path);
    const attr = basename(path);
    this.writes.push(attr);
    const gen = Number.parseInt(await readFile(join(dir, 'generation'), 'latin1'), 10);
    if (attr === 'inblob') {
      const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (b.length !== 64) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      const bump = this.races > 0 ? 2 : 1;
      if (this.races > 0) this.races--;
      await writeFile(join(dir, 'generation'), `${gen + bump}\n`);
      const c = this.#chain;
      await writeFile(join(dir, 'outblob'), signSimulatedReport({ product: c.product, reportData: b, measurement: Buffer.from(SIMULATED_DEFAULT_MEASUREMENT, 'hex'), tcb: c.tcb, chipId: c.hwId }, c.vcek.key));
      if (this.auxblob !== undefined) await writeFile(join(dir, 'auxblob'), this.auxblob);
      return;
    }
    await writeFile(path, data);
    await writeFile(join(dir, 'generation'), `${gen + 1}\n`);
  }

  exists(path: string): Promise<boolean> {
    return nodeTsmFs.exists(path);
  }

  leftovers(): string[] {
    return readdirSync(this.root);
  }
}

describe('configfs-tsm issuer', () => {
  let base: string;
  let chain: SimulatedChain;
  const RD = Buffer.alloc(64, 0x5c);
  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'sp-tsm-'));
    chain = await chainFor();
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const kernel = (name: string, provider = 'sev_guest'): FakeKernel => new FakeKernel(join(base, name), provider, chain);

  it('writes exactly 64 bytes to inblob, returns outblob with the certificates from auxblob, and removes its directory', async () => {
    const k = kernel('ok');
    k.auxblob = buildCertTable([['vcek', chain.vcek.der], ['ask', chain.ask.der], ['ark', chain.ark.der]]);
    const issuer = createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k, privlevel: 0 });
    const e = await issuer.issue(RD);
    expect(e.platform).toBe('sev-snp');
    expect(e.report.length).toBe(1184);
    expect(e.certificates.map((c) => c.equals(chain.vcek.der) || c.equals(chain.ask.der) || c.equals(chain.ark.der))).toEqual([true, true, true]);
    expect(k.writes).toEqual(['privlevel', 'inblob']);
    expect(k.leftovers()).toEqual([]);
    // The report is the imitation's real signature over our report data: verify it as simulated evidence.
    const v = await verifyEvidence({ ...e, platform: 'simulated' }, { reportData: RD, reference: simulatedReference(chain, SIMULATED_DEFAULT_MEASUREMENT), allowSimulated: true });
    expect(v.reportData).toBe(RD.toString('hex'));
  });

  it('retries in a fresh directory after a generation race, and gives up after maxAttempts', async () => {
    const k = kernel('race');
    k.auxblob = buildCertTable([['vcek', chain.vcek.der]]);
    k.races = 1;
    const e = await createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k }).issue(RD);
    expect(e.report.length).toBe(1184);
    expect(k.writes).toEqual(['inblob', 'inblob']);
    k.races = 5;
    await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k, maxAttempts: 3 }).issue(RD), 'SP_ATTEST_UNAVAILABLE');
    expect(k.leftovers()).toEqual([]);
  });

  it('uses configured certificates when the host supplies none, and refuses to issue without any', async () => {
    const k = kernel('nocerts');
    const e = await createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k, certificates: [chain.vcek.der] }).issue(RD);
    expect(e.certificates).toHaveLength(1);
    const err = await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k }).issue(RD), 'SP_ATTEST_UNAVAILABLE');
    expect(err.message).toContain('auxblob');
  });

  it('refuses a provider other than the expected platform, report data that is not 64 bytes, and a missing interface', async () => {
    const k = kernel('tdx', 'tdx_guest');
    await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k }).issue(RD), 'SP_ATTEST_UNAVAILABLE');
    await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: k }).issue(Buffer.alloc(63)), 'SP_INTERNAL');
    await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: join(base, 'absent') }).issue(RD), 'SP_ATTEST_UNAVAILABLE');
    expect(k.leftovers()).toEqual([]);
  });

  it('gives up on a request that does not finish in time', async () => {
    const k = kernel('slow');
    const stuck: TsmFs = { ...k, mkdir: (p) => k.mkdir(p), rmdir: (p) => k.rmdir(p), read: (p, m) => k.read(p, m), exists: (p) => k.exists(p), write: () => new Promise(() => undefined) };
    await expectCode(() => createTsmIssuer({ platform: 'sev-snp', root: k.root, fs: stuck, timeoutMs: 50 }).issue(RD), 'SP_ATTEST_UNAVAILABLE');
  });

  it('detects the platform from the provider, else from the guest devices, and never guesses simulated', async () => {
    expect(await detectPlatform({ root: kernel('d1').root, fs: kernel('d1') })).toBe('sev-snp');
    expect(await detectPlatform({ root: kernel('d2', 'tdx_guest').root, fs: kernel('d2', 'tdx_guest') })).toBe('tdx');
    const dev = join(base, 'dev');
    mkdirSync(dev);
    expect(await detectPlatform({ root: join(base, 'none'), devDir: dev })).toBeUndefined();
    writeFileSync(join(dev, 'tdx_guest'), '');
    expect(await detectPlatform({ root: join(base, 'none'), devDir: dev })).toBe('tdx');
  });

  it('builds the issuer the --tee choice asks for', async () => {
    const k = kernel('factory');
    k.auxblob = buildCertTable([['vcek', chain.vcek.der]]);
    const auto = await createIssuer({ tsm: { root: k.root, fs: k } });
    expect(auto.platform).toBe('sev-snp');
    await expectCode(() => createIssuer({ tee: 'tdx', tsm: { root: k.root, fs: k } }), 'SP_ATTEST_UNAVAILABLE');
    await expectCode(() => createIssuer({ tee: 'auto', detect: { root: join(base, 'none'), devDir: join(base, 'none') } }), 'SP_ATTEST_UNAVAILABLE');
    await expectCode(() => createIssuer({ tee: 'simulated' }), 'SP_USAGE');
  });
});

describe('certificate table', () => {
  it('round-trips and accepts mixed-endian GUIDs', () => {
    const a = Buffer.from('aa', 'hex');
    const b = Buffer.from('bbbb', 'hex');
    const t = buildCertTable([['vlek', a], ['ark', b]]);
    expect([...parseCertTable(t).entries()]).toEqual([['vlek', a], ['ark', b]]);
    // Rewrite the first GUID in EFI byte order.
    const efi = Buffer.from(t);
    const g = Buffer.from(t.subarray(0, 16));
    Buffer.concat([Buffer.from(g.subarray(0, 4)).reverse(), Buffer.from(g.subarray(4, 6)).reverse(), Buffer.from(g.subarray(6, 8)).reverse(), g.subarray(8)]).copy(efi, 0);
    expect(parseCertTable(efi).get('vlek')).toEqual(a);
    expect(parseCertTable(Buffer.alloc(0)).size).toBe(0);
  });

  it('refuses tables without a terminator or with entries outside the table', async () => {
    await expectCode(() => parseCertTable(Buffer.alloc(30, 1)), 'SP_ATTEST_EVIDENCE_MALFORMED');
    const t = buildCertTable([['vcek', Buffer.from('cc', 'hex')]]);
    t.writeUInt32LE(9999, 20);
    await expectCode(() => parseCertTable(t), 'SP_ATTEST_EVIDENCE_MALFORMED');
  });
});

