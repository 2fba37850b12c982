/**
 * `shadowplane keygen` and `shadowplane simulate init` as a user runs them: neither
 * silently replaces what a manifest or reference values may already trust.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../../support/bed.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-keygen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('shadowplane keygen', () => {
  // Bug (review finding 6): `keygen --help` was "SP_USAGE: Unknown option '--help'" (exit 2).
  it('prints its usage for --help and exits 0', () => {
    const r = cli(['keygen', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('shadowplane keygen --name NAME');
    expect(r.stdout).toContain('--force');
  });

  // Bug (review finding 6): a second keygen silently replaced the key a manifest already trusted.
  it('refuses to replace an existing key or certificate without --force, leaving both as they were', () => {
    const out = join(dir, 'refuse');
    expect(cli(['keygen', '--name', 'alice', '--out-dir', out]).code).toBe(0);
    const key = readFileSync(join(out, 'alice.key'));
    const cert = readFileSync(join(out, 'alice.crt'));
    const again = cli(['keygen', '--name', 'alice', '--out-dir', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('SP_USAGE');
    expect(again.stderr).toContain(`${join(out, 'alice.key')} and ${join(out, 'alice.crt')} already exist`);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(join(out, 'alice.key'))).toEqual(key);
    expect(readFileSync(join(out, 'alice.crt'))).toEqual(cert);

    // The certificate alone is enough to refuse: a manifest may trust its key.
    rmSync(join(out, 'alice.key'));
    const certOnly = cli(['keygen', '--name', 'alice', '--out-dir', out]);
    expect(certOnly.code).toBe(2);
    expect(certOnly.stderr).toContain(`${join(out, 'alice.crt')} already exists`);
  });

  // Bug (review finding 3): the key kept the mode of a file it replaced (0644).
  it('with --force, replaces them, and the key is mode 0600 even where a 0644 file was', () => {
    const out = join(dir, 'force');
    expect(cli(['keygen', '--name', 'bob', '--out-dir', out]).code).toBe(0);
    const old = readFileSync(join(out, 'bob.key'), 'utf8');
    chmodSync(join(out, 'bob.key'), 0o644);
    const r = cli(['keygen', '--name', 'bob', '--out-dir', out, '--force']);
    expect(r.code).toBe(0);
    const key = readFileSync(join(out, 'bob.key'), 'utf8');
    expect(key).not.toBe(old);
    expect(key).toContain('-----BEGIN PRIVATE KEY-----');
    expect(mode(join(out, 'bob.key'))).toBe(0o600);
    expect(mode(join(out, 'bob.crt'))).toBe(0o644);
    expect(r.stdout).toContain(readFileSync(join(out, 'bob.pub.pem'), 'utf8').split('\n')[1]);
  });
});

describe('shadowplane simulate init', () => {
  // Bug (review finding 6): init over an existing platform replaced its ARK, so every
  // reference value made from it stopped verifying, without a word.
  it('refuses a directory that already holds a simulated platform unless --force, and then replaces it', () => {
    const sim = join(dir, 'sim');
    expect(cli(['simulate', 'init', sim]).code).toBe(0);
    const ark = readFileSync(join(sim, 'ark.pem'), 'utf8');
    const again = cli(['simulate', 'init', sim]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('SP_USAGE');
    expect(again.stderr).toContain(`${sim} already holds a simulated platform`);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(join(sim, 'ark.pem'), 'utf8')).toBe(ark);

    writeFileSync(join(sim, 'vcek-key.pem'), 'stale');
    chmodSync(join(sim, 'vcek-key.pem'), 0o644);
    const forced = cli(['simulate', 'init', sim, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(sim, 'ark.pem'), 'utf8')).not.toBe(ark);
    expect(mode(join(sim, 'vcek-key.pem'))).toBe(0o600);
  });

  it('still takes --measurement, and refuses an unknown option', () => {
    const measured = cli(['simulate', 'init', join(dir, 'measured'), '--measurement', 'ab'.repeat(48)]);
    expect(measured.code).toBe(0);
    expect(readFileSync(join(dir, 'measured', 'reference-values.yaml'), 'utf8')).toContain('ab'.repeat(48));
    const unknown = cli(['simulate', 'init', join(dir, 'other'), '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('SP_USAGE');
  });
});
