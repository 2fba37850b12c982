/**
 * Input to a pseudo-terminal with backpressure: what kubectl sends to `exec -t` and
 * `attach` is queued here up to a high-water mark, and the caller is told to stop
 * (write() answers false) until the terminal has taken it (a drain).
 *
 * Why not node-pty's own write(): it queues without bound and, while the terminal is full
 * (the program does not read its input), retries on every turn of the event loop. A paste
 * into a program that is busy grew the agent's memory by the size of the paste and kept
 * it on about a fifth of a core until the program read.
 *
 * Here a full terminal (EAGAIN on the non-blocking master) is retried after a delay that
 * doubles from 1 ms to 50 ms and resets when a write goes through. Writing stops for good
 * at close() (the terminal's process exited: its descriptor is about to be closed) and on
 * any other write error; what is still queued is dropped, and waiting writers are
 * released.
 */
import { write as fsWrite } from 'node:fs';

/** Queued bytes above which the writer is told to wait. */
export const PTY_INPUT_HIGH_WATER = 64 * 1024;
const MAX_RETRY_MS = 50;

export class PtyInput {
  readonly #fd: number;
  readonly #highWater: number;
  readonly #queue: Buffer[] = [];
  /** Bytes of `#queue[0]` already written. */
  #offset = 0;
  #queued = 0;
  #writing = false;
  #retryMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Whether a writer was told to wait (a drain is owed). */
  #full = false;
  readonly #drainListeners: (() => void)[] = [];

  constructor(fd: number, highWater = PTY_INPUT_HIGH_WATER) {
    this.#fd = fd;
    this.#highWater = highWater;
  }

  /** Queues `chunk`; false: stop until a drain. Ignored once closed. */
  write(chunk: Buffer): boolean {
    if (this.#closed) return true;
    if (chunk.length > 0) {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      this.#next();
    }
    if (this.#queued >= this.#highWater) this.#full = true;
    return !this.#full;
  }

  onDrain(listener: () => void): void {
    this.#drainListeners.push(listener);
  }

  /** Bytes queued and not yet taken by the terminal. */
  get queued(): number {
    return this.#queued;
  }

  /** Stops writing (the terminal is going away): drops the queue and releases waiting writers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#drained();
  }

  #next(): void {
    if (this.#writing || this.#timer !== undefined || this.#closed) return;
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#writing = true;
    fsWrite(this.#fd, head, this.#offset, head.length - this.#offset, (err, written) => {
      this.#writing = false;
      if (this.#closed) return;
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          this.#retryMs = Math.min(MAX_RETRY_MS, Math.max(1, this.#retryMs * 2));
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#next();
          }, this.#retryMs);
          return;
        }
        // EIO and the like: the terminal is gone. Nothing more can be written.
        this.close();
        return;
      }
      this.#retryMs = 0;
      this.#offset += written;
      this.#queued -= written;
      if (this.#offset >= head.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
      if (this.#full && this.#queued < this.#highWater / 2) this.#drained();
      this.#next();
    });
  }

  #drained(): void {
    if (!this.#full) return;
    this.#full = false;
    for (const listener of this.#drainListeners) listener();
  }
}
