/**
 * Who may talk to whom on the channel: a proxy meets things at a pod IP that are not a
 * verified agent, an agent meets proxies it does not trust.
 */
import { createServer as createHttpServer } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import { createServer as createNetServer, type Server } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentIdentity } from '../../../src/channel/trust.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { agentVerifier, makeCredentials, proxyVerifier, type TestCredentials } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { commandStreams } from './support/streams.ts';

const IDENTITY: AgentIdentity = { namespace: 'payments', pod: 'api-0' };

function listen(server: Server, address: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, address, () => resolve((server.address() as { port: number }).port)));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err: unknown = await p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  return isShadowplaneError(err) ? err.code : String(err);
}

describe('channel trust', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  const servers: Server[] = [];
  let proxyCreds: TestCredentials;
  let agentCreds: TestCredentials;
  let strangerCreds: TestCredentials;
  let test: TestAgent;
  let agentPort: number;
  const calls = { count: 0 };

  function pool(credentials: TestCredentials = proxyCreds): AgentPool {
    return new AgentPool({ credentials, verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]]), calls), logger: captureLogger(logLines, 'proxy') });
  }

  beforeAll(async () => {
    [proxyCreds, agentCreds, strangerCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent'), makeCredentials('stranger')]);
    test = await startTestAgent({
      address: '127.0.3.1',
      command: ['sh', '-c', 'exec sleep 60'],
      root: root.path,
      credentials: agentCreds,
      verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])),
      logLines,
    });
    agentPort = await heldPort(test.agent);
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    await test.agent.stop();
    root.remove();
  });

  it('refuses a plain TLS listener at the pod address with SP_AGENT_ATTESTATION_FAILED', async () => {
    for (const alpn of [['h2'], undefined]) {
      const server = createTlsServer({ key: strangerCreds.key, cert: strangerCreds.cert, ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) }, (s) => s.on('error', () => undefined));
      servers.push(server);
      const port = await listen(server, '127.0.3.2');
      expect(await codeOf(pool().connect({ address: '127.0.3.2', port, identity: IDENTITY }))).toBe('SP_AGENT_ATTESTATION_FAILED');
    }
  });

  it('refuses a plain TCP listener at the pod address with SP_AGENT_ATTESTATION_FAILED', async () => {
    const http = createHttpServer((_req, res) => res.end('not an agent'));
    servers.push(http);
    const port = await listen(http, '127.0.3.3');
    expect(await codeOf(pool().connect({ address: '127.0.3.3', port, identity: IDENTITY }))).toBe('SP_AGENT_ATTESTATION_FAILED');
    const closer = createNetServer((s) => s.destroy());
    servers.push(closer);
    const closerPort = await listen(closer, '127.0.3.3');
    expect(await codeOf(pool().connect({ address: '127.0.3.3', port: closerPort, identity: IDENTITY }))).toBe('SP_AGENT_ATTESTATION_FAILED');
  });

  it('says SP_AGENT_UNREACHABLE at once when nothing listens, and within about 3 s when nothing answers', async () => {
    const closed = createNetServer();
    const port = await listen(closed, '127.0.3.4');
    await new Promise<void>((r) => closed.close(() => r()));
    let started = performance.now();
    expect(await codeOf(pool().connect({ address: '127.0.3.4', port, identity: IDENTITY }))).toBe('SP_AGENT_UNREACHABLE');
    expect(performance.now() - started).toBeLessThan(500);

    const silent = createNetServer((s) => s.on('error', () => undefined));
    servers.push(silent);
    const silentPort = await listen(silent, '127.0.3.4');
    started = performance.now();
    expect(await codeOf(pool().connect({ address: '127.0.3.4', port: silentPort, identity: IDENTITY }))).toBe('SP_AGENT_UNREACHABLE');
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(2500);
    expect(elapsed).toBeLessThan(4000);
  });

  it('remembers a failed dial briefly instead of dialling again', async () => {
    const p = pool();
    const http = createHttpServer();
    let connections = 0;
    http.on('connection', () => (connections += 1));
    servers.push(http);
    const port = await listen(http, '127.0.3.5');
    expect(await codeOf(p.connect({ address: '127.0.3.5', port, identity: IDENTITY }))).toBe('SP_AGENT_ATTESTATION_FAILED');
    expect(await codeOf(p.connect({ address: '127.0.3.5', port, identity: IDENTITY }))).toBe('SP_AGENT_ATTESTATION_FAILED');
    expect(connections).toBe(1);
  });

  it('refuses an agent that is not known to the verifier, and a known agent that is another pod', async () => {
    const unknown = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map()), logger: captureLogger(logLines, 'proxy') });
    const err: unknown = await unknown.connect({ address: '127.0.3.1', port: agentPort, identity: IDENTITY }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SP_AGENT_ATTESTATION_FAILED', detail: 'SP_ATTEST_MEASUREMENT_MISMATCH' });
    expect(await codeOf(pool().connect({ address: '127.0.3.1', port: agentPort, identity: { namespace: 'payments', pod: 'api-9' } }))).toBe('SP_AGENT_IDENTITY_MISMATCH');
  });

  it('answers every operation of a proxy it does not trust with SP_AGENT_REFUSED and runs nothing', async () => {
    const p = pool(strangerCreds);
    const conn = await p.connect({ address: '127.0.3.1', port: agentPort, identity: IDENTITY });
    const results = await Promise.all([
      conn.exec({ container: 'app', command: ['sh', '-c', 'echo ran'], stdin: false, stdout: true, stderr: true, tty: false }, commandStreams()).then((r) => (r.kind === 'error' ? r.error.code : 'ran')),
      codeOf(conn.logs({ container: 'app' })),
      codeOf(conn.portForward(agentPort)),
    ]);
    expect(results).toEqual(['SP_AGENT_REFUSED', 'SP_AGENT_REFUSED', 'SP_AGENT_REFUSED']);
    p.close();
  });

  it('refuses a client that presents no certificate', async () => {
    const socket = tlsConnect({ host: '127.0.3.1', port: agentPort, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    await new Promise((r) => socket.once('secureConnect', r));
    const session = h2Connect('https://127.0.3.1', { createConnection: () => socket });
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'GET', ':path': '/v1/info' });
    const status = await new Promise((resolve) => req.once('response', (h) => resolve(h[':status'])));
    const body = await new Promise<string>((resolve) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.once('end', () => resolve(text));
    });
    expect(status).toBe(403);
    expect(JSON.parse(body)).toEqual({ code: 'SP_AGENT_REFUSED' });
    session.destroy();
  });

  it('asks its verifier once per connection and serves new connections with renewed credentials', async () => {
    const p = pool();
    const before = calls.count;
    const conn = await p.connect({ address: '127.0.3.1', port: agentPort, identity: IDENTITY });
    await conn.info();
    await conn.info();
    expect(calls.count - before).toBe(1);
    expect(conn.fingerprint256).toBe(agentCreds.fingerprint256);
    const renewed = await makeCredentials('agent-renewed');
    test.agent.setCredentials(renewed);
    const next = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map([[renewed.fingerprint256, IDENTITY]])), logger: captureLogger(logLines, 'proxy') });
    expect((await next.connect({ address: '127.0.3.1', port: agentPort, identity: IDENTITY })).fingerprint256).toBe(renewed.fingerprint256);
    p.close();
    next.close();
  });

  it('counts limits.maxConcurrentOperations over all sessions: a third operation from a third session is SP_AGENT_BUSY', async () => {
    const limitedRoot = tempRoot();
    const limited = await startTestAgent({
      address: '127.0.3.2',
      command: ['sh', '-c', 'exec sleep 60'],
      root: limitedRoot.path,
      credentials: agentCreds,
      verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])),
      logLines,
      maxConcurrentOperations: 2,
    });
    try {
      const target = { address: '127.0.3.2', port: await heldPort(limited.agent), identity: IDENTITY };
      const pools = [pool(), pool(), pool()];
      const conns = await Promise.all(pools.map((p) => p.connect(target)));
      const follows = [await conns[0]!.logs({ container: 'app', follow: true }), await conns[1]!.logs({ container: 'app', follow: true })];
      await expect(conns[2]!.logs({ container: 'app', follow: true })).rejects.toMatchObject({ code: 'SP_AGENT_BUSY' });
      // One ends: there is room again.
      follows[0]!.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      (await conns[2]!.logs({ container: 'app', follow: true })).destroy();
      follows[1]!.destroy();
      for (const p of pools) p.close();
    } finally {
      await limited.agent.stop();
      limitedRoot.remove();
    }
  });

  it('takes no new operation on a session past its age limit: the next one is a new session, verified again', async () => {
    // Whichever certificate the agent has now (the test before renews it).
    const verifyAgent = (): Promise<{ identity: typeof IDENTITY }> => {
      calls.count += 1;
      return Promise.resolve({ identity: IDENTITY });
    };
    const p = new AgentPool({ credentials: proxyCreds, verifyAgent, logger: captureLogger(logLines, 'proxy'), maxSessionAgeMs: 600 });
    const target = { address: '127.0.3.1', port: agentPort, identity: IDENTITY };
    const before = calls.count;
    const first = await p.connect(target);
    expect(first.usable).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(first.usable).toBe(false);
    const second = await p.connect(target);
    expect(second).not.toBe(first);
    await second.info();
    expect(calls.count - before).toBe(2);
    p.close();
  });
});
