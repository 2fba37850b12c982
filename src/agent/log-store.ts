/**
 * The workload's output, kept inside the TEE: split into lines, stamped, held in a
 * bounded in-memory ring and handed to a persistence hook (the log file that becomes
 * `previous` after a restart).
 *
 * `append` never blocks and never fails: the supervisor drains the workload's pipes
 * straight into it, so a full pipe can never stall the workload. Readers that fall
 * behind the ring lose the oldest lines, never the writer's progress.
 *
 * Line rules follow the container runtimes' CRI log format: a line longer than
 * `maxLineBytes` is kept as partial pieces of that size (tag P) and a final piece (tag F);
 * a trailing line without a newline is held until its newline arrives, or until the
 * stream ends, when it becomes a full line (and gets the newline a reader sees).
 */
import type { NanoClock } from './log-time.ts';
import { blockCost, type LogBlock, type LogStream } from './log-block.ts';

export interface LogStoreOptions {
  /** Upper bound on the bytes the ring keeps (the newest block is always kept). */
  readonly memoryBytes: number;
  /** Longest line kept as one entry; longer lines become partial pieces. */
  readonly maxLineBytes: number;
  readonly clock: NanoClock;
  /** Called once per block, in order (the log file). Must not throw. */
  readonly persist?: (block: LogBlock) => void;
}

/** Raw output as it arrived, for attach: no line splitting, no delay. */
export type RawListener = (stream: LogStream, chunk: Buffer) => void;

const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');

export class LogStore {
  readonly #options: LogStoreOptions;
  #blocks: Array<LogBlock | undefined> = [];
  #head = 0;
  #bytes = 0;
  #nextSeq = 0;
  readonly #pending: Record<LogStream, Buffer | null> = { stdout: null, stderr: null };
  #waiters = new Set<() => void>();
  readonly #raw = new Set<RawListener>();
  #closed = false;

  constructor(options: LogStoreOptions) {
    this.#options = options;
  }

  /** Sequence number the next line will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** True once the workload's output ended; followers finish when they reach the end. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sequence number of the oldest line still kept. */
  get firstSeq(): number {
    return this.#head < this.#blocks.length ? (this.#blocks[this.#head] as LogBlock).seq : this.#nextSeq;
  }

  /** Adds a chunk of the workload's output. Never throws for any input. */
  append(stream: LogStream, chunk: Buffer): void {
    if (this.#closed || chunk.length === 0) return;
    for (const listener of this.#raw) {
      try {
        listener(stream, chunk);
      } catch {
        // A failing attach session must not cost the workload its logs.
        this.#raw.delete(listener);
      }
    }
    const max = this.#options.maxLineBytes;
    const pending = this.#pending[stream];
    const data = pending === null ? chunk : Buffer.concat([pending, chunk]);
    const bounds: number[] = [0];
    // Per-line partial flags, allocated only when a line is split (rare).
    const flags: { partial: number[] | null } = { partial: null };
    const markPiece = (end: number): void => {
      (flags.partial ??= new Array<number>(bounds.length - 1).fill(0)).push(1);
      bounds.push(end);
    };
    let lineStart = 0;
    let scanFrom = pending === null ? 0 : pending.length;
    for (;;) {
      const nl = data.indexOf(NEWLINE, scanFrom);
      if (nl === -1) break;
      while (nl - lineStart > max) markPiece((lineStart += max));
      lineStart = nl + 1;
      bounds.push(lineStart);
      flags.partial?.push(0);
      scanFrom = lineStart;
    }
    while (data.length - lineStart >= max) markPiece((lineStart += max));
    this.#pending[stream] = lineStart < data.length ? data.subarray(lineStart) : null;
    if (bounds.length > 1) this.#push(stream, data, bounds, flags.partial);
  }

  /** The stream ended: a held line without newline becomes a full line. */
  endStream(stream: LogStream): void {
    const pending = this.#pending[stream];
    this.#pending[stream] = null;
    if (pending !== null && !this.#closed) this.#push(stream, Buffer.concat([pending, NEWLINE_BUFFER]), [0, pending.length + 1], null);
  }

  /** No more output will come (the workload exited). Wakes every follower. */
  close(): void {
    if (this.#closed) return;
    this.endStream('stdout');
    this.endStream('stderr');
    this.#closed = true;
    this.#wake();
  }

  /** The blocks that hold lines with seq ≥ `seq` (the first may start earlier). */
  blocksFrom(seq: number): LogBlock[] {
    let lo = this.#head;
    let hi = this.#blocks.length - 1;
    if (lo > hi) return [];
    // Last block whose first line is ≤ seq.
    let found = lo;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#blocks[mid] as LogBlock).seq <= seq) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return this.#blocks.slice(found) as LogBlock[];
  }

  /** Every block the ring holds, oldest first. */
  snapshot(): LogBlock[] {
    return this.#blocks.slice(this.#head) as LogBlock[];
  }

  /**
   * Resolves once a line with seq ≥ `seq` exists, the store is closed, or `signal`
   * aborts. Never rejects.
   */
  waitFor(seq: number, signal: AbortSignal): Promise<void> {
    if (this.#nextSeq > seq || this.#closed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Raw chunks of output from now on (attach). Returns the unsubscribe function. */
  subscribeRaw(listener: RawListener): () => void {
    this.#raw.add(listener);
    return () => this.#raw.delete(listener);
  }

  #push(stream: LogStream, data: Buffer, bounds: number[], partial: number[] | null): void {
    const block: LogBlock = {
      seq: this.#nextSeq,
      time: this.#options.clock(),
      stream,
      data,
      bounds: Uint32Array.from(bounds),
      partial: partial === null ? null : Uint8Array.from(partial),
    };
    this.#nextSeq += bounds.length - 1;
    this.#blocks.push(block);
    this.#bytes += blockCost(block);
    while (this.#bytes > this.#options.memoryBytes && this.#blocks.length - this.#head > 1) {
      this.#bytes -= blockCost(this.#blocks[this.#head] as LogBlock);
      this.#blocks[this.#head] = undefined;
      this.#head += 1;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#blocks.length) {
      this.#blocks = this.#blocks.slice(this.#head);
      this.#head = 0;
    }
    this.#options.persist?.(block);
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }
}
