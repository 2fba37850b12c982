/**
 * Every wait of the agent on a proxy ends, so that a peer that idles or stops reading
 * cannot keep an agent socket, its memory and one of the listener's `maxConnections`
 * slots.
 *
 * Bug: such a peer held them forever. Node's TLS server only reports a handshake timeout
 * (`tlsClientError`) and leaves the socket open, and the listener only logged it: a TCP
 * peer that sent nothing kept its socket. A refused proxy's session is closed gracefully,
 * and a graceful close waits on the peer three times: for every stream to end (an answer
 * the peer grants no window for never does), for the TLS socket to flush (a peer that
 * does not read never lets it), and for the peer to close its side (until then the socket
 * stays half-closed). Any graceful end of a verified session (GOAWAY at the session's age
 * limit, once its streams have finished) waited the same way.
 *
 * Seen as the agent sees it: each listener here has one connection slot, so while a
 * connection holds it a probe's TLS handshake is refused at once. The peers are
 * hand-written HTTP/2 frames over real TLS; evidence is simulated (allowed here).
 */
import { connect as h2Connect, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAttestedCredentials } from '../../../src/attestation/index.ts';
import { AgentListener, type AgentListenerOptions } from '../../../src/channel/agent-listener.ts';
import { agentClaims, proxyClaims, raTlsProxyVerifier } from '../../../src/channel/ra-tls-trust.ts';
import { proxyTlsOptions, type ChannelCredentials } from '../../../src/channel/trust.ts';
import { silentLogger } from '../../../src/log.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { simulatedTrust } from './support/simulated-trust.ts';
import { within } from '../../support/testing.ts';
import { h2Frame as frame } from './support/h2-frames.ts';

/**
 * The bound a test is about, shortened. A wait allows several times that, and less than
 * the 10 s default of the others, so that each test sees its own bound at work.
 */
const BOUND_MS = 2000;
const WAIT_MS = 8000;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const TYPE = { headers: 0x1, settings: 0x4, windowUpdate: 0x8 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const MAX_WINDOW = 0x7fffffff;

/** HPACK: each header as a literal without indexing, new name (names and values under 127 bytes). */
function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) parts.push(Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value));
  return Buffer.concat(parts);
}

/** The client preface, SETTINGS with the given initial stream window (and the connection window at its maximum), and a GET on stream 1. */
function requestWithWindow(initialWindow: number): Buffer {
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
  settings.writeUInt32BE(initialWindow, 2);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(MAX_WINDOW - 65_535, 0);
  const request = frame(TYPE.headers, END_HEADERS | END_STREAM, 1, headerBlock({ ':method': 'GET', ':scheme': 'https', ':authority': 'agent', ':path': '/v1/info' }));
  return Buffer.concat([PREFACE, frame(TYPE.settings, 0, 0, settings), frame(TYPE.windowUpdate, 0, 0, increment), request]);
}

/** True when a TLS handshake with the listener completes, false when the listener drops the connection (its one slot is taken). */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('close', () => resolve(false));
  });
}

