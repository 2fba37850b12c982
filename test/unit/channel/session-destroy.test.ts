/**
 * AgentConnection.destroy() must end the connection even when the agent stopped reading.
 *
 * Bug (review F2): after the session froze, the proxy's ping called destroy(), but Node's
 * `session.destroy()` ends the socket only after its pending write completed, which a
 * peer that reads nothing never allows: the connection stayed, and the agent kept every
 * operation of the session (target connections, operation slots) forever.
 *
 * The "agent" here is a few hand-written HTTP/2 frames over real TLS: it grants windows
 * far beyond the channel's (so the proxy queues more than the kernel holds), answers 200
 * to every stream, and then stops reading its socket.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { testConnection } from './support/connection.ts';
import { within } from '../../support/testing.ts';
import { h2Frame as frame } from './support/h2-frames.ts';

const STREAMS = 32;

let server: Server;
let port: number;
const stalled: TLSSocket[] = [];
let resolveStalled: () => void = () => undefined;
const agentStalled = new Promise<void>((resolve) => (resolveStalled = resolve));

beforeAll(async () => {
  const { keyPem, certPem } = await createSelfSigned({ commonName: 'agent', validityMs: 3_600_000, usage: 'server' });
  server = createServer({ key: keyPem, cert: certPem, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (socket) => {
    socket.on('error', () => undefined);
    const max = Buffer.alloc(6);
    max.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
    max.writeUInt32BE(0x7fffffff, 2);
    const increment = Buffer.alloc(4);
    increment.writeUInt32BE(0x7fffffff - 65_535, 0);
    socket.write(Buffer.concat([frame(0x4, 0, 0, max), frame(0x8, 0, 0, increment)]));
    // The preface, SETTINGS and the HEADERS of the STREAMS requests, sent together: read them, then answer.
    socket.on('data', () => undefined);
    setTimeout(() => {
      socket.removeAllListeners('data');
      // SETTINGS ack, then ":status: 200" (HPACK static index 8) on every client stream.
      const answers = [frame(0x4, 0x1, 0, Buffer.alloc(0))];
      for (let id = 1; id < STREAMS * 2; id += 2) answers.push(frame(0x1, 0x4, id, Buffer.from([0x88])));
      socket.write(Buffer.concat(answers));
      socket.pause();
      stalled.push(socket);
      resolveStalled();
    }, 300);
  });
  port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
});

afterAll(() => {
  for (const socket of stalled) socket.destroy();
  server?.close();
});

it('destroy() closes the connection at once though the agent reads nothing and writes are pending', async () => {
  const { connection: conn, socket } = await testConnection(port);
  const streams = await within(5000, 'the answers', Promise.all(Array.from({ length: STREAMS }, () => conn.portForward(80))));
  await within(5000, 'the agent stalled', agentStalled);
  // 32 MiB toward an agent that reads nothing: far more than the kernel holds.
  for (const stream of streams) {
    stream.on('error', () => undefined);
    for (let i = 0; i < 4; i++) stream.write(Buffer.alloc(256 * 1024));
  }
  // Let the session send what it can: then its writes are stuck, and so is every stream.
  await new Promise((r) => setTimeout(r, 1000));
  expect(streams.every((stream) => stream.writableLength > 0)).toBe(true);
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 2000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  conn.destroy();
  expect(await closed).toBe(true);
  expect(conn.usable).toBe(false);
}, 30_000);
