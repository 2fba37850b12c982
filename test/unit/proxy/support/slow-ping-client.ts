/**
 * A hand-written HTTP/2 client that reads no body (its flow-control window is 0) and
 * answers PINGs late, as a live client at the end of a slow path does: node:http2 answers
 * PINGs at once and cannot be told otherwise. It only records what it needs to: which
 * streams got their response head, and how each stream was reset.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { within } from '../../../support/testing.ts';
import { h2Frame } from '../../channel/support/h2-frames.ts';

const FRAME = { headers: 0x1, rstStream: 0x3, settings: 0x4, ping: 0x6 } as const;
const FLAG = { ack: 0x1, endStream: 0x1, endHeaders: 0x4 } as const;

export interface SlowPingClient {
  /** Sends GET `path` with `authorization`; resolves once its response head came, with its stream's RST code once reset. */
  open(path: string, authorization: string): Promise<{ readonly reset: Promise<number> }>;
  close(): void;
}

export async function slowPingClient(port: number, ca: string, pingAckDelayMs: number): Promise<SlowPingClient> {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => undefined);
  await within(5000, 'the TLS handshake', new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())));
  // SETTINGS_ENABLE_PUSH 0, SETTINGS_INITIAL_WINDOW_SIZE 0.
  const settings = Buffer.from([0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(FRAME.settings, 0, 0, settings)]));
  const heads = new Map<number, () => void>();
  const resets = new Map<number, (code: number) => void>();
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const type = buffered[3]!;
      const flags = buffered[4]!;
      const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
      const payload = buffered.subarray(9, 9 + length);
      buffered = buffered.subarray(9 + length);
      if (type === FRAME.settings && (flags & FLAG.ack) === 0) socket.write(h2Frame(FRAME.settings, FLAG.ack, 0));
      else if (type === FRAME.ping && (flags & FLAG.ack) === 0) {
        const opaque = Buffer.from(payload);
        setTimeout(() => socket.write(h2Frame(FRAME.ping, FLAG.ack, 0, opaque)), pingAckDelayMs);
      } else if (type === FRAME.headers) heads.get(streamId)?.();
      else if (type === FRAME.rstStream) resets.get(streamId)?.(payload.readUInt32BE(0));
    }
  });
  let nextId = 1;
  return {
    async open(path, authorization) {
      const id = nextId;
      nextId += 2;
      const reset = new Promise<number>((resolve) => resets.set(id, resolve));
      const head = new Promise<void>((resolve) => heads.set(id, resolve));
      // HPACK: :method GET, :scheme https (static table), :path, :authority and authorization as literals with indexed names.
      const literal = (index: number, value: string): Buffer => Buffer.concat([index < 15 ? Buffer.from([index]) : Buffer.from([0x0f, index - 15]), Buffer.from([value.length]), Buffer.from(value)]);
      const block = Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, 'localhost'), literal(23, authorization)]);
      socket.write(h2Frame(FRAME.headers, FLAG.endStream | FLAG.endHeaders, id, block));
      await within(5000, `the head of ${path}`, head);
      return { reset };
    },
    close: () => socket.destroy(),
  };
}
