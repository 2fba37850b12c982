import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutputFile } from '../../../src/config/output-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('output files written whole with an exact mode', () => {
  // Bug (review finding 3): `verify --out FILE` kept an existing FILE's mode 0644 although it
  // then held the client key; writeFileSync's mode applies only when it creates the file.
  it('replaces an existing world-readable file with a 0600 one holding the new content', () => {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, 'old');
    chmodSync(path, 0o644);
    writeOutputFile(path, 'client-key-data: secret\n', { mode: 0o600 });
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('client-key-data: secret\n');
  });

  it('gives a new file exactly the mode asked for, whatever the umask', () => {
    const before = process.umask(0o077);
    try {
      writeOutputFile(join(dir, 'public.pem'), 'cert', { mode: 0o644 });
    } finally {
      process.umask(before);
    }
    expect(mode(join(dir, 'public.pem'))).toBe(0o644);
  });

  it('replaces a symbolic link itself, never writing through it to its target', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'target');
    const link = join(dir, 'link');
    symlinkSync(target, link);
    writeOutputFile(link, 'new', { mode: 0o600 });
    expect(readFileSync(target, 'utf8')).toBe('target');
    expect(readFileSync(link, 'utf8')).toBe('new');
  });

  it('with exclusive, refuses an existing file (EEXIST) and leaves it as it was', () => {
    const path = join(dir, 'user.key');
    writeFileSync(path, 'trusted key');
    expect(() => writeOutputFile(path, 'another key', { mode: 0o600, exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(path, 'utf8')).toBe('trusted key');
    writeOutputFile(join(dir, 'fresh.key'), 'fresh', { mode: 0o600, exclusive: true });
    expect(readFileSync(join(dir, 'fresh.key'), 'utf8')).toBe('fresh');
    expect(mode(join(dir, 'fresh.key'))).toBe(0o600);
  });

  it('leaves no temporary file behind, after success or failure', () => {
    expect(() => writeOutputFile(join(dir, 'missing-dir', 'x'), 'x', { mode: 0o600 })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
