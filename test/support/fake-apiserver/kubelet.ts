/**
 * A tiny kubelet for the stand-in's ordinary (non-confidential) pods. It serves sessions
 * that shadowplane's terminators (src/proxy/streams) already accepted, so it never sees a
 * wire protocol:
 *
 * - exec runs the requested command as a local process (under a pseudo-terminal for
 *   `-t`), with POD_NAME, POD_NAMESPACE, CONTAINER_NAME and POD_IP in its environment;
 * - attach joins the container's main process, started on first attach from the
 *   container's `command` + `args` (default `cat`) and shared by later attaches; its
 *   output also goes to the container log; `stdinOnce` closes its stdin when the first
 *   attached client half-closes;
 * - port-forward connects each forwarded connection to the pod IP (a loopback address
 *   such as 127.0.1.5) and the requested port.
 *
 * Every process is killed when its session aborts and on `close()` (bounded).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { pipeline as pipelinePromise } from 'node:stream/promises';
import pty from 'node-pty';
import { ShadowplaneError } from '../../../src/errors.ts';
import type { CommandResult, ForwardedConnection, RemoteCommandSession, TerminalSize } from '../../../src/proxy/streams/types.ts';
import { AttachProcess, exitResult, firstSize, processEnv } from './attach-process.ts';
import type { LogStore } from './log-store.ts';
import type { ByteRecorder } from './recorder.ts';
import { tapForwardedConnection } from './payload-taps.ts';
import { splice } from '../../../src/channel/splice.ts';

export interface ExecRequest {
  readonly operation: 'exec' | 'attach';
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** The command of an exec; for attach the container's command (may be empty). */
  readonly command: readonly string[];
  readonly podIP: string;
  /** The container's `stdinOnce` (attach only). */
  readonly stdinOnce: boolean;
}

export interface KubeletOptions {
  /** Replaces how exec sessions are served (default: a local process). */
  readonly exec?: (session: RemoteCommandSession, request: ExecRequest) => Promise<void>;
  /** Replaces how forwarded connections are served (default: connect to podIP:port). */
  readonly forward?: (connection: ForwardedConnection, podIP: string) => void;
  /** Working directory of exec and attach processes. @default the test process's */
  readonly cwd?: string;
}

/** Copies `from` into `to` with backpressure; resolves when `from` ended or either failed. */
function copy(from: Readable, to: Writable, end: boolean): Promise<void> {
  return pipelinePromise(from, to, { end }).catch(() => undefined);
}

export class Kubelet {
  readonly #options: KubeletOptions;
  readonly #logs: LogStore;
  readonly #attached = new Map<string, AttachProcess>();
  readonly #children = new Set<{ kill(): void }>();
  readonly #work = new Set<Promise<unknown>>();
  readonly #recorder: ByteRecorder | null;

  constructor(options: KubeletOptions, logs: LogStore, recorder: ByteRecorder | null) {
    this.#options = options;
    this.#logs = logs;
    this.#recorder = recorder;
  }

  /** Keeps track of a session's work so close() can wait for it (bounded). */
  track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#work.add(settled);
    void settled.finally(() => this.#work.delete(settled));
  }

  async exec(session: RemoteCommandSession, request: ExecRequest): Promise<void> {
    if (this.#options.exec !== undefined) return this.#options.exec(session, request);
    const [file, ...args] = request.command;
    if (file === undefined) {
      await session.finish({ kind: 'error', error: new ShadowplaneError('SP_BAD_REQUEST', 'no command given') });
      return;
    }
    return session.options.tty ? this.#execPty(session, request, file, args) : this.#execPipes(session, request, file, args);
  }

  async #execPipes(session: RemoteCommandSession, request: ExecRequest, file: string, args: string[]): Promise<void> {
    const child = spawn(file, args, {
      stdio: [session.stdin ? 'pipe' : 'ignore', session.stdout ? 'pipe' : 'ignore', session.stderr ? 'pipe' : 'ignore'],
      cwd: this.#options.cwd,
      env: processEnv(request),
    });
    const handle = { kill: () => void child.kill('SIGKILL') };
    this.#children.add(handle);
    const copies: Array<Promise<void>> = [];
    if (session.stdin && child.stdin) {
      child.stdin.on('error', () => undefined);
      void copy(session.stdin, child.stdin, true);
    }
    if (session.stdout && child.stdout) copies.push(copy(child.stdout, session.stdout, false));
    if (session.stderr && child.stderr) copies.push(copy(child.stderr, session.stderr, false));
    session.aborted.addEventListener('abort', handle.kill, { once: true });
    const result = await new Promise<CommandResult>((resolve) => {
      // Like a container runtime: a missing executable is exit code 127, one that cannot run 126.
      child.once('error', (err: NodeJS.ErrnoException) => {
        session.stderr?.write(err.code === 'ENOENT' ? 'executable file not found in $PATH\n' : 'the command cannot be started\n');
        resolve({ kind: 'exit', code: err.code === 'ENOENT' ? 127 : 126 });
      });
      child.once('close', (code, signal) => resolve(exitResult(code, signal)));
    });
    await Promise.all(copies);
    session.aborted.removeEventListener('abort', handle.kill);
    this.#children.delete(handle);
    if (!session.aborted.aborted) await session.finish(result);
  }

