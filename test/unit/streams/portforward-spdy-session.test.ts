/**
 * The SPDY port-forward terminator against shadowplane's own SPDY client role over an
 * in-memory socket pair: stream pairing (by requestid, and the kubelet's fallback), the
 * error-stream contract kubectl depends on, and the bounded pair wait.
 */
import { duplexPair } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SpdyConnection } from '../../../src/kube-streams/spdy-connection.ts';
import type { SpdyStream } from '../../../src/kube-streams/spdy-stream.ts';
import { AsyncQueue } from '../../../src/proxy/streams/async-queue.ts';
import { servePortForwardSpdy } from '../../../src/proxy/streams/portforward-spdy.ts';
import { DEFAULT_TIMEOUTS } from '../../../src/proxy/streams/session-timing.ts';
import type { ForwardedConnection } from '../../../src/proxy/streams/types.ts';
import { silentLogger } from '../../../src/log.ts';

function withTimeout<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

async function readAll(stream: SpdyStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

function start(streamTimeoutMs = 2000) {
  const [serverSocket, clientSocket] = duplexPair();
  const session = servePortForwardSpdy({
    socket: serverSocket,
    protocol: 'spdy/portforward.k8s.io',
    timeouts: { ...DEFAULT_TIMEOUTS, streamTimeoutMs, closeGraceMs: 200 },
    logger: silentLogger(),
  });
  const client = new SpdyConnection(clientSocket, { role: 'client' });
  const iterator = session.connections()[Symbol.asyncIterator]();
  const next = async (): Promise<ForwardedConnection> => {
    const result = await withTimeout(iterator.next());
    if (result.done === true) throw new Error('no more connections');
    return result.value;
  };
  /** Opens a connection the way client-go does: error stream, FIN it, then the data stream. */
  const openPair = async (port: number, requestId?: string): Promise<{ error: SpdyStream; data: SpdyStream }> => {
    const base: Array<[string, string]> = [['port', String(port)]];
    if (requestId !== undefined) base.push(['requestid', requestId]);
    const error = await client.openStream([['streamtype', 'error'], ...base]);
    error.end();
    const data = await client.openStream([['streamtype', 'data'], ...base]);
    return { error, data };
  };
  return { session, client, next, openPair, serverSocket };
}

describe('SPDY port-forward session', () => {
  it('pairs error and data streams by requestid and carries data both ways', async () => {
    const { session, next, openPair } = start();
    const a = await openPair(8080, '0');
    const b = await openPair(9090, '1');
    const first = await next();
    const second = await next();
    expect([first.port, first.requestId, second.port, second.requestId]).toEqual([8080, '0', 9090, '1']);
    a.data.end('to 8080');
    expect(await readAll(first.data as SpdyStream)).toBe('to 8080');
    first.data.end('from 8080');
    expect(await withTimeout(readAll(a.data))).toBe('from 8080');
    first.close();
    // kubectl blocks on the error stream until it is closed: it must end, empty.
    expect(await withTimeout(readAll(a.error))).toBe('');
    expect(session.counters).toEqual({ bytesIn: 7, bytesOut: 9 });
    second.close();
    expect(await withTimeout(readAll(b.error))).toBe('');
    session.close();
  });

  it('pairs streams without requestid the kubelet way (error id, data id - 2)', async () => {
    const { next, openPair } = start();
    await openPair(7000);
    const connection = await next();
    expect(connection.requestId).toBe('1');
    expect(connection.port).toBe(7000);
  });

  it('fail() sends the message on the error stream and ends both streams', async () => {
    const { next, openPair } = start();
    const pair = await openPair(8080, '0');
    const connection = await next();
    connection.fail('nothing listens on port 8080');
    expect(await withTimeout(readAll(pair.data))).toBe('');
    expect(await withTimeout(readAll(pair.error))).toBe('nothing listens on port 8080');
  });

  it('answers an incomplete pair on its error stream after the stream timeout', async () => {
    const { client } = start(150);
    const error = await client.openStream([['streamtype', 'error'], ['port', '1'], ['requestid', '5']]);
    error.end();
    expect(await withTimeout(readAll(error))).toContain('SP_SESSION_TIMEOUT');
  });

  it('answers a pair whose port header is invalid on its error stream', async () => {
    const { openPair } = start();
    const pair = await openPair(0, '0');
    expect(await withTimeout(readAll(pair.error))).toContain('SP_BAD_REQUEST');
  });

  it('refuses streams that are neither error nor data', async () => {
    const { client } = start();
    const stream = await client.openStream([['streamtype', 'stdin']]);
    // The RST arrives right behind the SYN_REPLY, so the stream may already be gone.
    if (!stream.destroyed) await withTimeout(new Promise((resolve) => stream.once('close', resolve)));
    expect(stream.errored).toMatchObject({ code: 'SP_STREAM_RESET' });
  });

  it('ends connections() and aborts when the client goes away', async () => {
    const { session, serverSocket } = start();
    const iterator = session.connections()[Symbol.asyncIterator]();
    serverSocket.destroy();
    expect(await withTimeout(iterator.next())).toEqual({ value: undefined, done: true });
    expect(session.aborted.aborted).toBe(true);
  });
});

describe('AsyncQueue', () => {
  it('hands items to one consumer in order and finishes after end()', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    const seen: number[] = [];
    const consumed = (async () => {
      for await (const item of queue) seen.push(item);
    })();
    queue.push(2);
    await new Promise((resolve) => setImmediate(resolve));
    queue.push(3);
    queue.end();
    queue.push(4);
    await withTimeout(consumed);
    expect(seen).toEqual([1, 2, 3]);
  });
});
