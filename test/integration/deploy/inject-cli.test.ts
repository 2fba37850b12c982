/** The `shadowplane inject` command as a process: stdin, -o, warnings and exit codes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../../support/bed.ts';

const FIXTURES = join(REPO, 'test/fixtures/inject');
const BASE = [
  'inject',
  '--agent-image', 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444',
  '--proxy-reference-values', join(FIXTURES, 'proxy-reference-values.yaml'),
  '--manifest-digest', '5555555555555555555555555555555555555555555555555555555555555555',
];
const run = (args: readonly string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env['PATH'] ?? '' } });

describe('shadowplane inject (command)', () => {
  it('reads stdin, writes -o, and reports what it wrapped and what it did not on stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-inject-cli-'));
    try {
      const out = join(dir, 'out.yaml');
      const r = run([...BASE, '-f', '-', '-o', out, '--entrypoint', 'worker=["/usr/local/bin/worker","--queue","payments"]'], readFileSync(join(FIXTURES, 'app.yaml'), 'utf8'));
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('');
      expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(FIXTURES, 'app.injected.yaml'), 'utf8'));
      expect(r.stderr).toContain('Deployment payments-api: wrapped api, worker, log-shipper');
      expect(r.stderr).toContain('init container "migrate" is not wrapped');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with the error code for a container without a command, and 2 for a usage error', () => {
    const missing = run([...BASE, '-f', join(FIXTURES, 'app.yaml')]);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^shadowplane: SP_INJECT_NO_COMMAND: .*container "worker"/);
    const usage = run(['inject', '-f', join(FIXTURES, 'app.yaml')]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('SP_USAGE');
  });

  it('warns when no manifest is pinned', () => {
    const r = run(['inject', '--agent-image', 'a/b:1', '--proxy-reference-values', join(FIXTURES, 'proxy-reference-values.yaml'), '-f', join(FIXTURES, 'workloads.yaml')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('accept a proxy with ANY manifest');
  });
});
