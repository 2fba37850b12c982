import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRevocationPolicy } from '../../../src/attestation/revocation.ts';
import { loadReferenceValues } from '../../../src/attestation/reference-values.ts';
import { FileRefused, readBoundedFile, readBoundedStream } from '../../../src/config/bounded-file.ts';
import { loadManifest } from '../../../src/config/manifest.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return path;
}

describe('configuration files read within their bound', () => {
  it('reads a regular file up to the bound, and refuses one past it', () => {
    const path = join(dir, 'ok');
    writeFileSync(path, 'x'.repeat(100));
    expect(readBoundedFile(path, 100).toString()).toBe('x'.repeat(100));
    expect(() => readBoundedFile(path, 99)).toThrow(FileRefused);
    writeFileSync(join(dir, 'empty'), '');
    expect(readBoundedFile(join(dir, 'empty'), 10).length).toBe(0);
  });

  // Bug (review of 0fa261b): the size was checked with stat() and the file then read
  // without bound, so a FIFO or a device was read in full (128 MiB for a "1 MiB" CRL file).
  it('refuses a FIFO without waiting for a writer, a device and a directory, and reads a /proc file (size 0) only to the bound', () => {
    for (const path of [fifo('pipe'), '/dev/zero', dir]) {
      expect(() => readBoundedFile(path, 1024), path).toThrow('not a regular file');
    }
    expect(() => readBoundedFile('/proc/self/status', 16)).toThrow('larger than 16 bytes');
    expect(readBoundedFile('/proc/self/status', 1024 * 1024).toString()).toContain('Name:');
  });

  it('refuses a FIFO named as a CRL, reference values or a manifest with each one\'s own error code', () => {
    const pipe = fifo('crl');
    expect(() => loadRevocationPolicy({ files: [pipe], requireCrls: false, option: '--crl' })).toThrow(expect.objectContaining({ code: 'SP_CONFIG_INVALID', detail: expect.stringContaining('not a regular file') as unknown }));
    expect(() => loadReferenceValues(pipe)).toThrow(expect.objectContaining({ code: 'SP_ATTEST_REFERENCE_VALUES_INVALID' }));
    expect(() => loadManifest(pipe)).toThrow(expect.objectContaining({ code: 'SP_MANIFEST_UNREADABLE' }));
  });

  // Bug (CLI review): `inject -f -` read all of stdin (readFileSync(0)) and only then
  // compared its size with 8 MiB, so a pipe from /dev/zero grew memory without bound.
  it('reads a stream up to the bound, and stops pulling from one past it', async () => {
    expect((await readBoundedStream(Readable.from([Buffer.from('ab'), 'cd']), 4)).toString()).toBe('abcd');
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(1024));
      },
    });
    await expect(readBoundedStream(endless, 10 * 1024)).rejects.toThrow(new FileRefused('larger than 10240 bytes'));
    expect(endless.destroyed).toBe(true);
    // What was read ahead into the stream's buffer aside: not one read more than that.
    expect(pulled).toBeLessThan(11 + 64);
  });
});
