/**
 * `npm pack` yields a working CLI: the tarball (built by `prepack` → `tsc -p
 * tsconfig.build.json`) is unpacked as npm installs it, and its bin runs on plain Node 24
 * (no type stripping, no src/): version, manifest digest, inject (same bytes as the
 * golden file), and `verify` against a running proxy (which renders the kubeconfig from
 * the shipped templates). Dependencies are linked from this repository's node_modules:
 * the test has no network.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createBed, REPO, type Bed } from '../../support/bed.ts';

const NODE24 = realpathSync(join(REPO, 'node_modules/node/bin/node'));

describe('npm pack', () => {
  let dir: string;
  let files: string[];
  let bin: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-pack-'));
    // Pack a snapshot, so that the build neither races with edits in the work tree nor
    // writes dist/ there.
    const src = join(dir, 'src');
    mkdirSync(src);
    for (const p of ['src', 'kubeconfig-templates', 'deploy', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']) {
      if (existsSync(join(REPO, p))) cpSync(join(REPO, p), join(src, p), { recursive: true });
    }
    symlinkSync(join(REPO, 'node_modules'), join(src, 'node_modules'));
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: src, encoding: 'utf8', timeout: 180_000 });
    if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
    const out = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    files = out[0]!.files.map((f) => f.path).sort();
    // Install as npm would: the package under node_modules, dependencies beside it.
    const modules = join(dir, 'install', 'node_modules');
    mkdirSync(modules, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', join(dir, out[0]!.filename), '-C', join(dir, 'install')], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(tar.stderr);
    cpSync(join(dir, 'install', 'package'), join(modules, 'shadowplane'), { recursive: true });
    for (const name of readdirSync(join(REPO, 'node_modules'))) {
      if (name !== 'shadowplane' && !name.startsWith('.')) symlinkSync(join(REPO, 'node_modules', name), join(modules, name));
    }
    const pkg = JSON.parse(readFileSync(join(modules, 'shadowplane', 'package.json'), 'utf8')) as { bin: Record<string, string> };
    bin = join(modules, 'shadowplane', pkg.bin['shadowplane'] as string);
  }, 240_000);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: readonly string[], cwd = dir) => spawnSync(NODE24, [bin, ...args], { cwd, encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin' } });
  /** The same without blocking this process (the test bed's proxy runs in it). */
  const runAsync = (args: readonly string[]) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(NODE24, [bin, ...args], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe'] });
      const err: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stderr: Buffer.concat(err).toString('utf8') });
      });
    });

  it('ships the compiled CLI, the templates, deploy/ and the licences of the vendor roots, not the sources or tests', () => {
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/inject/inject.js');
    expect(files).toContain('kubeconfig-templates/kubeconfig.yaml');
    expect(files).toContain('deploy/kustomize/base/kustomization.yaml');
    expect(files).toContain('src/attestation/roots/LICENSE.go-sev-guest');
    expect(files.filter((f) => (f.startsWith('src/') && !f.includes('LICENSE')) || f.startsWith('test/') || f.endsWith('.ts'))).toEqual([]);
  });

  it('runs its bin with plain Node 24 from the installed package', () => {
    const version = run(['version']);
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe('shadowplane 0.1.0 (Node.js v24.21.0)\n');
    expect(run(['--help']).stdout).toContain('inject -f FILE');
    const digest = run(['manifest', 'digest', join(REPO, 'deploy/kustomize/base/manifest.yaml')]);
    expect(digest.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });

  it('injects exactly what the sources inject (the golden file)', () => {
    const fixtures = join(REPO, 'test/fixtures/inject');
    const r = run([
      'inject', '-f', join(fixtures, 'app.yaml'),
      '--agent-image', 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444',
      '--proxy-reference-values', join(fixtures, 'proxy-reference-values.yaml'),
      '--manifest-digest', '5555555555555555555555555555555555555555555555555555555555555555',
      '--entrypoint', 'worker=["/usr/local/bin/worker","--queue","payments"]',
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(fixtures, 'app.injected.yaml'), 'utf8'));
  });

  describe('against a running proxy', () => {
    let bed: Bed;
    beforeAll(async () => {
      bed = await createBed();
    }, 60_000);
    afterAll(async () => {
      await bed?.close();
    });

    it('verifies the proxy and renders the dedicated kubeconfig from the shipped template', async () => {
      const home = mkdtempSync(join(dir, 'home-'));
      writeFileSync(join(home, 'user.crt'), bed.users.alice.certPem);
      writeFileSync(join(home, 'user.key'), bed.users.alice.keyPem, { mode: 0o600 });
      const out = join(home, 'kubeconfig');
      const r = await runAsync(['verify', '--server', bed.proxy.url, '--manifest', bed.manifestPath, '--reference-values', bed.referenceValuesPath, '--client-cert', join(home, 'user.crt'), '--client-key', join(home, 'user.key'), '--allow-simulated', '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      const kubeconfig = parse(readFileSync(out, 'utf8')) as { kind: string; clusters: { cluster: { server: string } }[] };
      expect(kubeconfig.kind).toBe('Config');
      expect(kubeconfig.clusters[0]?.cluster.server).toBe(bed.proxy.url);
    });
  });
});
