/**
 * Answers and resets that arrive in one read. The agent reads the channel through
 * session-socket.ts, a JS socket: node:http2 then parses a whole read in one go and
 * emits 'stream', 'response' and 'end' (a tick later) only after every frame of that
 * read was parsed, but 'aborted' while parsing. The proxy keeps its native socket, on
 * which Node delivers each frame's events before it parses the next.
 *
 * Bug (revert of the session socket, ff29a61): with the proxy behind the session socket
 * too, an 11 MB scrape whose scrub kept nothing (an empty answer, HEADERS and
 * END_STREAM in one read) hung until the client gave up: the proxy attached its body
 * reader one await after 'response' and missed 'end'. And under load an agent's refusal
 * came out as SP_AGENT_SESSION_LOST: the RST_STREAM (NO_ERROR) Node's server sends after
 * answering a request it did not read came in the same read, and its 'aborted'
 * overtook the 'response'. These cases pin that the proxy reads such answers right.
 *
 * The "agents" here are hand-written HTTP/2 frames over real TLS, each answer written in
 * one TLS write; the agent side is a real AgentListener that gets a request and its
 * RST_STREAM in one TLS write.
 */
import { connect as tlsConnect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttestedCredentials } from '../../../src/attestation/index.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import { AgentListener } from '../../../src/channel/agent-listener.ts';
import { encodeScrubStats } from '../../../src/channel/metrics-protocol.ts';
import { encodeErrorBody } from '../../../src/channel/protocol.ts';
import { agentClaims, proxyClaims, raTlsProxyVerifier } from '../../../src/channel/ra-tls-trust.ts';
import { proxyTlsOptions } from '../../../src/channel/trust.ts';
import { ShadowplaneError, isShadowplaneError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { CONTENT_TYPES } from '../../../src/metrics/content-type.ts';
import { emptyScrubStats } from '../../../src/metrics/scrub.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { simulatedTrust } from './support/simulated-trust.ts';
import { testConnection } from './support/connection.ts';
import { within } from '../../support/testing.ts';
import { h2Frame as frame } from './support/h2-frames.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const TYPE = { data: 0x0, headers: 0x1, rstStream: 0x3, settings: 0x4 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/** HPACK: each header as a literal without indexing, new name (names and values under 127 bytes). */
function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) parts.push(Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value));
  return Buffer.concat(parts);
}

function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(TYPE.rstStream, 0, streamId, payload);
}

/** The frames in `bytes` from `offset` on (after the client preface by default), as far as they are complete. */
function* frames(bytes: Buffer, offset = PREFACE.length): Generator<{ type: number; streamId: number }> {
  while (offset + 9 <= bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (offset + 9 + length > bytes.length) return;
    yield { type: bytes[offset + 3]!, streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff };
    offset += 9 + length;
  }
}

