/**
 * One proxy↔agent session carries every operation on a pod, so heavy traffic on some of
 * its streams must never stop the others, the session's PINGs, or its teardown.
 *
 * Bug (review F2): 300 port-forward connections each echoing 256 KiB froze the whole
 * session. Node's Http2Session stops reading its socket while one of its own writes is
 * pending; with both ends sending more than the kernel buffers hold, each end waited
 * for the other to read (0 CPU, full Recv-Q and Send-Q on both ends). The proxy's ping
 * then gave up, but `session.destroy()` waits for that pending write before it ends the
 * socket, so the connection stayed, and the agent held every target connection and
 * operation slot. Fixed in session-socket.ts and AgentConnection.destroy().
 *
 * With the channel's 4 MiB connection window, what one end has in flight fits in the
 * kernel buffers of loopback, so the first case here would pass without the fix on this
 * machine (it froze when the window was 32 MiB, and froze again with 4 MiB when the
 * kernel buffers were capped at 1 MiB, as between hosts they may be). The last case
 * therefore has two peers as the channel has them, a native client and a server behind
 * the session socket, with 32 MiB windows, past what loopback buffers.
 */
import { connect as h2Connect, createServer as createH2Server, type ServerHttp2Stream } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentIdentity } from '../../../src/channel/trust.ts';
import { sessionSocket } from '../../../src/channel/session-socket.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { agentVerifier, makeCredentials, proxyVerifier } from './support/credentials.ts';
import { commandStreams } from './support/streams.ts';
import { within } from '../../support/testing.ts';

const ADDRESS = '127.0.4.7';
const IDENTITY: AgentIdentity = { namespace: 'payments', pod: 'api-0' };
const LIMIT = 400;

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes `payload` and ends, reading at the same time; resolves with what came back. */
function roundTrip(stream: Duplex, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
    stream.end(payload);
  });
}

describe('one session under heavy two-way port-forward traffic', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  const targets = new Set<Socket>();
  let echo: Server;
  let echoPort: number;
  let test: TestAgent;
  let pool: AgentPool;
  let agentPort: number;

  beforeAll(async () => {
    const [proxyCreds, agentCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent')]);
    test = await startTestAgent({ address: ADDRESS, command: ['sleep', '120'], root: root.path, credentials: agentCreds, verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])), logLines, maxConcurrentOperations: LIMIT });
    agentPort = await heldPort(test.agent);
    pool = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]])), logger: captureLogger(logLines, 'proxy'), pingIntervalMs: 1000, pingTimeoutMs: 3000 });
    echo = createServer({ allowHalfOpen: true }, (socket) => {
      targets.add(socket);
      socket.once('close', () => targets.delete(socket));
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    echoPort = await new Promise<number>((resolve) => echo.listen(0, '127.0.0.1', () => resolve((echo.address() as { port: number }).port)));
  });

  afterAll(async () => {
    for (const socket of targets) socket.destroy();
    echo?.close();
    pool?.close();
    await test?.agent.stop();
    root.remove();
  });

  const connect = (): Promise<AgentConnection> => pool.connect({ address: ADDRESS, port: agentPort, identity: IDENTITY });

  it('echoes 300 connections × 256 KiB both ways, while an exec and an info on the same session answer', async () => {
    const conn = await connect();
    const started = performance.now();
    const echoes = Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const payload = Buffer.alloc(256 * 1024, i % 251);
        const back = await roundTrip(await conn.portForward(echoPort), payload);
        return back.equals(payload);
      }),
    );
    echoes.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    // Other operations of the pod go on meanwhile (before the fix: SP_AGENT_SESSION_LOST
    // once the ping gave up).
    const info = await within(5000, 'info during the transfer', conn.info());
    expect(info.pod).toBe('api-0');
    const io = commandStreams();
    const result = await within(10_000, 'exec during the transfer', conn.exec({ container: 'app', command: ['echo', 'exec-ok'], stdin: false, stdout: true, stderr: true, tty: false }, io));
    expect(result).toMatchObject({ kind: 'exit', code: 0 });
    expect(io.stdout.text()).toBe('exec-ok\n');
    const ok = await within(30_000, '300 × 256 KiB echoes', echoes);
    console.log(`300 × 256 KiB echoed both ways on one session: ${(performance.now() - started).toFixed(0)} ms`);
    expect(ok.every(Boolean)).toBe(true);
    expect(conn.usable).toBe(true);
    await waitFor(() => targets.size === 0, 5000, 'target connections closed after the echoes');
  }, 60_000);

  it('closes every target connection and frees every operation slot when the session is destroyed mid-transfer', async () => {
    const conn = await connect();
    const streams = await within(
      20_000,
      '350 port-forward connections',
      Promise.all(
        Array.from({ length: 350 }, async () => {
          const stream = await conn.portForward(echoPort);
          // Fails with SP_AGENT_SESSION_LOST when the session is destroyed below.
          stream.on('error', () => undefined);
          return stream;
        }),
      ),
    );
    await waitFor(() => targets.size === 350, 5000, 'the agent connected all 350 targets');
    // Both ways at full speed: every connection sends 1 MiB and gets it echoed.
    for (const [i, stream] of streams.entries()) {
      stream.on('data', () => undefined);
      stream.write(Buffer.alloc(1024 * 1024, i % 251));
    }
    await new Promise((r) => setTimeout(r, 300));
    conn.destroy();
    // The agent ends its side of every operation at once: no target connection stays.
    await waitFor(() => targets.size === 0, 5000, 'every target connection closed after the session was destroyed');
    // And its operation count is back to zero: a new session gets all LIMIT slots at once.
    const next = await connect();
    expect(next).not.toBe(conn);
    const settled = await within(20_000, `${LIMIT} port-forward connections on the next session`, Promise.allSettled(Array.from({ length: LIMIT }, () => next.portForward(echoPort))));
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => (isShadowplaneError(s.reason) ? s.reason.code : String(s.reason)));
    expect(refused).toEqual([]);
    for (const s of settled) {
      if (s.status !== 'fulfilled') continue;
      s.value.on('error', () => undefined);
      s.value.destroy();
    }
    await waitFor(() => targets.size === 0, 5000, 'target connections closed after their streams were cancelled');
  }, 60_000);
});

