/**
 * Two containers in one pod: one agent each, one pod address and port. Whichever agent
 * holds the port routes by container name to the other's unix socket; when the holder's
 * container stops, the other takes the port over.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import type { AgentIdentity } from '../../../src/channel/trust.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { agentVerifier, makeCredentials, proxyVerifier, type TestCredentials } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { commandStreams, readAll } from './support/streams.ts';

const ADDRESS = '127.0.5.1';
const IDENTITY: AgentIdentity = { namespace: 'payments', pod: 'api-0' };

describe('several containers in one pod', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  const agents: TestAgent[] = [];
  let proxyCreds: TestCredentials;
  let appCreds: TestCredentials;
  let sidecarCreds: TestCredentials;
  let pool: AgentPool;
  let port: number;
  const dirs = { app: join(root.path, 'rootfs-app'), sidecar: join(root.path, 'rootfs-sidecar') };

  async function start(container: 'app' | 'sidecar', command: readonly string[], agentPort?: number): Promise<TestAgent> {
    const a = await startTestAgent({
      address: ADDRESS,
      ...(agentPort === undefined ? {} : { port: agentPort }),
      container,
      command,
      attachStdin: true,
      root: root.path,
      cwd: dirs[container],
      credentials: container === 'app' ? appCreds : sidecarCreds,
      verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])),
      logLines,
    });
    agents.push(a);
    return a;
  }

  async function connect(): Promise<AgentConnection> {
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        return await pool.connect({ address: ADDRESS, port, identity: IDENTITY });
      } catch (err) {
        if (!isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function pwd(conn: AgentConnection, container: string): Promise<string> {
    const io = commandStreams();
    const result = await conn.exec({ container, command: ['pwd'], stdin: false, stdout: true, stderr: true, tty: false }, io);
    return result.kind === 'exit' ? io.stdout.text().trim() : result.error.code;
  }

  beforeAll(async () => {
    [proxyCreds, appCreds, sidecarCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent-app'), makeCredentials('agent-sidecar')]);
    mkdirSync(dirs.app);
    mkdirSync(dirs.sidecar);
    pool = new AgentPool({
      credentials: proxyCreds,
      // Both agents carry evidence of the same pod.
      verifyAgent: agentVerifier(new Map([[appCreds.fingerprint256, IDENTITY], [sidecarCreds.fingerprint256, IDENTITY]])),
      logger: captureLogger(logLines, 'proxy'),
      negativeCacheMs: 50,
    });
    const app = await start('app', ['sh', '-c', 'echo app-log; exec sleep 60']);
    port = await heldPort(app.agent);
    await start('sidecar', ['sh', '-c', 'echo sidecar-log; while read l; do echo "sidecar:$l"; done'], port);
  });

  afterAll(async () => {
    pool.close();
    await Promise.all(agents.map((a) => a.agent.stop()));
    root.remove();
  });

  it('lets the agent that holds the port serve every container by name', async () => {
    const conn = await connect();
    expect(conn.fingerprint256).toBe(appCreds.fingerprint256);
    // Only one agent of the pod can hold the port; the other waits.
    expect((agents[1] as TestAgent).agent.address()).toBeNull();
    expect(await pwd(conn, 'app')).toBe(dirs.app);
    expect(await pwd(conn, 'sidecar')).toBe(dirs.sidecar);
    expect((await readAll(await conn.logs({ container: 'sidecar' }))).toString()).toBe('sidecar-log\n');
    expect((await readAll(await conn.logs({ container: 'app' }))).toString()).toBe('app-log\n');
    expect(await conn.info()).toEqual({ namespace: 'payments', pod: 'api-0', containers: [{ name: 'app', attachStdin: true }, { name: 'sidecar', attachStdin: true }] });
  });

  it('relays a streaming attach and a followed log to the other container', async () => {
    const conn = await connect();
    const abort = new AbortController();
    const follow = await conn.logs({ container: 'sidecar', follow: true, tailLines: 0 }, { signal: abort.signal });
    let followed = '';
    follow.on('data', (c: Buffer) => (followed += c.toString()));
    follow.on('error', () => undefined);
    const io = commandStreams();
    const attach = conn.attach({ container: 'sidecar', stdin: true, stdout: true, stderr: true, tty: false }, io, { signal: abort.signal });
    await new Promise((r) => setTimeout(r, 50));
    io.stdin.write('via-relay\n');
    const deadline = Date.now() + 5000;
    while (!(io.stdout.text().includes('sidecar:via-relay\n') && followed.includes('sidecar:via-relay\n'))) {
      if (Date.now() > deadline) throw new Error('relayed output did not arrive');
      await new Promise((r) => setTimeout(r, 10));
    }
    abort.abort();
    await attach;
  });

  it('answers a container without an agent with SP_CONTAINER_NOT_FOUND', async () => {
    const conn = await connect();
    expect(await pwd(conn, 'debugger')).toBe('SP_CONTAINER_NOT_FOUND');
    await expect(conn.logs({ container: 'debugger' })).rejects.toMatchObject({ code: 'SP_CONTAINER_NOT_FOUND' });
  });

  it('hands the port to the other agent when the holder stops, and routes back when the container restarts', async () => {
    const old = await connect();
    const app = agents[0] as TestAgent;
    expect(await app.agent.stop()).toBe(143);
    await new Promise((r) => setTimeout(r, 50));
    expect(old.usable).toBe(false);
    const conn = await connect();
    expect(conn.fingerprint256).toBe(sidecarCreds.fingerprint256);
    expect(await pwd(conn, 'sidecar')).toBe(dirs.sidecar);
    expect(await pwd(conn, 'app')).toBe('SP_CONTAINER_NOT_FOUND');
    // The app container restarts: its new agent cannot take the port, but is reachable by name.
    await start('app', ['sh', '-c', 'echo app-second-run; exec sleep 60'], port);
    expect(await pwd(conn, 'app')).toBe(dirs.app);
    expect((await readAll(await conn.logs({ container: 'app', previous: true }))).toString()).toBe('app-log\n');
  });
});
