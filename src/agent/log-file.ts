/**
 * The log file of the current run, in the CRI log format the container runtimes write
 * (`<RFC3339Nano> <stdout|stderr> <P|F> <content>`), kept in a memory-backed directory
 * inside the TEE (an emptyDir with medium Memory; Kata keeps it in guest memory), so it
 * survives a container restart and the next run serves it as `previous`.
 *
 * Files: `current.log` (being written) and `current.log.1` … `current.log.<maxFiles-1>`
 * (older, after rotation), each at most `maxFileBytes`. At open, the previous run's files become `previous.log*`.
 *
 * Writes are batched and synchronous (tmpfs: a memory copy), one batch per event-loop
 * turn, so an exiting agent loses nothing it has flushed and the workload is never
 * waited on. Any file error disables the file (the in-memory ring keeps working) and is
 * logged by code only.
 */
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { parseRfc3339 } from '../channel/protocol.ts';
import { formatRfc3339NanoFixed } from './log-time.ts';
import { isPartial, lineCount, type LogBlock, type LogStream } from './log-block.ts';

export interface LogFileOptions {
  readonly dir: string;
  /** A file is rotated before it would grow past this; must exceed the longest file line. */
  readonly maxFileBytes: number;
  /** Files kept for one run, current included (≥ 1). */
  readonly maxFiles: number;
  readonly logger: Logger;
}

const CURRENT = 'current.log';
const PREVIOUS = 'previous.log';

/** Largest batch held before it is written. */
const FLUSH_BYTES = 1024 * 1024;

function rotatedName(base: string, n: number): string {
  return n === 0 ? base : `${base}.${n}`;
}

/** Indexes of `<base>`, `<base>.1`, … present in dir, newest (0) first. */
function existingIndexes(dir: string, base: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync(dir)) {
    if (name === base) found.push(0);
    else if (name.startsWith(`${base}.`) && /^[1-9][0-9]{0,3}$/.test(name.slice(base.length + 1))) found.push(Number(name.slice(base.length + 1)));
  }
  return found.sort((a, b) => a - b);
}

export class LogFile {
  readonly #options: LogFileOptions;
  #fd: number | null;
  #fileBytes = 0;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #scheduled: NodeJS.Immediate | null = null;

  private constructor(options: LogFileOptions, fd: number) {
    this.#options = options;
    this.#fd = fd;
  }

  /** Turns the last run's files into `previous.log*` and starts `current.log`. */
  static open(options: LogFileOptions): LogFile {
    const { dir } = options;
    for (const n of existingIndexes(dir, PREVIOUS)) unlinkSync(join(dir, rotatedName(PREVIOUS, n)));
    for (const n of existingIndexes(dir, CURRENT)) renameSync(join(dir, rotatedName(CURRENT, n)), join(dir, rotatedName(PREVIOUS, n)));
    return new LogFile(options, openSync(join(dir, CURRENT), 'w', 0o600));
  }