describe('the proxy reading an answer that arrives in one read', () => {
  let keyPem: string;
  let certPem: string;
  const servers: Server[] = [];
  const connections: AgentConnection[] = [];

  beforeAll(async () => {
    ({ keyPem, certPem } = await createSelfSigned({ commonName: 'agent', validityMs: 3_600_000, usage: 'server' }));
  });

  afterAll(() => {
    for (const connection of connections) connection.destroy();
    for (const server of servers) server.close();
  });

  /**
   * An AgentConnection to an "agent" that, once the proxy's first request (stream 1) is
   * in, writes its SETTINGS ack and `answer` in one TLS write.
   */
  async function connectToAgent(answer: Buffer[]): Promise<AgentConnection> {
    const server = createServer({ key: keyPem, cert: certPem, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (socket) => {
      socket.on('error', () => undefined);
      socket.write(frame(TYPE.settings, 0, 0));
      let received = Buffer.alloc(0);
      let answered = false;
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (answered || ![...frames(received)].some((f) => f.type === TYPE.headers && f.streamId === 1)) return;
        answered = true;
        socket.write(Buffer.concat([frame(TYPE.settings, 0x1, 0), ...answer]));
      });
    });
    servers.push(server);
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    const { connection } = await testConnection(port);
    connections.push(connection);
    return connection;
  }

  /** The agent's refusal as Node's server sends it for a request it did not read. */
  function refusal(): Buffer[] {
    const body = encodeErrorBody(new ShadowplaneError('SP_AGENT_REFUSED'));
    return [
      frame(TYPE.headers, END_HEADERS, 1, headerBlock({ ':status': '403', 'content-type': 'application/json', 'content-length': String(body.length) })),
      frame(TYPE.data, END_STREAM, 1, body),
      rstStream(1, 0),
    ];
  }

  it('takes an empty metrics answer whose headers and end come in one read', async () => {
    const stats = encodeScrubStats({ ...emptyScrubStats(), droppedSeries: 272_000 });
    const connection = await connectToAgent([
      frame(TYPE.headers, END_HEADERS, 1, headerBlock({ ':status': '200', 'content-type': CONTENT_TYPES.text, 'content-length': '0', 'x-shadowplane-scrub-stats': stats })),
      frame(TYPE.data, END_STREAM, 1),
    ]);
    const scraped = await within(5000, 'the metrics answer', connection.metrics({ format: 'text', port: undefined }, { policy: {}, hashKey: Buffer.alloc(32) }));
    expect(scraped.body.length).toBe(0);
    expect(scraped.stats.droppedSeries).toBe(272_000);
  });

  it('ends the log of a container that wrote nothing, when its answer comes in one read', async () => {
    const connection = await connectToAgent([frame(TYPE.headers, END_HEADERS, 1, headerBlock({ ':status': '200', 'content-type': 'text/plain' })), frame(TYPE.data, END_STREAM, 1)]);
    const log = await within(5000, 'the logs answer', connection.logs({ container: 'app' }));
    const bytes = await within(
      5000,
      'the end of the log',
      new Promise<number>((resolve, reject) => {
        let n = 0;
        log.on('data', (chunk: Buffer) => (n += chunk.length));
        log.once('end', () => resolve(n));
        log.once('error', reject);
      }),
    );
    expect(bytes).toBe(0);
  });

  it('fails an exec with the agent\'s refusal, not a lost session, when the RST_STREAM after it comes in the same read', async () => {
    const connection = await connectToAgent(refusal());
    const result = await within(5000, 'the exec', connection.exec({ container: 'app', command: ['true'], stdin: false, stdout: true, stderr: true, tty: false }, { stdin: null, stdout: null, stderr: null, resizes: null }));
    expect(result.kind).toBe('error');
    expect(result.kind === 'error' ? result.error.code : undefined).toBe('SP_AGENT_REFUSED');
  });

  it('fails a port-forward with the agent\'s refusal, not a lost session, when the RST_STREAM after it comes in the same read', async () => {
    const connection = await connectToAgent(refusal());
    const error = await within(5000, 'the port-forward', connection.portForward(8080).then(() => new Error('accepted'), (err: unknown) => err));
    expect(isShadowplaneError(error) ? error.code : error).toBe('SP_AGENT_REFUSED');
  });
});

describe('the agent reading a request and its reset in one read', () => {
  it('runs nothing for a stream the proxy reset in the same read as its request, and serves the next one', async () => {
    const { issuer, reference } = await simulatedTrust();
    const [agentCreds, proxyCreds] = await Promise.all([
      createAttestedCredentials({ issuer, claims: agentClaims({ namespace: 'ns', pod: 'p', container: 'c' }), validity: 600_000 }),
      createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)), validity: 600_000 }),
    ]);
    const served: string[] = [];
    const listener = new AgentListener({
      credentials: { key: agentCreds.keyPem, cert: agentCreds.certPem },
      verifyProxy: raTlsProxyVerifier({ reference, allowedManifestDigests: [], allowSimulated: true }),
      serve: (stream, headers) => {
        served.push(String(headers[':path']));
        stream.respond({ ':status': 200 });
        stream.end();
      },
      logger: silentLogger(),
      maxConcurrentStreams: 100,
    });
    const { port } = await listener.listen('127.0.0.1', 0);
    let socket: TLSSocket | undefined;
    try {
      socket = tlsConnect(proxyTlsOptions({ key: proxyCreds.keyPem, cert: proxyCreds.certPem }, '127.0.0.1', port));
      socket.on('error', () => undefined);
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      await within(5000, 'the TLS handshake', new Promise<void>((resolve) => socket!.once('secureConnect', () => resolve())));
      const request = (streamId: number, path: string): Buffer => frame(TYPE.headers, END_HEADERS | END_STREAM, streamId, headerBlock({ ':method': 'GET', ':scheme': 'https', ':authority': 'agent', ':path': path }));
      // The request and its cancellation (RST_STREAM CANCEL) in one write.
      socket.write(Buffer.concat([PREFACE, frame(TYPE.settings, 0, 0), request(1, '/cancelled'), rstStream(1, 0x8)]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.write(request(3, '/served'));
      // The answer to stream 3: a HEADERS frame on it from the agent.
      await within(
        5000,
        'the answer to the second request',
        (async () => {
          while (![...frames(Buffer.concat(received), 0)].some((f) => f.type === TYPE.headers && f.streamId === 3)) await new Promise((resolve) => setTimeout(resolve, 20));
        })(),
      );
      expect(served).toEqual(['/served']);
    } finally {
      socket?.destroy();
      await listener.close(100);
    }
  }, 30_000);
});
