/**
 * When the trust a session was admitted on ends, everything on the session ends, running
 * operations included; the session's age limit only takes new work away
 * (connection-bounds.test.ts guards that running streams outlive it).
 *
 * Bug (review): the end of trust (the proxy's certificate, or the owner's manifest
 * signature it was admitted on, whichever ends first; on the proxy's side the agent's
 * certificate) only sent a GOAWAY: an exec, `logs -f` or port-forward opened before it
 * ran on for as long as its client kept it open, on a manifest the owner no longer
 * vouched for.
 *
 * Real TLS between a real AgentListener and a real AgentConnection; the verifiers are
 * stand-ins that say when the peer's trust ends.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import { AgentListener } from '../../../src/channel/agent-listener.ts';
import { proxyTlsOptions, type ChannelCredentials } from '../../../src/channel/trust.ts';
import { silentLogger } from '../../../src/log.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { testConnection } from './support/connection.ts';
import { within } from '../../support/testing.ts';

const TRUST_MS = 1500;

let agentCredentials: ChannelCredentials;
let proxyCredentials: ChannelCredentials;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  const [agent, proxy] = await Promise.all([
    createSelfSigned({ commonName: 'agent', validityMs: 3_600_000, usage: 'server' }),
    createSelfSigned({ commonName: 'proxy', validityMs: 3_600_000, usage: 'client' }),
  ]);
  agentCredentials = { key: agent.keyPem, cert: agent.certPem };
  proxyCredentials = { key: proxy.keyPem, cert: proxy.certPem };
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface Operation {
  /** Chunks the agent sent before the operation ended. */
  sent: number;
  /** Resolves when the agent's side of the operation has closed. */
  closed: Promise<void>;
}

/**
 * An agent whose one operation streams a chunk every 100 ms and never ends by itself, and
 * a proxy connected to it. `proxyTrustMs` is when the agent's verifier says the proxy's
 * trust ends; `agentTrustMs` the same for the proxy's view of the agent.
 */
async function connected(proxyTrustMs: number, agentTrustMs: number): Promise<{ conn: AgentConnection; operation: Promise<Operation> }> {
  let started!: (op: Operation) => void;
  const operation = new Promise<Operation>((resolve) => (started = resolve));
  const listener = new AgentListener({
    credentials: agentCredentials,
    verifyProxy: () => Promise.resolve({ notAfterMs: Date.now() + proxyTrustMs }),
    serve: (stream: ServerHttp2Stream) => {
      const op: Operation = { sent: 0, closed: new Promise((resolve) => stream.once('close', () => resolve())) };
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200 });
      const ticker = setInterval(() => {
        if (stream.destroyed || stream.closed) return;
        stream.write('tick\n');
        op.sent++;
      }, 100);
      stream.once('close', () => clearInterval(ticker));
      started(op);
    },
    logger: silentLogger(),
    maxConcurrentStreams: 10,
  });
  cleanup.push(() => listener.close(100));
  const { port } = await listener.listen('127.0.0.1', 0);
  const { connection: conn } = await testConnection(port, { tls: proxyTlsOptions(proxyCredentials, '127.0.0.1', port), notAfterMs: Date.now() + agentTrustMs });
  cleanup.push(() => conn.destroy());
  return { conn, operation };
}

/** Reads a forwarded stream until it ends or fails; how many bytes it got. */
function drain(stream: NodeJS.ReadableStream & { on(event: 'error', cb: () => void): unknown }): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.on('error', () => resolve(bytes));
    stream.on('end', () => resolve(bytes));
    stream.on('close', () => resolve(bytes));
  });
}

it("ends an operation that is still running when the proxy's trust ends, on the agent's side", async () => {
  const { conn, operation } = await connected(TRUST_MS, 3_600_000);
  const stream = await conn.portForward(80);
  const received = drain(stream);
  const op = await operation;
  // It ran, and it ends at the trust's end: the agent's side closes, the proxy's stream with it.
  await within(TRUST_MS + 4000, "the agent's side of the operation", op.closed);
  expect(op.sent).toBeGreaterThan(3);
  expect(await within(4000, "the proxy's stream", received)).toBeGreaterThan(0);
}, 20_000);

it("ends an operation that is still running when the agent's trust ends, on the proxy's side", async () => {
  const { conn, operation } = await connected(3_600_000, TRUST_MS);
  const stream = await conn.portForward(80);
  const received = drain(stream);
  const op = await operation;
  expect(await within(TRUST_MS + 4000, "the proxy's stream", received)).toBeGreaterThan(0);
  await within(4000, "the agent's side of the operation", op.closed);
  expect(op.sent).toBeGreaterThan(3);
  expect(conn.usable).toBe(false);
}, 20_000);
