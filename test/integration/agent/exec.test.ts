import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import type { AgentIdentity } from '../../../src/channel/trust.ts';
import { agentVerifier, makeCredentials, proxyVerifier, type TestCredentials } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { commandStreams, readAll } from './support/streams.ts';

const ADDRESS = '127.0.1.5';
const IDENTITY: AgentIdentity = { namespace: 'payments', pod: 'api-0' };
const SECRET = 'exec-secret-5d1c';

describe('agent exec, attach, logs and info over the attested channel', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  let proxyCreds: TestCredentials;
  let test: TestAgent;
  let pool: AgentPool;
  let conn: AgentConnection;

  beforeAll(async () => {
    proxyCreds = await makeCredentials('proxy');
    const agentCreds = await makeCredentials('agent');
    // The workload echoes what attach writes to its stdin, with a marker.
    test = await startTestAgent({
      address: ADDRESS,
      command: ['sh', '-c', 'echo workload-started; while read line; do echo "echo:$line"; done'],
      attachStdin: true,
      root: root.path,
      credentials: agentCreds,
      verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])),
      logLines,
    });
    const port = await heldPort(test.agent);
    pool = new AgentPool({
      credentials: proxyCreds,
      verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]])),
      logger: captureLogger(logLines, 'proxy'),
    });
    conn = await pool.connect({ address: ADDRESS, port, identity: IDENTITY });
  });

  afterAll(async () => {
    pool.close();
    await test.agent.stop();
    root.remove();
    // Nothing a workload or a user typed ever reaches shadowplane's own log.
    expect(logLines.join('\n')).not.toContain(SECRET);
    expect(test.notices.join('\n')).not.toContain(SECRET);
  });

  it('runs a command and reports stdout, stderr and the exact exit code', async () => {
    const io = commandStreams();
    io.stdin.end();
    const result = await conn.exec({ container: 'app', command: ['sh', '-c', `echo ${SECRET}-out; echo ${SECRET}-err >&2; exit 3`], stdin: false, stdout: true, stderr: true, tty: false }, io);
    expect(result).toEqual({ kind: 'exit', code: 3 });
    expect(io.stdout.text()).toBe(`${SECRET}-out\n`);
    expect(io.stderr.text()).toBe(`${SECRET}-err\n`);
  });

  it('reports 128 + signal for a command a signal ended', async () => {
    const io = commandStreams();
    const result = await conn.exec({ container: 'app', command: ['sh', '-c', 'kill -TERM $$'], stdin: false, stdout: true, stderr: true, tty: false }, io);
    expect(result).toEqual({ kind: 'exit', code: 143 });
  });

  it('feeds stdin and delivers its end of file', async () => {
    const io = commandStreams();
    const done = conn.exec({ container: 'app', command: ['sh', '-c', 'cat; echo after-eof'], stdin: true, stdout: true, stderr: true, tty: false }, io);
    io.stdin.write(`${SECRET}-in\n`);
    io.stdin.end('tail-without-newline');
    expect(await done).toEqual({ kind: 'exit', code: 0 });
    expect(io.stdout.text()).toBe(`${SECRET}-in\ntail-without-newlineafter-eof\n`);
  });

  it('gives a TTY the client size before the command runs and passes later resizes', async () => {
    const io = commandStreams();
    io.resizes.write({ width: 100, height: 30 });
    const done = conn.exec({ container: 'app', command: ['sh', '-c', 'stty size; read x; stty size; exit 7'], stdin: true, stdout: true, stderr: false, tty: true }, io);
    await waitFor(() => io.stdout.text().includes('30 100'));
    io.resizes.write({ width: 120, height: 40 });
    await new Promise((r) => setTimeout(r, 100));
    io.stdin.write('\r');
    expect(await done).toEqual({ kind: 'exit', code: 7 });
    expect(io.stdout.text()).toMatch(/30 100\r\n[\s\S]*40 120\r\n/);
  });

  it('refuses a command that does not exist with SP_EXEC_START_FAILED, with and without TTY', async () => {
    for (const tty of [false, true]) {
      const io = commandStreams();
      io.resizes.write({ width: 80, height: 24 });
      const result = await conn.exec({ container: 'app', command: [`/no/such/${SECRET}`], stdin: false, stdout: true, stderr: !tty, tty }, io);
      expect(result.kind).toBe('error');
      if (result.kind === 'error') {
        expect(result.error.code).toBe('SP_EXEC_START_FAILED');
        expect(result.error.message).not.toContain(SECRET);
      }
    }
  });

  it('moves 20 MB of stdout to a slow reader without loss', async () => {
    const io = commandStreams();
    const result = await conn.exec({ container: 'app', command: ['sh', '-c', 'head -c 20000000 /dev/zero'], stdin: false, stdout: true, stderr: false, tty: false }, io);
    expect(result).toEqual({ kind: 'exit', code: 0 });
    expect(io.stdout.bytes).toBe(20_000_000);
  });

  it('takes 20 MB of stdin up to its end of file, as kubectl cp into a pod does', async () => {
    const { createHash, randomBytes } = await import('node:crypto');
    const data = randomBytes(20_000_000);
    const io = commandStreams();
    const done = conn.exec({ container: 'app', command: ['sha256sum'], stdin: true, stdout: true, stderr: true, tty: false }, io);
    for (let at = 0; at < data.length; at += 1 << 20) {
      if (!io.stdin.write(data.subarray(at, at + (1 << 20)))) await new Promise((r) => io.stdin.once('drain', r));
    }
    io.stdin.end();
    expect(await done).toEqual({ kind: 'exit', code: 0 });
    expect(io.stdout.text().split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('stops a command whose caller went away', async () => {
    for (const tty of [false, true]) {
      const io = commandStreams();
      io.resizes.write({ width: 80, height: 24 });
      const abort = new AbortController();
      const done = conn.exec({ container: 'app', command: ['sh', '-c', 'echo pid:$$; exec sleep 30'], stdin: false, stdout: true, stderr: !tty, tty }, io, { signal: abort.signal });
      await waitFor(() => /pid:\d+/.test(io.stdout.text()));
      const pid = Number(/pid:(\d+)/.exec(io.stdout.text())?.[1]);
      abort.abort();
      expect((await done).kind).toBe('error');
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    }
  });

  it('delivers stdin end to a terminal as ^D, which the command reads as end of file', async () => {
    const io = commandStreams();
    io.resizes.write({ width: 80, height: 24 });
    // (A bare `cat` as session leader closes its terminal while exiting and may be hung
    // up by the kernel in that window; the shell around it makes the exit status certain.)
    const done = conn.exec({ container: 'app', command: ['sh', '-c', 'cat; echo eof-seen'], stdin: true, stdout: true, stderr: false, tty: true }, io);
    io.stdin.end('typed\r');
    expect(await done).toEqual({ kind: 'exit', code: 0 });
    expect(io.stdout.text()).toMatch(/typed\r\n[\s\S]*eof-seen\r\n$/);
  });

  it('answers a container that has no agent with SP_CONTAINER_NOT_FOUND', async () => {
    const result = await conn.exec({ container: 'sidecar', command: ['true'], stdin: false, stdout: true, stderr: true, tty: false }, commandStreams());
    expect(result.kind === 'error' ? result.error.code : result).toBe('SP_CONTAINER_NOT_FOUND');
    await expect(conn.logs({ container: 'sidecar' })).rejects.toMatchObject({ code: 'SP_CONTAINER_NOT_FOUND' });
  });

  it('attaches to the workload: stdin in, live stdout out', async () => {
    const io = commandStreams();
    const abort = new AbortController();
    const done = conn.attach({ container: 'app', stdin: true, stdout: true, stderr: true, tty: false }, io, { signal: abort.signal });
    await new Promise((r) => setTimeout(r, 50));
    io.stdin.write(`${SECRET}-attach\n`);
    await waitFor(() => io.stdout.text().includes(`echo:${SECRET}-attach\n`));
    // Attach shows output from the moment of attaching, not history.
    expect(io.stdout.text()).not.toContain('workload-started');
    abort.abort();
    expect((await done).kind).toBe('error');
  });

  it('serves logs with tail, timestamps and limitBytes', async () => {
    const all = (await readAll(await conn.logs({ container: 'app' }))).toString();
    expect(all.startsWith('workload-started\n')).toBe(true);
    expect(all).toContain(`echo:${SECRET}-attach\n`);
    const tail = (await readAll(await conn.logs({ container: 'app', tailLines: 1, timestamps: true }))).toString();
    expect(tail).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z echo:${SECRET}-attach\\n$`));
    expect((await readAll(await conn.logs({ container: 'app', limitBytes: 5 }))).toString()).toBe('workl');
    await expect(conn.logs({ container: 'app', previous: true })).rejects.toMatchObject({ code: 'SP_LOGS_PREVIOUS_NOT_FOUND' });
  });

  it('reports the pod and its served containers', async () => {
    expect(await conn.info()).toEqual({ namespace: 'payments', pod: 'api-0', containers: [{ name: 'app', attachStdin: true }] });
  });

  it('reuses one session for every operation', async () => {
    const again = await pool.connect({ address: ADDRESS, port: test.agent.address()?.port as number, identity: IDENTITY });
    expect(again).toBe(conn);
    expect(pool.size).toBe(1);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
