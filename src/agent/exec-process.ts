/**
 * A process started for `kubectl exec`: plain pipes, or a pseudo-terminal (node-pty)
 * when a TTY was asked for. One shape for both so that the exec handler is the same.
 *
 * - Output arrives through `onOutput`; `pauseOutput` stops reading it, so a slow client
 *   blocks the exec'd process (its pipe or terminal fills), never the agent.
 * - Input goes through `write`, which returns false when the process's stdin is full;
 *   `onInputDrain` fires when it can take more.
 * - `exited` resolves with the exit code (128 + signal number for a signal) after all
 *   output was delivered.
 * - No shell: the command and its arguments reach the kernel unchanged.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { spawn as ptySpawn, type IPty } from 'node-pty';
import { ShadowplaneError } from '../errors.ts';
import { PtyInput } from './pty-input.ts';
import { exitCodeOf } from './supervisor.ts';

export type OutputStream = 'stdout' | 'stderr';

export interface ExecProcess {
  onOutput(listener: (stream: OutputStream, chunk: Buffer) => void): void;
  onInputDrain(listener: () => void): void;
  write(chunk: Buffer): boolean;
  endInput(): void;
  resize(width: number, height: number): void;
  pauseOutput(): void;
  resumeOutput(): void;
  /** Signals the process (on pipes: its whole process group, so that its children go too). */
  kill(signal: NodeJS.Signals): void;
  /** Gives up the process's output: closes the agent's ends of its pipes (a cancelled exec whose children escaped still holds them). */
  release(): void;
  readonly exited: Promise<number>;
}

export interface ExecSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/** Starts a process on pipes. Rejects with SP_EXEC_START_FAILED (detail: errno code only). */
export function startPipeProcess(spec: ExecSpec): Promise<ExecProcess> {
  const child = spawn(spec.command, spec.args, {
    env: { ...spec.env },
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    stdio: [spec.stdin ? 'pipe' : 'ignore', spec.stdout ? 'pipe' : 'ignore', spec.stderr ? 'pipe' : 'ignore'],
    shell: false,
    // A process group of its own: a cancelled exec is signalled with all its children.
    detached: true,
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) reject(new ShadowplaneError('SP_EXEC_START_FAILED', err.code ?? 'spawn failed'));
    });
    child.once('spawn', () => {
      const exited = new Promise<number>((done) => child.once('close', (code, signal) => done(exitCodeOf(code, signal))));
      // EPIPE when the process closed its stdin early is not an error of the session.
      child.stdin?.on('error', () => undefined);
      resolve({
        onOutput(listener) {
          child.stdout?.on('data', (chunk: Buffer) => listener('stdout', chunk));
          child.stderr?.on('data', (chunk: Buffer) => listener('stderr', chunk));
        },
        onInputDrain(listener) {
          child.stdin?.on('drain', listener);
        },
        write(chunk) {
          const stdin = child.stdin;
          if (stdin === null || stdin.destroyed || stdin.writableEnded) return true;
          return stdin.write(chunk);
        },
        endInput() {
          child.stdin?.end();
        },
        resize() {
          // No terminal: nothing to resize.
        },
        pauseOutput() {
          child.stdout?.pause();
          child.stderr?.pause();
        },
        resumeOutput() {
          child.stdout?.resume();
          child.stderr?.resume();
        },
        kill(signal) {
          // The group, also after the command itself exited: its children may hold the pipes.
          const pid = child.pid;
          try {
            if (pid !== undefined) process.kill(-pid, signal);
          } catch {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          }
        },
        release() {
          child.stdin?.destroy();
          child.stdout?.destroy();
          child.stderr?.destroy();
        },
        exited,
      });
    });
  });
}

/**
 * Resolves a command the way execvp would, so that a missing binary is an error rather
 * than a terminal that prints "execvp failed" (node-pty forks before it execs).
 */
