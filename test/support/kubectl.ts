/**
 * Real kubectl binaries for integration tests.
 *
 * The machine's `kubectl` is a symlink into the Google Cloud SDK; `kubectl.1.27` …
 * `kubectl.1.33` sit beside its target. Every run gets its own kubeconfig, HOME and
 * cache directory, no proxy settings, and a hard timeout, so a hung kubectl fails the
 * test instead of hanging it.
 *
 * TTY sessions run kubectl under a pseudo-terminal (node-pty): kubectl only uses a TTY
 * for `-t` when its own stdin is a terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import pty from 'node-pty';

export const KUBECTL_VERSIONS = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'] as const;
export type KubectlVersion = (typeof KUBECTL_VERSIONS)[number];

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Directory holding the versioned kubectl binaries, or null when kubectl is not installed. */
export function kubectlDirectory(): string | null {
  const link = findOnPath('kubectl');
  return link === null ? null : dirname(realpathSync(link));
}

/** Path of `kubectl.<version>`; throws when it is missing (the test bed must provide it). */
export function kubectlPath(version: KubectlVersion): string {
  const dir = kubectlDirectory();
  const path = dir === null ? null : join(dir, `kubectl.${version}`);
  if (path === null || !existsSync(path)) throw new Error(`kubectl.${version} not found beside the machine's kubectl`);
  return path;
}

export interface KubeconfigInput {
  readonly server: string;
  readonly caPem: string;
  readonly token: string;
  readonly namespace?: string;
}

/** A private working directory with a kubeconfig; `dispose()` removes it. */
export interface KubectlHome {
  readonly dir: string;
  readonly kubeconfig: string;
  dispose(): void;
}

export function createKubectlHome(input: KubeconfigInput): KubectlHome {
  const dir = mkdtempSync(join(tmpdir(), 'sp-kubectl-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const ca = Buffer.from(input.caPem).toString('base64');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${input.server}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      '- name: test',
      '  user:',
      `    token: ${input.token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: test',
      `    namespace: ${input.namespace ?? 'default'}`,
      'current-context: test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { dir, kubeconfig, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The environment kubectl runs with: nothing inherited but PATH, no proxies. */
export function kubectlEnv(home: KubectlHome, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home.dir,
    KUBECONFIG: home.kubeconfig,
    NO_PROXY: '*',
    ...extra,
  };
}

export interface KubectlResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Bytes or a stream for kubectl's stdin; absent means an immediately closed stdin. */
  readonly stdin?: Buffer | string | Readable;
  /** @default 20 s */
  readonly timeoutMs?: number;
}

function baseArgs(home: KubectlHome): string[] {
  return ['--kubeconfig', home.kubeconfig, '--cache-dir', join(home.dir, 'cache'), '--request-timeout', '15s'];
}

/** A running kubectl; `result` settles when it exits (or is killed at the timeout). */
export interface KubectlProcess {
  readonly child: ChildProcess;
  readonly result: Promise<KubectlResult>;
  /** Resolves with the first stdout line matching `pattern` (bounded by the run's timeout). */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>;
  kill(): void;
}

export function startKubectl(version: KubectlVersion, home: KubectlHome, args: readonly string[], options: RunOptions = {}): KubectlProcess {
  const child = spawn(kubectlPath(version), [...baseArgs(home), ...args], {
    env: kubectlEnv(home, options.env),
    cwd: home.dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 20_000);
  const lineWaiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout.push(chunk);
    if (lineWaiters.length === 0) return;
    text += chunk.toString('utf8');
    for (const waiter of [...lineWaiters]) {
      const match = text.match(waiter.pattern);
      if (match) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined);
  const input = options.stdin;
  if (input === undefined) child.stdin.end();
  else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
  else pipeline(input, child.stdin, () => undefined);

  const result = new Promise<KubectlResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8'), timedOut });
    });
  });
  return {
    child,
    result,
    waitForStdout(pattern: RegExp) {
      const existing = Buffer.concat(stdout).toString('utf8').match(pattern);
      if (existing) return Promise.resolve(existing);
      text = Buffer.concat(stdout).toString('utf8');
      return new Promise((resolve, reject) => {
        lineWaiters.push({ pattern, resolve });
        void result.then((r) => reject(new Error(`kubectl exited (${r.code}) before printing ${pattern}: ${r.stderr}`)));
      });
    },
    kill: () => child.kill('SIGTERM'),
  };
}

/** Runs kubectl to completion. */
export function runKubectl(version: KubectlVersion, home: KubectlHome, args: readonly string[], options: RunOptions = {}): Promise<KubectlResult> {
  return startKubectl(version, home, args, options).result;
}

export interface PtyRun {
  readonly code: number;
  readonly output: string;
  readonly timedOut: boolean;
  /** Why the driving script gave up, if it did (kubectl was then killed). */
  readonly scriptError: string | undefined;
}

/**
 * Runs kubectl under a pseudo-terminal of `cols`×`rows`. `script` drives it: it gets the
 * output so far (polled) and a writer, and may resize the terminal.
 */
export function runKubectlPty(
  version: KubectlVersion,
  home: KubectlHome,
  args: readonly string[],
  options: {
    readonly cols: number;
    readonly rows: number;
    readonly env?: Readonly<Record<string, string>>;
    readonly timeoutMs?: number;
    readonly script: (io: { output: () => string; write: (data: string) => void; resize: (cols: number, rows: number) => void; waitFor: (pattern: RegExp) => Promise<void> }) => Promise<void>;
  },
): Promise<PtyRun> {
  const term = pty.spawn(kubectlPath(version), [...baseArgs(home), ...args], {
    name: 'xterm',
    cols: options.cols,
    rows: options.rows,
    cwd: home.dir,
    env: kubectlEnv(home, { TERM: 'xterm', ...options.env }),
  });
  let output = '';
  let exited = false;
  let scriptError: string | undefined;
  term.onData((data) => (output += data));
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  const done = new Promise<PtyRun>((resolve) => {
    const timer = setTimeout(() => {
      term.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    term.onExit(({ exitCode }) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code: exitCode, output, timedOut: Date.now() >= deadline, scriptError });
    });
  });
  const waitFor = async (pattern: RegExp): Promise<void> => {
    while (!pattern.test(output)) {
      if (exited || Date.now() >= deadline) throw new Error(`terminal never showed ${pattern}; got ${JSON.stringify(output.slice(-400))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  void options
    .script({ output: () => output, write: (data) => term.write(data), resize: (cols, rows) => term.resize(cols, rows), waitFor })
    .catch((err: unknown) => {
      scriptError = err instanceof Error ? err.message : String(err);
      term.kill('SIGKILL');
    });
  return done;
}
