import { createHash, randomBytes } from 'node:crypto';
import { duplexPair, type Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { SpdyConnection } from '../../../src/kube-streams/spdy-connection.ts';
import {
  RstStatus,
  SpdyFrameDecoder,
  SpdyFrameEncoder,
  encodeDataFrame,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  type SpdyFrame,
} from '../../../src/kube-streams/spdy-frame.ts';
import type { SpdyStream } from '../../../src/kube-streams/spdy-stream.ts';

function withTimeout<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

async function readAll(stream: SpdyStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function pair(serverOptions: { maxStreams?: number; streamHighWaterMark?: number } = {}): {
  server: SpdyConnection;
  client: SpdyConnection;
  incoming: SpdyStream[];
  nextIncoming: () => Promise<SpdyStream>;
  serverSocket: Duplex;
} {
  const [a, b] = duplexPair();
  const incoming: SpdyStream[] = [];
  const waiters: Array<(s: SpdyStream) => void> = [];
  const server = new SpdyConnection(a, {
    role: 'server',
    ...serverOptions,
    onStream: (stream) => {
      const waiter = waiters.shift();
      if (waiter) waiter(stream);
      else incoming.push(stream);
    },
  });
  const client = new SpdyConnection(b, { role: 'client' });
  const nextIncoming = (): Promise<SpdyStream> =>
    withTimeout(new Promise<SpdyStream>((resolve) => {
      const s = incoming.shift();
      if (s) resolve(s);
      else waiters.push(resolve);
    }));
  return { server, client, incoming, nextIncoming, serverSocket: a };
}

/** A raw peer: writes frames by hand and collects what the connection sends back. */
function rawPeer(role: 'server' | 'client' = 'server'): { conn: SpdyConnection; peer: Duplex; encoder: SpdyFrameEncoder; frames: SpdyFrame[]; streams: SpdyStream[]; socket: Duplex } {
  const [a, b] = duplexPair();
  const streams: SpdyStream[] = [];
  const conn = new SpdyConnection(a, { role, onStream: (s) => streams.push(s) });
  const frames: SpdyFrame[] = [];
  const decoder = new SpdyFrameDecoder((f) => frames.push(f.type === 'data' ? { ...f, data: Buffer.from(f.data) } : f));
  b.on('data', (chunk: Buffer) => decoder.push(chunk));
  return { conn, peer: b, encoder: new SpdyFrameEncoder(), frames, streams, socket: a };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe('SPDY connection', () => {
  it('opens a stream, replies, carries data both ways and half-closes each side', async () => {
    const { server, client, nextIncoming } = pair();
    const clientStream = await withTimeout(client.openStream([['streamtype', 'stdin'], ['Port', '80']]));
    const serverStream = await nextIncoming();
    expect(serverStream.id).toBe(1);
    expect(serverStream.header('streamtype')).toBe('stdin');
    expect(serverStream.header('port')).toBe('80');

    clientStream.end('from client');
    expect((await withTimeout(readAll(serverStream))).toString()).toBe('from client');
    // The server side is still writable after the client's FIN (half-close).
    serverStream.end('from server');
    expect((await withTimeout(readAll(clientStream))).toString()).toBe('from server');
    await tick();
    expect(server.streamCount).toBe(0);
    expect(client.streamCount).toBe(0);
    expect(serverStream.bytesIn).toBe(11);
    expect(serverStream.bytesOut).toBe(11);
  });

  it('gives streams odd increasing ids and keeps them independent', async () => {
    const { client, nextIncoming } = pair();
    const c1 = await client.openStream([['streamtype', 'error']]);
    const c2 = await client.openStream([['streamtype', 'data']]);
    const s1 = await nextIncoming();
    const s2 = await nextIncoming();
    expect([c1.id, c2.id, s1.id, s2.id]).toEqual([1, 3, 1, 3]);
    c2.end('two');
    c1.end('one');
    expect((await readAll(s1)).toString()).toBe('one');
    expect((await readAll(s2)).toString()).toBe('two');
  });

  it('moves 8 MiB each way without any WINDOW_UPDATE (no flow-control windows)', async () => {
    const { client, nextIncoming } = pair();
    const clientStream = await client.openStream([['streamtype', 'data']]);
    const serverStream = await nextIncoming();
    const up = randomBytes(8 * 1024 * 1024);
    const down = randomBytes(8 * 1024 * 1024);
    const received = readAll(serverStream);
    const receivedDown = readAll(clientStream);
    clientStream.end(up);
    serverStream.end(down);
    const [gotUp, gotDown] = await withTimeout(Promise.all([received, receivedDown]), 20_000);
    expect(createHash('sha256').update(gotUp).digest('hex')).toBe(createHash('sha256').update(up).digest('hex'));
    expect(createHash('sha256').update(gotDown).digest('hex')).toBe(createHash('sha256').update(down).digest('hex'));
  });

  it('pauses the socket while a stream reader is saturated and resumes when it reads', async () => {
    const { client, nextIncoming } = pair({ streamHighWaterMark: 64 * 1024 });
    const clientStream = await client.openStream([['streamtype', 'stdin']]);
    const serverStream = await nextIncoming();
    const payload = Buffer.alloc(4 * 1024 * 1024, 3);
    let written = false;
    clientStream.write(payload, () => (written = true));
    clientStream.end();
    await tick();
    await tick();
    // Nobody reads on the server: only a bounded amount was taken off the wire.
    expect(serverStream.readableLength).toBeLessThan(1024 * 1024);
    expect(written).toBe(false);
    const got = await withTimeout(readAll(serverStream), 10_000);
    expect(got.length).toBe(payload.length);
    expect(written).toBe(true);
  });

  it('echoes client pings and ignores SETTINGS and WINDOW_UPDATE', async () => {
    const { peer, frames } = rawPeer('server');
    peer.write(Buffer.concat([encodeSettings([{ id: 7, value: 1 }]), encodeWindowUpdate(0, 10), encodePing(1), encodePing(2), encodePing(3)]));
    await tick();
    expect(frames).toEqual([{ type: 'ping', id: 1 }, { type: 'ping', id: 3 }]);
  });

  it('refuses streams beyond maxStreams with REFUSED_STREAM', async () => {
    const { client, nextIncoming } = pair({ maxStreams: 2 });
    await client.openStream([['n', '1']]);
    await client.openStream([['n', '2']]);
    await nextIncoming();
    await nextIncoming();
    await expect(client.openStream([['n', '3']])).rejects.toSatisfy((e) => isShadowplaneError(e, 'SP_STREAM_RESET'));
  });

  it('ends the connection with GOAWAY(PROTOCOL_ERROR) when stream ids do not increase', async () => {
    const { conn, peer, encoder, frames } = rawPeer('server');
    peer.write(encoder.synStream(5, [['a', 'b']]));
    peer.write(encoder.synStream(3, [['a', 'b']]));
    await tick();
    expect(frames.map((f) => f.type)).toEqual(['syn_reply', 'goaway']);
    expect(frames[1]).toMatchObject({ type: 'goaway', lastGoodStreamId: 5, status: 1 });
    expect(conn.signal.aborted).toBe(true);
    expect(isShadowplaneError(conn.signal.reason, 'SP_FRAME_INVALID')).toBe(true);
  });

  it('ends the connection with GOAWAY(PROTOCOL_ERROR) on a malformed frame and destroys its streams', async () => {
    const { conn, peer, encoder, frames, streams } = rawPeer('server');
    peer.write(encoder.synStream(1, [['a', 'b']]));
    await tick();
    const stream = streams[0]!;
    const errored = new Promise<unknown>((resolve) => stream.on('error', resolve));
    peer.write(Buffer.from('8002000600000004', 'hex')); // SPDY/2
    expect(isShadowplaneError(await withTimeout(errored), 'SP_FRAME_INVALID')).toBe(true);
    await tick();
    expect(frames.at(-1)).toMatchObject({ type: 'goaway', status: 1 });
    expect(conn.streamCount).toBe(0);
  });

  it('resets a stream that receives data after the peer FIN', async () => {
    const { peer, encoder, frames } = rawPeer('server');
    peer.write(encoder.synStream(1, [['a', 'b']], { fin: true }));
    peer.write(encodeDataFrame(1, Buffer.from('late'), false));
    await tick();
    expect(frames.at(-1)).toEqual({ type: 'rst_stream', streamId: 1, status: RstStatus.STREAM_ALREADY_CLOSED });
  });

  it('destroys a stream the peer resets with SP_STREAM_RESET', async () => {
    const { peer, encoder, streams } = rawPeer('server');
    peer.write(encoder.synStream(1, [['a', 'b']]));
    await tick();
    const errored = new Promise<unknown>((resolve) => streams[0]!.on('error', resolve));
    peer.write(encodeRstStream(1, RstStatus.CANCEL));
    expect(isShadowplaneError(await withTimeout(errored), 'SP_STREAM_RESET')).toBe(true);
  });

  it('resets a stream its handler destroys, and drops data that then arrives for it', async () => {
    const { peer, encoder, frames, streams, conn } = rawPeer('server');
    peer.write(encoder.synStream(1, [['a', 'b']]));
    await tick();
    streams[0]!.destroy();
    peer.write(encodeDataFrame(1, Buffer.from('ignored'), true));
    await tick();
    expect(frames.map((f) => f.type)).toEqual(['syn_reply', 'rst_stream']);
    expect(frames[1]).toMatchObject({ streamId: 1, status: RstStatus.CANCEL });
    expect(conn.streamCount).toBe(0);
  });

  it('aborts every stream with SP_CLIENT_GONE when the peer vanishes', async () => {
    const { server, client, nextIncoming, serverSocket } = pair();
    await client.openStream([['a', 'b']]);
    const serverStream = await nextIncoming();
    const errored = new Promise<unknown>((resolve) => serverStream.on('error', resolve));
    serverSocket.destroy();
    expect(isShadowplaneError(await withTimeout(errored), 'SP_CLIENT_GONE')).toBe(true);
    await withTimeout(server.closed);
    expect(server.signal.aborted).toBe(true);
  });

  it('sends GOAWAY and ends the byte stream on end(), refusing later streams', async () => {
    const { conn, peer, encoder, frames } = rawPeer('server');
    peer.write(encoder.synStream(1, [['a', 'b']]));
    await tick();
    await withTimeout(conn.end());
    peer.write(encoder.synStream(3, [['a', 'b']]));
    await tick();
    expect(frames.map((f) => f.type)).toEqual(['syn_reply', 'goaway']);
    await finished(peer, { writable: false }).catch(() => undefined);
  });

  it('stops reading a peer that floods pings without reading the echoes, and catches up when it reads', async () => {
    const [a, b] = duplexPair();
    new SpdyConnection(a, { role: 'server' });
    const pingsPerChunk = 5000;
    const chunk = Buffer.concat(Array.from({ length: pingsPerChunk }, (_, i) => encodePing(2 * i + 1)));
    const chunks = 60; // 3.6 MB of pings, 300,000 echoes owed
    for (let i = 0; i < chunks; i++) b.write(chunk);
    await tick();
    await tick();
    // The echoes owed to a peer that does not read stay bounded (1 MiB plus one chunk).
    expect(a.writableLength).toBeLessThan(1024 * 1024 + chunk.length + 1024);
    let echoed = 0;
    const decoder = new SpdyFrameDecoder((f) => {
      if (f.type === 'ping') echoed++;
    });
    b.on('data', (data: Buffer) => decoder.push(data));
    const deadline = Date.now() + 10_000;
    while (echoed < chunks * pingsPerChunk && Date.now() < deadline) await tick();
    expect(echoed).toBe(chunks * pingsPerChunk);
  });
});
