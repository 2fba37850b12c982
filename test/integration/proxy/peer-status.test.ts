/**
 * A peer's status that no client can be given: the untrusted API server answering a
 * passthrough request with `:status 600` or `999` (Node's HTTP/2 client accepts those;
 * its server refuses to send them, and the refusal used to be an uncaught exception that
 * ended the proxy; a status below 100 its client refuses itself, as a stream error). The upstream here writes raw HTTP/2 frames, real sockets both ways.
 */
import http2 from 'node:http2';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.ts';
import { passthrough } from '../../../src/proxy/passthrough.ts';
import type { Upstream } from '../../../src/proxy/upstream.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** An h2c "API server" that answers every stream with a HEADERS frame holding only `:status` = `status`, literally. */
async function rawUpstream(status: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    // Settings, and the ack of the client's.
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]));
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < 24) return;
        pending = pending.subarray(24);
        prefaceSeen = true;
      }
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) return;
        const type = pending[3]!;
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        pending = pending.subarray(9 + length);
        if (type !== 1) continue;
        // Literal without indexing, name index 8 (:status), value as sent; END_STREAM | END_HEADERS.
        const block = Buffer.from([0x08, status.length, ...Buffer.from(status)]);
        const head = Buffer.from([0, 0, block.length, 1, 0x05, 0, 0, 0, 0]);
        head.writeUInt32BE(stream, 5);
        socket.write(Buffer.concat([head, block]));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return server;
}

async function front(upstreamPort: number): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${upstreamPort}`);
  session.on('error', () => undefined);
  closers.push(() => session.destroy());
  const upstream = {
    request: (method: string, path: string, headers: http2.OutgoingHttpHeaders, o: { endStream?: boolean }) =>
      Promise.resolve(session.request({ ...headers, ':method': method, ':path': path }, { endStream: o.endStream ?? false })),
    credentials: {},
  } as unknown as Upstream;
  const server = http2.createServer((req, res) => void passthrough(req, res, {} as never, { upstream, authMode: 'forward-token', logger: silentLogger() }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function get(port: number): Promise<{ status: number; body: string }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => undefined);
  try {
    return await new Promise((resolve, reject) => {
      const req = client.request({ ':path': '/api/v1/namespaces/default/pods' });
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
  } finally {
    client.close();
  }
}

describe('a status from the API server that cannot be relayed', () => {
  it.each(['600', '999'])('answers %s as 502 SP_UPSTREAM_PROTOCOL and keeps running', async (status) => {
    const upstream = await rawUpstream(status);
    const port = await front((upstream.address() as AddressInfo).port);
    const r = await get(port);
    expect(r.status).toBe(502);
    expect(r.body).toContain('SP_UPSTREAM_PROTOCOL');
    // The process is still here and serves the next request the same way.
    expect((await get(port)).status).toBe(502);
  });
});
