/** Caller-side streams for exec/attach in tests. */
import { PassThrough, Writable } from 'node:stream';
import type { CommandStreams } from '../../../../src/channel/command-client.ts';

export class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(highWaterMark = 16 * 1024) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

export interface TestCommandStreams extends CommandStreams {
  readonly stdin: PassThrough;
  readonly stdout: Collector;
  readonly stderr: Collector;
  readonly resizes: PassThrough;
}

export function commandStreams(): TestCommandStreams {
  return { stdin: new PassThrough(), stdout: new Collector(), stderr: new Collector(), resizes: new PassThrough({ objectMode: true }) };
}

/** Reads a Readable to the end (bounded). */
export async function readAll(readable: NodeJS.ReadableStream, max = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of readable) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new Error('too much data');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
