/** The `shadowplane inject` command as a process: stdin, -o, warnings and exit codes. */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../../support/bed.ts';
import { INJECT_BASE, INJECT_FIXTURES, runCli } from '../../support/inject-cli.ts';

const FIXTURES = INJECT_FIXTURES;
const BASE = INJECT_BASE;
const run = runCli;
/** Runs the command with stdin from `path` (a device, say) rather than a string. */
function runWithStdin(args: readonly string[], path: string) {
  const fd = openSync(path, 'r');
  try {
    return spawnSync(process.execPath, [CLI, ...args], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8', timeout: 30_000, env: { PATH: process.env['PATH'] ?? '' } });
  } finally {
    closeSync(fd);
  }
}

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
    const r = run(['inject', '--agent-image', `a/b@sha256:${'4'.repeat(64)}`, '--proxy-reference-values', join(FIXTURES, 'proxy-reference-values.yaml'), '-f', join(FIXTURES, 'workloads.yaml')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('accept a proxy with ANY manifest');
  });

  // Bug (CLI review): the inputs were read in full (readFileSync) and their size checked
  // after: `-f /dev/zero`, or /dev/zero on stdin, grew memory until the machine gave out.
  it('refuses an input past 8 MiB, or a device, while reading it: a file, stdin, and each option file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-inject-cli-'));
    try {
      const device = run([...BASE, '-f', '/dev/zero']);
      expect(device.status).toBe(1);
      expect(device.stderr).toMatch(/^shadowplane: SP_INJECT_INPUT_INVALID: .*\/dev\/zero: not a regular file\n$/);
      const stdin = runWithStdin([...BASE, '-f', '-'], '/dev/zero');
      expect(stdin.status, stdin.stderr).toBe(1);
      expect(stdin.stderr).toMatch(/^shadowplane: SP_INJECT_INPUT_INVALID: .*-: larger than 8388608 bytes\n$/);
      const big = join(dir, 'big.yaml');
      writeFileSync(big, `# ${'x'.repeat(8 * 1024 * 1024)}\n`);
      expect(run([...BASE, '-f', big]).stderr).toContain(`${big}: larger than 8388608 bytes`);
      for (const option of ['--manifest', '--manifest-signer']) {
        const r = run([...BASE, option, '/dev/zero', '-f', join(FIXTURES, 'workloads.yaml')]);
        expect(r.status, option).toBe(2);
        expect(r.stderr).toContain(`SP_USAGE: the command line is not valid: ${option} /dev/zero: not a regular file`);
      }
      const rv = run(['inject', '--agent-image', `a/b@sha256:${'4'.repeat(64)}`, '--proxy-reference-values', '/dev/zero', '-f', join(FIXTURES, 'workloads.yaml')]);
      expect(rv.stderr).toContain('--proxy-reference-values /dev/zero: not a regular file');
      expect(run([...BASE, '--manifest', join(dir, 'missing.yaml'), '-f', '-'], '').stderr).toContain(`cannot read --manifest ${join(dir, 'missing.yaml')}: ENOENT`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Bug (CLI review): `--agent-image reg/agent:latest` exited 0 without a word.
  it('refuses an agent image not pinned by digest, and warns loudly when --allow-unpinned-image lets one through', () => {
    const args = ['inject', '--agent-image', 'registry.example/agent:latest', '--proxy-reference-values', join(FIXTURES, 'proxy-reference-values.yaml'), '--manifest-digest', '5'.repeat(64), '-f', join(FIXTURES, 'workloads.yaml')];
    const refused = run(args);
    expect(refused.status).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^shadowplane: SP_USAGE: .*--agent-image must be pinned by digest.*--allow-unpinned-image/);
    const allowed = run([...args, '--allow-unpinned-image']);
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toContain('image: registry.example/agent:latest');
    expect(allowed.stderr).toMatch(/warning: \*\*\* --agent-image is not pinned by digest .*Development only\. \*\*\*/);
  });

  // Bug (CLI review): an unwritable -o ended in "SP_INTERNAL: unexpected Error".
  it('names -o, its path and the errno code when the output cannot be written, and writes nothing to stdout', () => {
    const r = run([...BASE, '-f', join(FIXTURES, 'workloads.yaml'), '-o', '/nonexistent/x.yaml']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('shadowplane: SP_USAGE: the command line is not valid: cannot write -o /nonexistent/x.yaml: ENOENT\n');
    expect(existsSync('/nonexistent/x.yaml')).toBe(false);
  });

  it('gives the line and column of a YAML error, not the text around it', () => {
    const r = run([...BASE, '-f', '-'], 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   secret: hunter2-canary\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^shadowplane: SP_INJECT_INPUT_INVALID: .*-: document 0: not valid YAML at line 4, column \d+ \([A-Z_]+\)\n$/);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('prints the usage of inject and of inject install for --help and -h, on stdout', () => {
    for (const args of [['inject', '--help'], ['inject', '-h'], ['inject', 'install', '--help'], ['inject', 'install', '-h']]) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('shadowplane inject install --from DIR --to DIR --agent-config JSON');
    }
    expect(run(['inject', '--help']).stdout).toContain('--allow-unpinned-image');
  });
});
