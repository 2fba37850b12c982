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
 * The descriptor is node-pty's, and node-pty closes it on its own schedule: when the
 * program's side of the terminal closes (`nohup`, a daemon), well before the program
 * exits, or 200 ms after the program exits while something else still holds the
 * terminal. Its `close` event may come only at the end of that event-loop turn, after
 * other sessions' I/O. A write to that number afterwards would land in whatever reuses
 * it, such as the next session's terminal. So every use of the descriptor (a write here;
 * a resize by the owner, see `sameTerminal`) is synchronous and preceded by a check that
 * the descriptor still names the same terminal: its fstat identity and the terminal's
 * index from /proc/self/fdinfo (Linux 4.8 and later), which tells one terminal master
 * from another (all share the inode of /dev/ptmx). node-pty closes the descriptor on
 * this thread, and none of this thread's code runs between the check and the use. A
 * terminal whose index cannot be read is refused at start (the check would not tell
 * terminals apart); any failed check (EBADF, another file, another terminal) ends input
 * for good. The owner also closes input on node-pty's `close` event.
 *
 * A full terminal (EAGAIN: the master is non-blocking) is retried after a delay that
 * doubles from 1 ms to 50 ms and resets when a write goes through. Writing stops for good
 * at close() and on any write error; what is still queued is dropped, and a waiting
 * writer is released.
 */
import { fstatSync, readFileSync, writeSync } from 'node:fs';

/** Queued bytes above which the writer is told to wait. */
export const PTY_INPUT_HIGH_WATER = 64 * 1024;
const MAX_RETRY_MS = 50;

export class PtyInput {
  readonly #fd: number;
  /** The terminal the descriptor named at start (see terminalIdentity). */
  readonly #identity: string;
  readonly #highWater: number;
  readonly #queue: Buffer[] = [];
  /** Bytes of `#queue[0]` already written. */
  #offset = 0;
  #queued = 0;
  #retryMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Whether a writer was told to wait (a drain is owed). */
  #full = false;
  readonly #drainListeners: (() => void)[] = [];

  /**
   * `fd`: the terminal's master, open now. Throws when it is not, or when the kernel does
   * not report the terminal's index (terminals could not be told apart).
   */
  constructor(fd: number, highWater = PTY_INPUT_HIGH_WATER) {
    this.#fd = fd;
    const identity = terminalIdentity(fd);
    if (identity === undefined) throw new Error('the terminal index is not reported in /proc/self/fdinfo');
    this.#identity = identity;
    this.#highWater = highWater;
  }

  /**
   * Whether the descriptor still names this terminal, checked now: true means the caller
   * may use the descriptor synchronously (as resize does). False ends input for good.
   */
  sameTerminal(): boolean {
    if (this.#closed) return false;
    let same = false;
    try {
      same = terminalIdentity(this.#fd) === this.#identity;
    } catch {
      // EBADF: closed.
    }
    if (!same) this.close();
    return same;
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

  /** Writes what the terminal takes now; schedules a retry when it is full. */
  #next(): void {
    while (!this.#closed && this.#timer === undefined) {
      const head = this.#queue[0];
      if (head === undefined) return;
      let written: number;
      try {
        if (!this.sameTerminal()) return;
        written = writeSync(this.#fd, head, this.#offset, head.length - this.#offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#retryMs = Math.min(MAX_RETRY_MS, Math.max(1, this.#retryMs * 2));
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#next();
          }, this.#retryMs);
          return;
        }
        // EIO, EBADF and the like: the terminal is gone. Nothing more can be written.
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
    }
  }

  #drained(): void {
    if (!this.#full) return;
    this.#full = false;
    for (const listener of this.#drainListeners) listener();
  }
}

const TTY_INDEX = /^tty-index:\s*(\d{1,10})$/m;

/**
 * What names the terminal behind `fd`: its fstat device and inode and its index from
 * /proc/self/fdinfo; undefined when no index is reported. Throws when `fd` is closed.
 */
function terminalIdentity(fd: number): string | undefined {
  const st = fstatSync(fd);
  let index: string | undefined;
  try {
    index = TTY_INDEX.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
  } catch {
    // No /proc: no index.
  }
  return index === undefined ? undefined : `${st.dev}:${st.ino}:${st.rdev}:${index}`;
}