async function slotFreed(port: number, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe(port))) {
    if (Date.now() > deadline) throw new Error(`${what}: the connection still held the agent's slot after ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let agentCredentials: ChannelCredentials;
let proxyCredentials: ChannelCredentials;
let strangerCredentials: ChannelCredentials;
let verifyProxy: AgentListenerOptions['verifyProxy'];
const opened: { listeners: AgentListener[]; sockets: Socket[] } = { listeners: [], sockets: [] };

beforeAll(async () => {
  const { issuer, reference } = await simulatedTrust();
  const [agent, proxy, stranger] = await Promise.all([
    createAttestedCredentials({ issuer, claims: agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }), validity: 600_000 }),
    createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)), validity: 600_000 }),
    createSelfSigned({ commonName: 'stranger', validityMs: 600_000, usage: 'server' }),
  ]);
  agentCredentials = { key: agent.keyPem, cert: agent.certPem };
  proxyCredentials = { key: proxy.keyPem, cert: proxy.certPem };
  strangerCredentials = { key: stranger.keyPem, cert: stranger.certPem };
  // The attested proxy passes; the stranger's certificate carries no evidence.
  verifyProxy = raTlsProxyVerifier({ reference, allowedManifestDigests: [], allowSimulated: true });
}, 60_000);

afterEach(async () => {
  for (const socket of opened.sockets.splice(0)) socket.destroy();
  await Promise.all(opened.listeners.splice(0).map((listener) => listener.close(100)));
});

/** A listener with one connection slot. */
async function startListener(options: Partial<AgentListenerOptions>): Promise<number> {
  const listener = new AgentListener({
    credentials: agentCredentials,
    verifyProxy,
    serve: (stream) => {
      stream.respond({ ':status': 200 });
      stream.end();
    },
    logger: silentLogger(),
    maxConcurrentStreams: 100,
    maxConnections: 1,
    ...options,
  });
  opened.listeners.push(listener);
  return (await listener.listen('127.0.0.1', 0)).port;
}

async function connectPeer(port: number, credentials: ChannelCredentials, options: { allowHalfOpen?: boolean } = {}): Promise<TLSSocket> {
  const socket = tlsConnect({ ...proxyTlsOptions(credentials, '127.0.0.1', port), ...options });
  opened.sockets.push(socket);
  socket.on('error', () => undefined);
  await within(5000, 'the TLS handshake', new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())));
  return socket;
}

describe('a peer that idles or stops reading', () => {
  it('loses a connection that never completes the TLS handshake after the handshake timeout', async () => {
    const port = await startListener({ handshakeTimeoutMs: BOUND_MS });
    const socket = netConnect(port, '127.0.0.1');
    opened.sockets.push(socket);
    socket.on('error', () => undefined);
    await within(5000, 'the TCP connection', new Promise<void>((resolve) => socket.once('connect', () => resolve())));
    // It sends nothing: no ClientHello.
    expect(await probe(port)).toBe(false);
    await slotFreed(port, 'a silent TCP peer');
  }, 30_000);

  it('loses the connection of a refused proxy that sends nothing and reads nothing', async () => {
    const port = await startListener({ refusedCloseGraceMs: BOUND_MS });
    const socket = await connectPeer(port, strangerCredentials);
    socket.pause();
    expect(await probe(port)).toBe(false);
    await slotFreed(port, 'a refused idle peer');
  }, 30_000);

  it('loses the connection of a refused proxy that grants no window for the refusal and reads nothing', async () => {
    const port = await startListener({ refusedCloseGraceMs: BOUND_MS });
    const socket = await connectPeer(port, strangerCredentials);
    // The agent can send the 403's headers but not its body: the stream never ends.
    socket.write(requestWithWindow(0));
    socket.pause();
    expect(await probe(port)).toBe(false);
    await slotFreed(port, 'a refused peer that grants no window');
  }, 30_000);

  it('loses the connection of a refused proxy that reads the refusal but never closes its side', async () => {
    const port = await startListener({ refusedCloseGraceMs: BOUND_MS });
    const socket = await connectPeer(port, strangerCredentials, { allowHalfOpen: true });
    socket.on('data', () => undefined);
    socket.write(requestWithWindow(65_535));
    expect(await probe(port)).toBe(false);
    await slotFreed(port, 'a refused peer that keeps its side open');
  }, 30_000);

  it('loses the connection of a verified proxy that stops reading while its session ends gracefully', async () => {
    let answered = false;
    const port = await startListener({
      // The session's age limit is 1 s: GOAWAY, and the session ends once its stream has.
      maxSessionAgeMs: 1000,
      gracefulEndTimeoutMs: BOUND_MS,
      serve: (stream) => {
        // More than loopback buffers take from a peer that reads nothing: the end has to flush it.
        stream.respond({ ':status': 200 });
        stream.end(Buffer.alloc(9 * 1024 * 1024));
        answered = true;
      },
    });
    const socket = await connectPeer(port, proxyCredentials);
    socket.write(requestWithWindow(MAX_WINDOW));
    socket.pause();
    expect(await probe(port)).toBe(false);
    await slotFreed(port, 'a verified peer that stopped reading');
    expect(answered).toBe(true);
  }, 30_000);
});

describe('a session that ends gracefully', () => {
  // Not a regression test: it guards the bound above. The session's age limit takes new
  // streams away (GOAWAY); a running one goes on for as long as it runs (the end of the
  // proxy's trust, by contrast, ends it: trust-end.test.ts).
  it('lets a stream that runs on after the GOAWAY finish, for longer than the graceful end bound', async () => {
    let finish: (() => void) | undefined;
    const port = await startListener({
      maxSessionAgeMs: 500,
      gracefulEndTimeoutMs: BOUND_MS,
      serve: (stream: ServerHttp2Stream) => {
        stream.respond({ ':status': 200 });
        stream.write('before the GOAWAY,');
        finish = () => stream.end(' after it');
      },
    });
    const session = h2Connect(`https://127.0.0.1:${port}`, { createConnection: () => tlsConnect(proxyTlsOptions(proxyCredentials, '127.0.0.1', port)) });
    session.on('error', () => undefined);
    try {
      const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
      const request = session.request({ ':method': 'GET', ':path': '/v1/info' });
      const body = new Promise<string>((resolve, reject) => {
        const parts: Buffer[] = [];
        request.on('data', (chunk: Buffer) => parts.push(chunk));
        request.once('end', () => resolve(Buffer.concat(parts).toString()));
        request.once('error', reject);
      });
      body.catch(() => undefined);
      await within(5000, 'the GOAWAY', goaway);
      await new Promise((resolve) => setTimeout(resolve, 2 * BOUND_MS));
      expect(finish).toBeDefined();
      finish?.();
      expect(await within(5000, 'the answer', body)).toBe('before the GOAWAY, after it');
    } finally {
      session.destroy();
    }
  }, 30_000);
});