describe('the session socket', () => {
  it('keeps a server behind it reading while it and its native client both send, with 32 MiB windows: 300 streams echo 256 KiB each', async () => {
    const WINDOW = 32 * 1024 * 1024;
    // What session-socket.ts asks of the budget: two connection windows plus control frames.
    const BUDGET = 2 * WINDOW + 2 * 1024 * 1024;
    const settings = { initialWindowSize: 256 * 1024, maxFrameSize: 64 * 1024, maxConcurrentStreams: 1000 };
    const { keyPem, certPem } = await createSelfSigned({ commonName: 'peer', validityMs: 3_600_000, usage: 'server' });
    const h2 = createH2Server({ settings, maxSessionMemory: 512 });
    h2.on('session', (session) => session.setLocalWindowSize(WINDOW));
    h2.on('stream', (stream: ServerHttp2Stream) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200 });
      stream.pipe(stream);
    });
    const tls = createTlsServer({ key: keyPem, cert: certPem, ALPNProtocols: ['h2'] }, (socket) => void h2.emit('connection', sessionSocket(socket, BUDGET)));
    const port = await new Promise<number>((resolve) => tls.listen(0, '127.0.0.1', () => resolve((tls.address() as { port: number }).port)));
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    await within(5000, 'the TLS handshake', new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())));
    const session = h2Connect(`https://127.0.0.1:${port}`, { settings, maxSessionMemory: 512, createConnection: () => socket });
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(WINDOW));
    try {
      const echoed = await within(
        30_000,
        '300 × 256 KiB echoes',
        Promise.all(
          Array.from({ length: 300 }, async (_, i) => {
            const req = session.request({ ':method': 'POST', ':path': '/' });
            const payload = Buffer.alloc(256 * 1024, i % 251);
            return (await roundTrip(req, payload)).equals(payload);
          }),
        ),
      );
      expect(echoed.every(Boolean)).toBe(true);
    } finally {
      session.destroy();
      socket.destroy();
      tls.close();
      h2.close();
    }
  }, 60_000);
});
