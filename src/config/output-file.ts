/**
 * Writing a file whole, with exactly the mode asked for: the kubeconfig `verify` writes
 * (it holds the client key and maybe a token) and its Prometheus files, the key and
 * certificate `keygen` makes, the simulated platform's key, the CRLs `crl fetch` writes.
 *
 * `writeFileSync(path, data, { mode })` is not enough: the mode applies only when the
 * file is created, so an existing world-readable file stays world-readable after a
 * private key was written into it, and a reader can see it half-written. Here the data
 * goes into a new file in the same directory, created exclusively (never a file or link
 * someone placed there), set to `mode`, written and flushed, and only then renamed
 * (or, with `exclusive`, linked) into place: the path holds the old file or the whole
 * new one, never anything in between, and never with another mode.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fchmodSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface OutputFileOptions {
  /** The file's permission bits, exactly: not narrowed by the umask, not inherited from a file it replaces. */
  readonly mode: number;
  /** Fail with EEXIST when `path` exists instead of replacing it (race-free: a hard link never replaces). Default false. */
  readonly exclusive?: boolean;
}

/** Writes `data` to `path` whole and with `options.mode`; errors are the file system's (`code` ENOENT, EACCES, EEXIST…). */
export function writeOutputFile(path: string, data: string | Uint8Array, options: OutputFileOptions): void {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // Created with the mode already (less whatever the umask takes), so a secret is never readable by others, not even briefly.
  const fd = openSync(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, options.mode);
  try {
    try {
      fchmodSync(fd, options.mode);
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive === true) linkSync(temporary, path);
    else renameSync(temporary, path);
  } finally {
    // After a rename there is nothing left to remove; after a link or a failure, the temporary name goes.
    rmSync(temporary, { force: true });
  }
}