function resolveExecutable(command: string, env: Readonly<Record<string, string>>, cwd: string | undefined): string | undefined {
  const executable = (path: string): boolean => {
    try {
      accessSync(path, fsConstants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) {
    const path = isAbsolute(command) || cwd === undefined ? command : join(cwd, command);
    return executable(path) ? command : undefined;
  }
  for (const dir of (env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, command);
    if (executable(path)) return path;
  }
  return undefined;
}

const EOT = Buffer.from([4]);

/**
 * The terminal's master descriptor. node-pty's UnixTerminal has it as `fd` (its IPty
 * typings leave it out); its absence is a start failure, never a silent fallback to
 * node-pty's unbounded input queue.
 */
function masterFd(pty: IPty): number {
  const fd = (pty as IPty & { readonly fd?: unknown }).fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) throw new Error('node-pty gives no master descriptor');
  return fd;
}

/** node-pty's `close` event (its UnixTerminal is an EventEmitter; the IPty typings leave it out). */
function onPtyClose(pty: IPty, listener: () => void): void {
  const on = (pty as IPty & { readonly on?: unknown }).on;
  if (typeof on !== 'function') throw new Error('node-pty has no close event');
  (on as (event: 'close', listener: () => void) => void).call(pty, 'close', listener);
}

/** Starts a process on a new pseudo-terminal of the given size. Its input has backpressure (pty-input.ts). */
export function startPtyProcess(spec: ExecSpec, size: { readonly width: number; readonly height: number }): ExecProcess {
  const file = resolveExecutable(spec.command, spec.env, spec.cwd);
  if (file === undefined) throw new ShadowplaneError('SP_EXEC_START_FAILED', 'ENOENT');
  let pty: IPty;
  try {
    pty = ptySpawn(file, [...spec.args], {
      // containerd sets TERM=xterm for TTY execs; keep an explicit TERM from the container.
      name: spec.env['TERM'] ?? 'xterm',
      cols: Math.max(1, size.width),
      rows: Math.max(1, size.height),
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      env: { ...spec.env },
      encoding: null,
    });
  } catch (err) {
    throw new ShadowplaneError('SP_EXEC_START_FAILED', 'pty', { cause: err });
  }
  let alive = true;
  let input: PtyInput;
  try {
    input = new PtyInput(masterFd(pty));
    // node-pty gives the descriptor up when the program's side of the terminal closes,
    // which may be long before the program exits (pty-input.ts): no input after that.
    onPtyClose(pty, () => input.close());
  } catch {
    pty.kill('SIGKILL');
    throw new ShadowplaneError('SP_EXEC_START_FAILED', 'pty');
  }
  const exited = new Promise<number>((done) =>
    pty.onExit(({ exitCode, signal }) => {
      alive = false;
      input.close();
      done(signal !== undefined && signal !== 0 ? 128 + signal : exitCode);
    }),
  );
  return {
    onOutput(listener) {
      // With encoding null node-pty delivers Buffers (its typings say string).
      pty.onData((data: string | Buffer) => listener('stdout', typeof data === 'string' ? Buffer.from(data) : data));
    },
    onInputDrain(listener) {
      input.onDrain(listener);
    },
    write(chunk) {
      // Input is closed when the program exits or the terminal goes: then this takes nothing.
      return input.write(chunk);
    },
    endInput() {
      // A terminal has no half-close: end of input is the EOF character (^D), after what is queued.
      input.write(EOT);
    },
    resize(width, height) {
      // node-pty resizes by descriptor number: only while the number still names this
      // terminal, checked at once before (pty-input.ts; false once input is closed).
      if (width <= 0 || height <= 0 || !input.sameTerminal()) return;
      try {
        pty.resize(width, height);
      } catch {
        // The terminal is gone (EBADF): nothing to resize.
      }
    },
    pauseOutput() {
      if (alive) pty.pause();
    },
    resumeOutput() {
      if (alive) pty.resume();
    },
    kill(signal) {
      if (alive) pty.kill(signal);
    },
    release() {
      // The terminal closes with its session: nothing of the agent's is held.
    },
    exited,
  };
}
