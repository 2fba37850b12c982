import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogStore } from '../../../src/agent/log-store.ts';
import { writeLogs } from '../../../src/agent/log-query.ts';
import { systemNanoClock } from '../../../src/agent/log-time.ts';
import { exitCodeOf, startWorkload, type ForwardedSignal, type SignalSource, type WorkloadSpec } from '../../../src/agent/supervisor.ts';
import { createLogger } from '../../../src/log.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

function harness() {
  const store = new LogStore({ memoryBytes: 16 << 20, maxLineBytes: 16 * 1024, clock: systemNanoClock() });
  const notices: string[] = [];
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } });
  const signals = new EventEmitter();
  const deps = { logStore: store, notice: (line: string) => void notices.push(line), signals: signals as unknown as SignalSource, logger };
  const run = (command: string, args: string[], stdin = false) => startWorkload({ command, args, env: ENV, stdin } satisfies WorkloadSpec, deps);
  const runTty = (command: string, args: string[]) => startWorkload({ command, args, env: ENV, stdin: true, tty: true } satisfies WorkloadSpec, deps);
  return { store, notices, logLines, signals, run, runTty };
}

async function logsOf(store: LogStore): Promise<string> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await writeLogs(store, { follow: false, timestamps: false, streams: new Set(['stdout', 'stderr']) }, sink, new AbortController().signal);
  return Buffer.concat(chunks).toString();
}

describe('workload supervisor', () => {
  it('propagates the exit status', async () => {
    const { run } = harness();
    expect((await (await run('sh', ['-c', 'exit 0'])).exited).exitCode).toBe(0);
    expect((await (await run('sh', ['-c', 'exit 3'])).exited).exitCode).toBe(3);
    expect((await (await run('sh', ['-c', 'exit 255'])).exited).exitCode).toBe(255);
  });

  it('reports 128 + the signal number when a signal ended the workload', async () => {
    const { run } = harness();
    const exit = await (await run('sh', ['-c', 'kill -KILL $$'])).exited;
    expect(exit).toEqual({ code: null, signal: 'SIGKILL', exitCode: 137 });
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
  });

  it('forwards each of the six signals to the workload', async () => {
    const signals: ForwardedSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
    for (const [i, signal] of signals.entries()) {
      const h = harness();
      const name = signal.slice(3);
      const workload = await h.run('sh', ['-c', `trap 'exit ${40 + i}' ${name}; echo ready; while :; do sleep 0.02; done`]);
      await waitFor(async () => (await logsOf(h.store)).includes('ready'));
      h.signals.emit(signal);
      expect((await workload.exited).exitCode).toBe(40 + i);
      // After the exit the agent no longer listens for that signal.
      expect(h.signals.listenerCount(signal)).toBe(0);
    }
  });

  it('keeps stdout and stderr in the log store and writes only a notice to its own output', async () => {
    const h = harness();
    const secret = 'workload-secret-7f3a';
    const exit = await (await h.run('sh', ['-c', `echo ${secret}-out; echo ${secret}-err >&2; exit 4`])).exited;
    expect(exit.exitCode).toBe(4);
    const logs = await logsOf(h.store);
    expect(logs).toContain(`${secret}-out\n`);
    expect(logs).toContain(`${secret}-err\n`);
    expect(h.notices).toEqual(['shadowplane agent: workload started; output is kept inside the TEE', 'shadowplane agent: workload exited with code 4']);
    expect(h.notices.join('') + h.logLines.join('')).not.toContain(secret);
    expect(h.store.closed).toBe(true);
  });

  it('never blocks a workload that writes 50 MB while nobody reads', async () => {
    const h = harness();
    const started = performance.now();
    // 50 MiB of base64 lines on stdout and a marker at the very end.
    const workload = await h.run('sh', ['-c', 'head -c 39321600 /dev/zero | base64; echo last-line-marker >&2']);
    const exit = await workload.exited;
    const elapsed = performance.now() - started;
    expect(exit.exitCode).toBe(0);
    expect(elapsed).toBeLessThan(30_000);
    expect(await logsOf(h.store)).toContain('last-line-marker\n');
  });

  it('keeps stdin open as a pipe for attach when configured', async () => {
    const h = harness();
    const workload = await h.run('sh', ['-c', 'read line; echo "got:$line"'], true);
    expect(workload.stdin).not.toBeNull();
    workload.stdin?.write('hello\n');
    expect((await workload.exited).exitCode).toBe(0);
    expect(await logsOf(h.store)).toBe('got:hello\n');
    const closed = await h.run('sh', ['-c', 'cat; echo eof'], false);
    expect(closed.stdin).toBeNull();
    expect((await closed.exited).exitCode).toBe(0);
  });

  it('reports a command that cannot be started without naming it', async () => {
    const h = harness();
    const err: unknown = await h.run('/nonexistent/secret-binary-name', []).catch((e: unknown) => e);
    expect(isShadowplaneError(err, 'SP_EXEC_START_FAILED')).toBe(true);
    expect(String((err as Error).message)).not.toContain('secret-binary-name');
  });

  it('finishes even when an orphan keeps the output pipe open', async () => {
    const h = harness();
    const store = h.store;
    const workload = await startWorkload(
      { command: 'sh', args: ['-c', '(sleep 5 &) ; echo parent-done'], env: ENV, stdin: false },
      { logStore: store, notice: () => undefined, signals: new EventEmitter(), logger: createLogger({ level: 'silent' }), drainGraceMs: 100 },
    );
    const started = performance.now();
    expect((await workload.exited).exitCode).toBe(0);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('workload supervisor, on a terminal (tty: true)', () => {
  it('runs the workload on an 80x24 terminal whose output is kept as stdout, and takes keystrokes and resizes', async () => {
    const h = harness();
    const workload = await h.runTty('sh', ['-c', 'test -t 0 && test -t 1 && echo on-a-terminal; stty size; read line; echo "got:$line"; stty size; exit 7']);
    expect(workload.tty).toBe(true);
    await waitFor(async () => (await logsOf(h.store)).includes('24 80'));
    workload.resize(132, 50);
    workload.stdin!.write('hello\r');
    expect((await workload.exited).exitCode).toBe(7);
    const logs = await logsOf(h.store);
    expect(logs).toContain('on-a-terminal');
    expect(logs).toContain('got:hello');
    expect(logs).toContain('50 132');
    expect(h.notices.at(-1)).toBe('shadowplane agent: workload exited with code 7');
  });

  it('forwards signals to the workload on the terminal and reports 128 + the signal', async () => {
    const h = harness();
    const workload = await h.runTty('sh', ['-c', 'echo ready; exec sleep 30']);
    await waitFor(async () => (await logsOf(h.store)).includes('ready'));
    h.signals.emit('SIGTERM');
    expect((await workload.exited).exitCode).toBe(143);
    expect(h.signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('rejects a command that cannot be started, without naming it', async () => {
    const h = harness();
    const err: unknown = await h.runTty('/nonexistent/secret-binary-name', []).catch((e: unknown) => e);
    expect(isShadowplaneError(err, 'SP_EXEC_START_FAILED')).toBe(true);
    expect(String((err as Error).message)).not.toContain('secret-binary-name');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
