/**
 * `shadowplane crl fetch` against loopback stand-ins of AMD KDS and Intel PCS: Intel's real
 * PCK Platform CA and root CRLs (checked against the shipped Intel root at a time inside
 * their window), AMD-shaped CRLs signed by a simulated ARK whose key the test holds. What
 * it must show: only CRLs their issuer signed, inside their window, are written; a file
 * only moves forward; a refused answer leaves the file as it was; the command exits 1 and
 * names each failure.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchVendorCrls, writeCrlFile, type FetchedCrl } from '../../../src/attestation/crl-fetch.ts';
import { createSimulatedChain, type SimulatedChain } from '../../../src/attestation/simulated.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { buildCrl } from '../../../src/attestation/x509-build.ts';
import { derToPem, parseCertificate, pemToDer, type Certificate } from '../../../src/attestation/x509.ts';
import { INTEL_SGX_ROOT_CA } from '../../../src/attestation/roots/intel.ts';
import { fixture } from '../../unit/attestation/support.ts';
import { startVendorStandIn, type VendorStandIn } from '../../support/vendor-stand-in.ts';

const execFileAsync = promisify(execFile);
const HOUR = 3_600_000;
/** Inside the window of both real Intel CRLs in the test data (pckcrl: 2023-06-08 to 07-08). */
const INTEL_NOW = new Date('2023-06-20T00:00:00Z');
const pckCrl = fixture('tdx/pckcrl');
const rootCrl = fixture('tdx/rootcrl.der');
/** The real PCK Platform CA, from the sample quote's PCK chain (leaf, PCK CA, root). */
const pckPlatformCa = pemToDer(parseTdxQuote(fixture('tdx/tdx_prod_quote_SPR_E4.dat')).pckChainPem)[1]!;

interface Answer {
  status: number;
  body: Buffer;
  headers?: Record<string, string>;
}

