/**
 * Helpers of the pretend kubelet: the environment of container processes, the first
 * terminal size of a TTY session, and the container's main process that `attach` joins
 * (started on first attach, shared by later ones, its output also written to the
 * container log).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import pty from 'node-pty';
import { ShadowplaneError } from '../../../src/errors.ts';
import type { CommandResult, RemoteCommandSession, TerminalSize } from '../../../src/proxy/streams/types.ts';
import type { ExecRequest } from './kubelet.ts';
import type { LogStore } from './log-store.ts';

/** The environment of exec and attach processes: PATH and the pod's identity. */
export function processEnv(r: ExecRequest): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOSTNAME: r.pod,
    POD_NAME: r.pod,
    POD_NAMESPACE: r.namespace,
    CONTAINER_NAME: r.container,
    POD_IP: r.podIP,
  };
}

/** The first terminal size a TTY session reports (80×24 if none comes within 2 s). */
export function firstSize(resizes: Readable | null): Promise<TerminalSize> {
  return new Promise((resolve) => {
    if (resizes === null) return resolve({ width: 80, height: 24 });
    const timer = setTimeout(() => resolve({ width: 80, height: 24 }), 2000);
    resizes.once('data', (size: TerminalSize) => {
      clearTimeout(timer);
      resolve(size);
    });
  });
}

/** A process exit as a CommandResult (a signal counts as 137, like SIGKILL in a container). */
export const exitResult = (code: number | null, signal: NodeJS.Signals | null): CommandResult => ({ kind: 'exit', code: code ?? (signal !== null ? 137 : 1) });

/** The container's main process, shared by every attached session. */
export class AttachProcess {
  readonly #sessions = new Set<RemoteCommandSession>();
  readonly #child: ChildProcess | null;
  readonly #term: pty.IPty | null;
  readonly exited: Promise<CommandResult>;
  #stdinOpen = true;

  constructor(request: ExecRequest, tty: boolean, size: TerminalSize, cwd: string | undefined, logs: LogStore) {
    const [file = 'cat', ...args] = request.command.length > 0 ? request.command : ['cat'];
    const log = (stream: 'stdout' | 'stderr') => (chunk: Buffer | string) =>
      logs.append(request.namespace, request.pod, request.container, chunk.toString(), { stream });
    if (tty) {
      this.#child = null;
      this.#term = pty.spawn(file, args, { name: 'xterm', cols: size.width || 80, rows: size.height || 24, cwd, env: { ...processEnv(request), TERM: 'xterm' } });
      this.#term.onData((data) => {
        log('stdout')(data);
        for (const s of this.#sessions) s.stdout?.write(data);
      });
      this.exited = new Promise((resolve) => this.#term?.onExit(({ exitCode }) => resolve({ kind: 'exit', code: exitCode })));
    } else {
      this.#term = null;
      const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd, env: processEnv(request) });
      this.#child = child;
      child.stdin.on('error', () => undefined);
      for (const stream of ['stdout', 'stderr'] as const) {
        child[stream].on('data', (chunk: Buffer) => {
          log(stream)(chunk);
          let blocked = false;
          for (const s of this.#sessions) {
            const out = stream === 'stdout' ? s.stdout : (s.stderr ?? (s.options.tty ? s.stdout : null));
            if (out !== null && !out.write(chunk)) {
              blocked = true;
              out.once('drain', () => child[stream].resume());
            }
          }
          if (blocked) child[stream].pause();
        });
      }
      this.exited = new Promise((resolve) => {
        child.once('error', () => resolve({ kind: 'error', error: new ShadowplaneError('SP_BAD_REQUEST', 'the container process cannot be started') }));
        child.once('close', (code, signal) => resolve(exitResult(code, signal)));
      });
    }
  }

  /** Serves one attached session until the process exits or the client leaves. */
  async attach(session: RemoteCommandSession, stdinOnce: boolean): Promise<void> {
    this.#sessions.add(session);
    session.resizes?.on('data', (size: TerminalSize) => {
      if (size.width > 0 && size.height > 0) this.#term?.resize(size.width, size.height);
    });
    if (session.stdin !== null) {
      const input = session.stdin;
      input.on('data', (chunk: Buffer) => {
        if (!this.#stdinOpen) return;
        if (this.#term !== null) this.#term.write(chunk.toString('utf8'));
        else if (this.#child?.stdin?.write(chunk) === false) {
          input.pause();
          this.#child.stdin.once('drain', () => input.resume());
        }
      });
      input.once('end', () => {
        if (stdinOnce && this.#stdinOpen) {
          this.#stdinOpen = false;
          if (this.#term !== null) this.#term.write('\x04');
          else this.#child?.stdin?.end();
        }
      });
    }
    const left = new Promise<null>((resolve) => {
      if (session.aborted.aborted) resolve(null);
      session.aborted.addEventListener('abort', () => resolve(null), { once: true });
    });
    const result = await Promise.race([this.exited, left]);
    this.#sessions.delete(session);
    // node-pty may deliver the last output just after the exit event.
    if (result !== null && this.#term !== null) await new Promise((r) => setTimeout(r, 50));
    if (result !== null) await session.finish(result);
  }

  kill(): void {
    this.#child?.kill('SIGKILL');
    this.#term?.kill('SIGKILL');
  }
}