  async #execPty(session: RemoteCommandSession, request: ExecRequest, file: string, args: string[]): Promise<void> {
    const size = await firstSize(session.resizes);
    const term = pty.spawn(file, args, { name: 'xterm', cols: size.width || 80, rows: size.height || 24, cwd: this.#options.cwd, env: { ...processEnv(request), TERM: 'xterm' } });
    const handle = { kill: () => term.kill('SIGKILL') };
    this.#children.add(handle);
    session.resizes?.on('data', (s: TerminalSize) => {
      if (s.width > 0 && s.height > 0) term.resize(s.width, s.height);
    });
    session.stdin?.on('data', (chunk: Buffer) => term.write(chunk.toString('utf8')));
    term.onData((data) => session.stdout?.write(data));
    session.aborted.addEventListener('abort', handle.kill, { once: true });
    const code = await new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    session.aborted.removeEventListener('abort', handle.kill);
    this.#children.delete(handle);
    await new Promise((r) => setTimeout(r, 50));
    if (!session.aborted.aborted) await session.finish({ kind: 'exit', code });
  }

  async attach(session: RemoteCommandSession, request: ExecRequest): Promise<void> {
    const key = `${request.namespace}/${request.pod}/${request.container}`;
    let proc = this.#attached.get(key);
    if (proc === undefined) {
      const size = session.options.tty ? await firstSize(session.resizes) : { width: 80, height: 24 };
      const started = new AttachProcess(request, session.options.tty, size, this.#options.cwd, this.#logs);
      proc = started;
      this.#attached.set(key, started);
      void started.exited.then(() => {
        if (this.#attached.get(key) === started) this.#attached.delete(key);
      });
    }
    await proc.attach(session, request.stdinOnce);
  }

  /** Serves each forwarded connection of a session until the session ends. */
  async forward(connections: AsyncIterable<ForwardedConnection>, podIP: string): Promise<void> {
    for await (const connection of connections) {
      const tap = this.#recorder?.openPayload(`portforward ${podIP}:${connection.port}`);
      const observed = tap === undefined ? connection : tapForwardedConnection(connection, tap);
      if (this.#options.forward !== undefined) this.#options.forward(observed, podIP);
      else forwardTo(observed, podIP);
    }
  }

  /** Kills the processes of a pod that went away. */
  podDeleted(namespace: string, pod: string): void {
    for (const [key, proc] of this.#attached) {
      if (key.startsWith(`${namespace}/${pod}/`)) {
        proc.kill();
        this.#attached.delete(key);
      }
    }
  }

  async close(timeoutMs = 2000): Promise<void> {
    for (const proc of this.#attached.values()) proc.kill();
    this.#attached.clear();
    for (const c of this.#children) c.kill();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#work]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

/** Connects one forwarded connection to podIP:port, half-closing each way. */
function forwardTo(connection: ForwardedConnection, podIP: string): void {
  const target = connect({ host: podIP, port: connection.port, allowHalfOpen: true });
  let connected = false;
  target.once('connect', () => {
    connected = true;
    splice(connection.data, target, () => connection.close());
  });
  target.once('error', () => {
    if (connected) return;
    connection.fail(`error forwarding port ${connection.port} to pod: connection refused`);
    connection.close();
    // What the client still sends is discarded, so its half-close (or reset) ends the stream.
    connection.data.resume();
  });
}