  /** The persistence hook for LogStore. */
  readonly persist = (block: LogBlock): void => {
    if (this.#fd === null) return;
    const stream = block.stream;
    const prefixF = Buffer.from(`${formatRfc3339NanoFixed(block.time)} ${stream} F `);
    const count = lineCount(block);
    for (let i = 0; i < count; i++) {
      const line = block.data.subarray(block.bounds[i], block.bounds[i + 1]);
      if (isPartial(block, i)) {
        this.#add(Buffer.from(`${formatRfc3339NanoFixed(block.time)} ${stream} P `));
        this.#add(line);
        this.#add(NEWLINE);
      } else {
        this.#add(prefixF);
        this.#add(line);
      }
    }
    if (this.#batchBytes >= FLUSH_BYTES) this.flush();
    else this.#scheduled ??= setImmediate(() => this.flush());
  };

  /** Writes the batch now (also called at exit). */
  flush(): void {
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
    if (this.#fd === null || this.#batchBytes === 0) return;
    const buf = Buffer.concat(this.#batch, this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    try {
      // Every file line ends in a newline; cut the batch at the last one that still fits.
      let at = 0;
      while (at < buf.length) {
        const room = this.#options.maxFileBytes - this.#fileBytes;
        let end = buf.length;
        if (room <= 0 && this.#fileBytes > 0) {
          // Full (a batch filled it exactly): a search from a negative offset would look from the end.
          this.#rotate();
          continue;
        }
        if (end - at > room) {
          const cut = buf.lastIndexOf(0x0a, at + room - 1);
          if (cut >= at) end = cut + 1;
          else if (this.#fileBytes > 0) {
            this.#rotate();
            continue;
          } else {
            // One line longer than a whole file (configuration keeps this from happening).
            end = buf.indexOf(0x0a, at) + 1 || buf.length;
          }
        }
        this.#write(buf.subarray(at, end));
        at = end;
        if (at < buf.length) this.#rotate();
      }
    } catch (err) {
      this.#disable(err);
    }
  }

  close(): void {
    this.flush();
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  #write(piece: Buffer): void {
    let written = 0;
    while (written < piece.length) written += writeSync(this.#fd as number, piece, written);
    this.#fileBytes += piece.length;
  }

  #add(buf: Buffer): void {
    this.#batch.push(buf);
    this.#batchBytes += buf.length;
  }

  #rotate(): void {
    const { dir, maxFiles } = this.#options;
    closeSync(this.#fd as number);
    this.#fd = null;
    for (let n = maxFiles - 1; n >= 1; n--) {
      const from = join(dir, rotatedName(CURRENT, n - 1));
      if (existsSync(from)) renameSync(from, join(dir, rotatedName(CURRENT, n)));
    }
    this.#fd = openSync(join(dir, CURRENT), 'w', 0o600);
    this.#fileBytes = 0;
  }

  #disable(err: unknown): void {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'unknown';
    this.#options.logger.warn({ code }, 'log file disabled; logs stay in memory only and will not survive a restart');
    if (this.#fd !== null) {
      try {
        closeSync(this.#fd);
      } catch {
        // already unusable
      }
    }
    this.#fd = null;
  }
}

const NEWLINE = Buffer.from('\n');

/** Bounds for reading the previous run's files. */
export interface PreviousLogLimits {
  readonly maxLineBytes: number;
  /** Total bytes read; older files beyond it are not read. */
  readonly maxTotalBytes: number;
}

/**
 * The previous run's lines as blocks (oldest first), or undefined when there was no
 * previous run. Lines that do not parse are skipped, as the kubelet skips them.
 */
export function readPreviousLogs(dir: string, limits: PreviousLogLimits): LogBlock[] | undefined {
  const indexes = existingIndexes(dir, PREVIOUS);
  if (indexes.length === 0) return undefined;
  // Newest first until the budget is spent, then read those oldest first.
  const chosen: string[] = [];
  let budget = limits.maxTotalBytes;
  for (const n of indexes) {
    const path = join(dir, rotatedName(PREVIOUS, n));
    const size = statSync(path).size;
    if (size > budget) break;
    budget -= size;
    chosen.unshift(path);
  }
  const parser = new CriLineParser(limits.maxLineBytes);
  for (const path of chosen) parser.parseFile(readFileSync(path));
  return parser.finish();
}

/** Parses CRI log lines back into blocks, grouping consecutive lines of one stream and stamp. */
class CriLineParser {
  readonly #maxLineBytes: number;
  readonly #blocks: LogBlock[] = [];
  #seq = 0;
  #group: { time: bigint; stream: LogStream; parts: Buffer[]; bounds: number[]; partial: number[]; bytes: number } | null = null;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  parseFile(buf: Buffer): void {
    let at = 0;
    while (at < buf.length) {
      let nl = buf.indexOf(0x0a, at);
      if (nl === -1) nl = buf.length;
      this.#parseLine(buf.subarray(at, nl));
      at = nl + 1;
    }
  }

  finish(): LogBlock[] {
    this.#close();
    return this.#blocks;
  }

  #parseLine(line: Buffer): void {
    const s1 = line.indexOf(0x20);
    if (s1 <= 0 || s1 > 40) return;
    const time = parseRfc3339(line.subarray(0, s1).toString('latin1'));
    if (time === undefined) return;
    const s2 = line.indexOf(0x20, s1 + 1);
    if (s2 === -1) return;
    const streamText = line.subarray(s1 + 1, s2).toString('latin1');
    if (streamText !== 'stdout' && streamText !== 'stderr') return;
    const s3 = line.indexOf(0x20, s2 + 1);
    if (s3 === -1) return;
    const tag = line.subarray(s2 + 1, s3).toString('latin1');
    if (tag !== 'P' && tag !== 'F') return;
    const content = line.subarray(s3 + 1);
    if (content.length > this.#maxLineBytes) return;
    let group = this.#group;
    if (group === null || group.time !== time || group.stream !== streamText) {
      this.#close();
      group = this.#group = { time, stream: streamText, parts: [], bounds: [0], partial: [], bytes: 0 };
    }
    group.parts.push(content);
    group.bytes += content.length;
    if (tag === 'F') {
      group.parts.push(NEWLINE);
      group.bytes += 1;
    }
    group.bounds.push(group.bytes);
    group.partial.push(tag === 'P' ? 1 : 0);
  }

  #close(): void {
    const group = this.#group;
    this.#group = null;
    if (group === null) return;
    this.#blocks.push({
      seq: this.#seq,
      time: group.time,
      stream: group.stream,
      data: Buffer.concat(group.parts, group.bytes),
      bounds: Uint32Array.from(group.bounds),
      partial: group.partial.includes(1) ? Uint8Array.from(group.partial) : null,
    });
    this.#seq += group.bounds.length - 1;
  }
}