describe('crl fetch', () => {
  let server: VendorStandIn;
  let base: string;
  /** What the stand-in answers per path; tests change it. */
  const answers = new Map<string, Answer>();
  let milan: SimulatedChain;
  let ark: Certificate;
  let otherArk: SimulatedChain;
  const dirs: string[] = [];

  const arkCrl = (chain: SimulatedChain, thisUpdate: Date, serials: readonly string[] = []): Buffer =>
    buildCrl({
      issuer: parseCertificate(chain.ark.der, 'ARK').subject,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + 7 * 24 * HOUR),
      revoked: serials.map((serial) => ({ serial, date: thisUpdate })),
      signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' },
    });
  const issuerChainHeader = (ders: readonly Buffer[]): Record<string, string> => ({
    'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(ders.map((d) => derToPem(d)).join('')),
  });
  const intelRoot = pemToDer(INTEL_SGX_ROOT_CA)[0]!;
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-crl-fetch-'));
    dirs.push(dir);
    return dir;
  };
  const fetchAmd = (now = new Date()) => fetchVendorCrls({ amd: ['Milan'], intel: false, kdsUrl: base, now, amdArks: { Milan: ark } });
  const byFile = (results: readonly FetchedCrl[], file: string): FetchedCrl => results.find((r) => r.file === file)!;

  beforeAll(async () => {
    [milan, otherArk] = await Promise.all([createSimulatedChain({ product: 'Milan', rsaBits: 2048 }), createSimulatedChain({ product: 'Milan', rsaBits: 2048 })]);
    ark = parseCertificate(milan.ark.der, 'simulated ARK');
    server = await startVendorStandIn((req, res) => {
      const answer = answers.get(req.url ?? '') ?? { status: 404, body: Buffer.from('not found') };
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body);
    });
    base = server.base;
  });
  afterAll(() => {
    server.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("fetches Intel's real PCK Platform CA and root CRLs, checks them against the shipped root, and writes them as served", async () => {
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: pckCrl, headers: issuerChainHeader([pckPlatformCa, intelRoot]) });
    answers.set('/sgx/certification/v4/pckcrl?ca=processor&encoding=der', { status: 503, body: Buffer.from('busy') });
    answers.set('/root.crl', { status: 200, body: rootCrl });
    const results = await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW });
    expect(results.map((r) => [r.file, r.ok])).toEqual([
      ['intel-pck-platform.crl', true],
      ['intel-pck-processor.crl', false],
      ['intel-root.crl', true],
    ]);
    const platform = byFile(results, 'intel-pck-platform.crl');
    expect(platform.ok && platform.issuer).toBe('Intel SGX PCK Platform CA');
    const processor = byFile(results, 'intel-pck-processor.crl');
    expect(!processor.ok && processor.code).toBe('SP_ATTEST_COLLATERAL_INVALID');
    expect(!processor.ok && processor.reason).toContain('HTTP 503');

    const dir = tempDir();
    for (const r of results) if (r.ok) expect(writeCrlFile(dir, r)).toBe('written');
    expect(readFileSync(join(dir, 'intel-pck-platform.crl')).equals(pckCrl)).toBe(true);
    expect(readFileSync(join(dir, 'intel-root.crl')).equals(rootCrl)).toBe(true);
    // The same answer again changes nothing; no temporary file is left behind.
    for (const r of results) if (r.ok) expect(writeCrlFile(dir, r)).toBe('unchanged');
    expect(readdirSync(dir).sort()).toEqual(['intel-pck-platform.crl', 'intel-root.crl']);
  });

  it('refuses an Intel CRL outside its window, one whose issuer chain does not reach the Intel root, and one from another issuer than the chain names', async () => {
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: pckCrl, headers: issuerChainHeader([pckPlatformCa, intelRoot]) });
    answers.set('/root.crl', { status: 200, body: rootCrl });
    const late = await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: new Date('2026-12-01T00:00:00Z') });
    for (const r of late.filter((x) => x.file !== 'intel-pck-processor.crl')) {
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toMatch(/is valid from .* not at 2026-12-01.*fetch a current one/);
    }
    // A chain of the simulated ARK instead of Intel's: not the shipped root.
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: pckCrl, headers: issuerChainHeader([milan.ask.der, milan.ark.der]) });
    const foreign = byFile(await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW }), 'intel-pck-platform.crl');
    expect(!foreign.ok && foreign.code).toBe('SP_ATTEST_ROOT_UNTRUSTED');
    // The root CRL served as the PCK CA's: the chain is Intel's, the CRL names another issuer.
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: rootCrl, headers: issuerChainHeader([pckPlatformCa, intelRoot]) });
    const swapped = byFile(await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW }), 'intel-pck-platform.crl');
    expect(!swapped.ok && swapped.reason).toContain('names another issuer');
    // A chain of the root alone: the root CRL must not pass for the PCK Platform CA's.
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: rootCrl, headers: issuerChainHeader([intelRoot]) });
    const rootAsPck = byFile(await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW }), 'intel-pck-platform.crl');
    expect(!rootAsPck.ok && rootAsPck.reason).toContain('does not name the Intel SGX PCK Platform CA below the Intel root');
    // The Platform CA's list served as the Processor CA's: pinned by name, refused.
    answers.set('/sgx/certification/v4/pckcrl?ca=processor&encoding=der', { status: 200, body: pckCrl, headers: issuerChainHeader([pckPlatformCa, intelRoot]) });
    const platformAsProcessor = byFile(await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW }), 'intel-pck-processor.crl');
    expect(!platformAsProcessor.ok && platformAsProcessor.reason).toContain('does not name the Intel SGX PCK Processor CA');
    // No issuer chain at all.
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: pckCrl });
    const bare = byFile(await fetchVendorCrls({ amd: [], intel: true, pcsUrl: base, intelRootCrlUrl: `${base}/root.crl`, now: INTEL_NOW }), 'intel-pck-platform.crl');
    expect(!bare.ok && bare.reason).toContain('SGX-PCK-CRL-Issuer-Chain');
  });

  it('writes AMD ARK CRLs forward only: a newer one replaces the file, an older one from the same issuer does not', async () => {
    const now = new Date();
    const dir = tempDir();
    const first = arkCrl(milan, new Date(now.getTime() - 2 * HOUR));
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: first });
    answers.set('/vlek/v1/Milan/crl', { status: 200, body: first });
    const results = await fetchAmd(now);
    expect(results.map((r) => [r.file, r.ok])).toEqual([
      ['amd-milan-vcek.crl', true],
      ['amd-milan-vlek.crl', true],
    ]);
    for (const r of results) if (r.ok) expect(writeCrlFile(dir, r)).toBe('written');

    // A newer list that revokes the ASK replaces the file.
    const newer = arkCrl(milan, new Date(now.getTime() - HOUR), [parseCertificate(milan.ask.der, 'ASK').serial]);
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: newer });
    const second = byFile(await fetchAmd(now), 'amd-milan-vcek.crl');
    expect(second.ok && writeCrlFile(dir, second)).toBe('written');
    expect(readFileSync(join(dir, 'amd-milan-vcek.crl')).equals(newer)).toBe(true);

    // The older one served again (a stale cache, or someone undoing the revocation): kept out.
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: first });
    const third = byFile(await fetchAmd(now), 'amd-milan-vcek.crl');
    expect(third.ok && writeCrlFile(dir, third)).toBe('kept-newer');
    expect(readFileSync(join(dir, 'amd-milan-vcek.crl')).equals(newer)).toBe(true);

    // The ARK's other list (or a truncated one), newer but without the ASK's serial, served
    // for this file: AMD's lists only grow, so the file keeps the revocation.
    const other = arkCrl(milan, new Date(now.getTime() - HOUR / 2));
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: other });
    const swapped = byFile(await fetchAmd(now), 'amd-milan-vcek.crl');
    expect(swapped.ok && writeCrlFile(dir, swapped)).toBe('kept-drops-serial');
    expect(readFileSync(join(dir, 'amd-milan-vcek.crl')).equals(newer)).toBe(true);

    // A file that holds the newer list as PEM (as verifiers accept it) is read as such.
    const pemDir = tempDir();
    writeFileSync(join(pemDir, 'amd-milan-vcek.crl'), derToPem(newer, 'X509 CRL'));
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: first });
    const older = byFile(await fetchAmd(now), 'amd-milan-vcek.crl');
    expect(older.ok && writeCrlFile(pemDir, older)).toBe('kept-newer');

    // A file that holds no CRL (a broken earlier write by something else) is replaced.
    writeFileSync(join(dir, 'amd-milan-vlek.crl'), 'garbage');
    const vlek = byFile(await fetchAmd(now), 'amd-milan-vlek.crl');
    expect(vlek.ok && writeCrlFile(dir, vlek)).toBe('written');
  });

  it('refuses an AMD CRL the ARK did not sign, one not yet valid, and an answer larger than a CRL may be', async () => {
    const now = new Date();
    // Same name as the ARK (every simulated Milan ARK has it), another key.
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: arkCrl(otherArk, new Date(now.getTime() - HOUR)) });
    answers.set('/vlek/v1/Milan/crl', { status: 200, body: arkCrl(milan, new Date(now.getTime() + HOUR)) });
    const results = await fetchAmd(now);
    const forged = byFile(results, 'amd-milan-vcek.crl');
    expect(!forged.ok && forged.reason).toContain('is not signed by it');
    const early = byFile(results, 'amd-milan-vlek.crl');
    expect(!early.ok && early.reason).toContain('not at');
    answers.set('/vcek/v1/Milan/crl', { status: 200, body: Buffer.alloc(1024 * 1024 + 1, 0x30) });
    const huge = byFile(await fetchAmd(now), 'amd-milan-vcek.crl');
    expect(!huge.ok && huge.reason).toContain('more than 1048576 bytes');
  });

  it('the command writes what passed, names each failure on stderr, and exits 1', async () => {
    answers.set('/sgx/certification/v4/pckcrl?ca=platform&encoding=der', { status: 200, body: pckCrl, headers: issuerChainHeader([pckPlatformCa, intelRoot]) });
    answers.set('/sgx/certification/v4/pckcrl?ca=processor&encoding=der', { status: 404, body: Buffer.from('not found') });
    answers.set('/root.crl', { status: 200, body: rootCrl });
    const dir = tempDir();
    const cli = join(import.meta.dirname, '../../../src/cli/main.ts');
    const run = (args: readonly string[]) =>
      execFileAsync(process.execPath, [cli, 'crl', 'fetch', ...args], { encoding: 'utf8' }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    // The real Intel CRLs are long past their nextUpdate: refused, nothing written.
    const stale = await run(['--out', dir, '--intel', '--pcs-url', `${base}/`, '--intel-root-crl-url', `${base}/root.crl`]);
    expect(stale.code).toBe(1);
    expect(stale.stderr.split('\n').filter((l) => l.startsWith('FAILED'))).toHaveLength(3);
    expect(stale.stderr).toContain('FAILED  intel-pck-processor.crl: Intel PCK Processor CA CRL: SP_ATTEST_COLLATERAL_INVALID');
    expect(stale.stderr).toContain('fetch a current one');
    expect(readdirSync(dir)).toEqual([]);
    // Usage errors exit 2 and say what is missing.
    const none = await run(['--out', dir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('name --amd PRODUCTS and/or --intel');
    const badProduct = await run(['--out', dir, '--amd', 'Naples']);
    expect(badProduct.code).toBe(2);
    expect(badProduct.stderr).toContain('unknown product');
    const noDir = await run(['--out', join(dir, 'missing'), '--intel']);
    expect(noDir.code).toBe(2);
  });
});
