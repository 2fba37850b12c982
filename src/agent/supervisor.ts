/**
 * Runs the container's real command as a child of the agent.
 *
 * - No shell: the command and its arguments go to the kernel as they are.
 * - stdout and stderr are drained by the agent into the log store as fast as they come,
 *   so a full pipe can never block the workload, and nothing of them reaches the agent's
 *   own stdout/stderr (which the host keeps as container logs). The agent writes only a
 *   short notice there.
 * - stdin is a pipe kept open for `attach` when configured, /dev/null otherwise.
 * - With `tty` (the container's `tty: true`), the workload runs on a pseudo-terminal
 *   instead, as the container runtime would start it: its output (one stream, as on any
 *   terminal) goes to the log store as stdout, attach writes to the terminal and resizes it.
 * - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the agent go to the
 *   workload; the agent's exit code is the workload's (128 + signal number when a signal
 *   ended it), so the kubelet sees the container exit as it would without the agent.
 *
 * Restarting is the kubelet's business: when the workload ends, the agent ends.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { startPtyProcess } from './exec-process.ts';
import type { LogStore } from './log-store.ts';

export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** Where signals come from: `process` in production, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: ForwardedSignal, listener: () => void): unknown;
  off(signal: ForwardedSignal, listener: () => void): unknown;
}

export interface WorkloadSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Keep stdin open as a pipe for attach. */
  readonly stdin: boolean;
  /** Run on a pseudo-terminal (the container's `tty: true`). */
  readonly tty?: boolean;
}

/** The terminal size a TTY workload starts with, until an attached client resizes it. */
export const INITIAL_TERMINAL_SIZE = { width: 80, height: 24 } as const;

export interface SupervisorDeps {
  readonly logStore: LogStore;
  /** One line to the agent's real stdout. Never workload output. */
  readonly notice: (line: string) => void;
  readonly signals: SignalSource;
  readonly logger: Logger;
  readonly spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** How long to wait for the pipes to close after the workload exited (orphans may hold them). */
  readonly drainGraceMs?: number;
}

export interface WorkloadExit {
  /** The exit status, or null when a signal ended the workload. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What the agent exits with: the status, or 128 + the signal number. */
  readonly exitCode: number;
}

export interface Workload {
  /** The workload's stdin pipe (attach), or null when stdin is not kept open. */
  readonly stdin: Writable | null;
  readonly running: boolean;
  /** Whether the workload runs on a pseudo-terminal. */
  readonly tty: boolean;
  /** Resolves when the workload exited and its output is in the log store. */
  readonly exited: Promise<WorkloadExit>;
  kill(signal: NodeJS.Signals): void;
  /** Resizes the workload's terminal; nothing for a workload on pipes. */
  resize(width: number, height: number): void;
}

/** 128 + signal number, as shells and container runtimes report it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : (constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (number ?? 0);
}

/**
 * Starts the workload. Resolves once the kernel started it; rejects with
 * SP_EXEC_START_FAILED (detail: the errno code, never the command) when it could not.
 */
export function startWorkload(spec: WorkloadSpec, deps: SupervisorDeps): Promise<Workload> {
  if (spec.tty === true) return new Promise((resolve) => resolve(startTtyWorkload(spec, deps)));
  const spawn = deps.spawn ?? nodeSpawn;
  const child = spawn(spec.command, spec.args, {
    env: { ...spec.env },
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    shell: false,
    windowsHide: true,
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) reject(new ShadowplaneError('SP_EXEC_START_FAILED', err.code ?? 'spawn failed'));
    });
    child.once('spawn', () => resolve(supervise(child, deps)));
  });
}

