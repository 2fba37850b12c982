/**
 * Answers one `kubectl logs` query from a log source, with the kubelet's semantics
 * (pkg/kubelet/kuberuntime/logs): the tail is found first, then lines older than `since`
 * are skipped; with timestamps every line (partial pieces included) is prefixed by its
 * stamp and a space; `limitBytes` counts output bytes, prefixes included, and cuts the
 * last line short; a partial piece is written without newline; `follow` continues until
 * the workload's output ends or the reader goes away.
 *
 * Writes honour the sink's backpressure; the source never waits on the reader.
 */
import type { Writable } from 'node:stream';
import { formatRfc3339NanoFixed } from './log-time.ts';
import { lineCount, type LogBlock, type LogStream } from './log-block.ts';

export interface LogSource {
  readonly nextSeq: number;
  readonly firstSeq: number;
  readonly closed: boolean;
  blocksFrom(seq: number): LogBlock[];
  waitFor(seq: number, signal: AbortSignal): Promise<void>;
}

export interface LogQuery {
  readonly follow: boolean;
  readonly timestamps: boolean;
  readonly tailLines?: number;
  /** Lines stamped before this (ns since the epoch) are skipped. */
  readonly sinceNs?: bigint;
  readonly limitBytes?: number;
  readonly streams: ReadonlySet<LogStream>;
}

/** Output is handed to the sink in batches of about this size. */
const BATCH_BYTES = 64 * 1024;

/** A finished run's lines: the source for `previous`. */
export class StaticLogSource implements LogSource {
  readonly #blocks: readonly LogBlock[];
  readonly closed = true;
  readonly firstSeq = 0;
  readonly nextSeq: number;

  constructor(blocks: readonly LogBlock[]) {
    this.#blocks = blocks;
    const last = blocks[blocks.length - 1];
    this.nextSeq = last === undefined ? 0 : last.seq + lineCount(last);
  }

  blocksFrom(seq: number): LogBlock[] {
    return this.#blocks.filter((b) => b.seq + lineCount(b) > seq);
  }

  waitFor(): Promise<void> {
    return Promise.resolve();
  }
}

/** Sequence number where the last `tail` lines of the selected streams begin. */
function tailStart(source: LogSource, tail: number, streams: ReadonlySet<LogStream>): number {
  const end = source.nextSeq;
  if (tail === 0) return end;
  const blocks = source.blocksFrom(source.firstSeq);
  let remaining = tail;
  for (let i = blocks.length - 1; i >= 0; i--) {
    const block = blocks[i] as LogBlock;
    if (!streams.has(block.stream)) continue;
    const lines = Math.min(lineCount(block), end - block.seq);
    if (lines <= 0) continue;
    if (lines >= remaining) return block.seq + lines - remaining;
    remaining -= lines;
  }
  return source.firstSeq;
}

function waitDrain(sink: Writable, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (ok: boolean): void => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      sink.off('error', onClose);
      signal.removeEventListener('abort', onClose);
      resolve(ok);
    };
    const onDrain = (): void => finish(true);
    const onClose = (): void => finish(false);
    sink.on('drain', onDrain);
    sink.on('close', onClose);
    sink.on('error', onClose);
    signal.addEventListener('abort', onClose, { once: true });
  });
}

/**
 * Writes the query's answer to `sink` and resolves when it is complete (or the reader
 * left: `signal` aborted, or the sink closed). Does not end the sink.
 */
export async function writeLogs(source: LogSource, query: LogQuery, sink: Writable, signal: AbortSignal): Promise<void> {
  const end = source.nextSeq;
  let cursor = query.tailLines === undefined ? source.firstSeq : tailStart(source, query.tailLines, query.streams);
  let remaining = query.limitBytes ?? Number.POSITIVE_INFINITY;
  let batch: Buffer[] = [];
  let batchBytes = 0;

  const emit = (buf: Buffer): void => {
    const piece = buf.length > remaining ? buf.subarray(0, remaining) : buf;
    batch.push(piece);
    batchBytes += piece.length;
    remaining -= piece.length;
  };
  const flush = async (): Promise<boolean> => {
    if (batchBytes === 0) return !sink.destroyed;
    const out = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batchBytes);
    batch = [];
    batchBytes = 0;
    if (sink.destroyed || sink.writableEnded) return false;
    if (sink.write(out)) return true;
    return waitDrain(sink, signal);
  };

  for (;;) {
    for (const block of source.blocksFrom(cursor)) {
      const count = lineCount(block);
      if (block.seq + count <= cursor) continue;
      if (!query.follow && block.seq >= end) break;
      const first = Math.max(0, cursor - block.seq);
      const last = query.follow ? count : Math.min(count, end - block.seq);
      cursor = block.seq + last;
      if (!query.streams.has(block.stream) || (query.sinceNs !== undefined && block.time < query.sinceNs)) continue;
      if (query.timestamps) {
        const prefix = Buffer.from(`${formatRfc3339NanoFixed(block.time)} `);
        for (let i = first; i < last && remaining > 0; i++) {
          emit(prefix);
          if (remaining > 0) emit(block.data.subarray(block.bounds[i], block.bounds[i + 1]));
        }
      } else {
        emit(block.data.subarray(block.bounds[first], block.bounds[last]));
      }
      if (remaining <= 0) break;
      if (batchBytes >= BATCH_BYTES && !(await flush())) return;
    }
    if (!(await flush()) || remaining <= 0 || signal.aborted) return;
    // One pass covers every line that existed when the query started.
    if (!query.follow) return;
    if (source.closed && cursor >= source.nextSeq) return;
    // A reader slower than the ring loses the oldest lines, never the writer's progress.
    if (cursor < source.firstSeq) cursor = source.firstSeq;
    await source.waitFor(cursor, signal);
    if (signal.aborted) return;
  }
}
