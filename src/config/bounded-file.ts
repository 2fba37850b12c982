/**
 * Reads a configuration file (manifest, reference values, CRLs, agent configuration)
 * within a size bound that holds whatever the path turns out to be.
 *
 * A size checked with stat() and then an unbounded read is no bound: a FIFO, a device
 * (`/dev/zero`), a `/proc` file or a file that grows after the check is read in full. So
 * the file is opened without blocking (a FIFO with no writer would hang start-up),
 * refused unless it is a regular file, and read to at most `maxBytes + 1` bytes. A stream
 * (stdin) is read chunk by chunk and refused as soon as it passes the bound.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file was refused; `detail` names no content, only the reason. */
export class FileRefused extends Error {
  readonly detail: string;

  constructor(detail: string) {
    super(detail);
    this.name = 'FileRefused';
    this.detail = detail;
  }
}

/**
 * The bytes of the regular file at `path`, at most `maxBytes`. Throws FileRefused (not a
 * regular file, larger than the bound) or the system's error (ENOENT, EACCES, …).
 */
export function readBoundedFile(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileRefused('not a regular file');
    if (st.size > maxBytes) throw new FileRefused(`larger than ${maxBytes} bytes`);
    // Room for one byte past the bound: a file that grew since fstat is caught, not cut.
    let buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size) + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (length > maxBytes) throw new FileRefused(`larger than ${maxBytes} bytes`);
        // It grew since fstat, still within the bound so far: read on into a bigger buffer.
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) return buf.subarray(0, length);
      length += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The bytes of a stream (stdin, say), at most `maxBytes`. Throws FileRefused as soon as
 * the stream has given more, without reading on: a pipe from `/dev/zero` costs the bound,
 * not the memory of the machine. Leaving the loop early destroys the stream.
 */
export async function readBoundedStream(stream: AsyncIterable<Buffer | string>, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    length += bytes.length;
    if (length > maxBytes) throw new FileRefused(`larger than ${maxBytes} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, length);
}