function supervise(child: ChildProcess, deps: SupervisorDeps): Workload {
  const { logStore, logger } = deps;
  let running = true;
  const stdout = child.stdout;
  const stderr = child.stderr;
  // Drain: never paused, never waited on. Bytes go to the store only.
  stdout?.on('data', (chunk: Buffer) => logStore.append('stdout', chunk));
  stderr?.on('data', (chunk: Buffer) => logStore.append('stderr', chunk));
  stdout?.once('end', () => logStore.endStream('stdout'));
  stderr?.once('end', () => logStore.endStream('stderr'));
  // A workload that closes its stdin makes writes fail with EPIPE; attach reports that.
  child.stdin?.on('error', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code }, 'workload stdin closed'));

  const stopForwarding = forwardSignals(deps, (signal) => {
    if (running) child.kill(signal);
  });
  announceStart(deps, child.pid);

  const exited = new Promise<WorkloadExit>((resolve) => {
    let result: WorkloadExit | null = null;
    let timer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (result === null) return;
      if (timer !== null) clearTimeout(timer);
      stopForwarding();
      announceExit(deps, result);
      resolve(result);
      result = null;
    };
    child.once('exit', (code, signal) => {
      running = false;
      result = { code, signal, exitCode: exitCodeOf(code, signal) };
      // Orphaned grandchildren may keep the pipes open; do not wait for them forever.
      timer = setTimeout(() => {
        stdout?.destroy();
        stderr?.destroy();
        finish();
      }, deps.drainGraceMs ?? 2000);
    });
    child.once('close', () => finish());
  });

  return {
    stdin: child.stdin ?? null,
    get running() {
      return running;
    },
    tty: false,
    exited,
    kill(signal) {
      if (running) child.kill(signal);
    },
    resize() {
      // Not on a terminal.
    },
  };
}

/** The workload on a pseudo-terminal: one output stream, stdin and resizes go to the terminal. */
function startTtyWorkload(spec: WorkloadSpec, deps: SupervisorDeps): Workload {
  const { logStore } = deps;
  const pty = startPtyProcess({ command: spec.command, args: spec.args, env: spec.env, ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }), stdin: true, stdout: true, stderr: false }, INITIAL_TERMINAL_SIZE);
  let running = true;
  pty.onOutput((_which, chunk) => logStore.append('stdout', chunk));
  // The pty process ignores kills, writes and resizes once it has exited, and sizes of 0.
  const stopForwarding = forwardSignals(deps, (signal) => pty.kill(signal));
  announceStart(deps, undefined);
  // Attach writes keystrokes to the terminal; a full terminal holds the writer back (pty-input.ts).
  let waiting: (() => void) | undefined;
  pty.onInputDrain(() => {
    const callback = waiting;
    waiting = undefined;
    callback?.();
  });
  const stdin = spec.stdin
    ? new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (pty.write(chunk)) callback();
          else waiting = () => callback();
        },
        final(callback) {
          pty.endInput();
          callback();
        },
      })
    : null;
  const exited = pty.exited.then((exitCode): WorkloadExit => {
    running = false;
    stdin?.destroy();
    logStore.endStream('stdout');
    logStore.endStream('stderr');
    stopForwarding();
    const result = { code: exitCode, signal: null, exitCode };
    announceExit(deps, result);
    return result;
  });
  return {
    stdin,
    get running() {
      return running;
    },
    tty: true,
    exited,
    kill: (signal) => pty.kill(signal),
    resize: (width, height) => pty.resize(width, height),
  };
}

/** Forwards the agent's signals to the workload until the returned function is called. */
function forwardSignals(deps: SupervisorDeps, kill: (signal: ForwardedSignal) => void): () => void {
  const forwarders = FORWARDED_SIGNALS.map((signal) => {
    const forward = (): void => {
      deps.logger.info({ signal }, 'forwarding signal to workload');
      kill(signal);
    };
    deps.signals.on(signal, forward);
    return { signal, forward };
  });
  return () => {
    for (const { signal, forward } of forwarders) deps.signals.off(signal, forward);
  };
}

function announceStart(deps: SupervisorDeps, pid: number | undefined): void {
  deps.notice('shadowplane agent: workload started; output is kept inside the TEE');
  deps.logger.info({ pid }, 'workload started');
}

function announceExit(deps: SupervisorDeps, result: WorkloadExit): void {
  deps.logStore.close();
  deps.notice(`shadowplane agent: workload exited with code ${result.exitCode}`);
  deps.logger.info({ exitCode: result.exitCode, signal: result.signal }, 'workload exited');
}
