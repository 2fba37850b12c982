/**
 * Byte movers for transfer tests: send N random bytes over a socket while hashing them,
 * hash what comes back, all streamed (100 MB never sits in memory), bounded in time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface EchoResult {
  readonly sentSha256: string;
  readonly receivedSha256: string;
  readonly bytes: number;
  readonly ms: number;
}

/** Connects to 127.0.0.1:port, sends `bytes` random bytes, reads the echo back. */
export function echoTransfer(port: number, bytes: number, opts: { timeoutMs?: number; marker?: Buffer } = {}): Promise<EchoResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    let sentBytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`echo transfer timed out after ${receivedBytes} of ${bytes} bytes back`));
    }, opts.timeoutMs ?? 120_000);
    const block = randomBytes(1024 * 1024);
    const pump = (): void => {
      while (sentBytes < bytes) {
        const n = Math.min(block.length, bytes - sentBytes);
        // Vary every block so that a duplicated or dropped block changes the digest.
        block.writeUInt32LE(sentBytes >>> 0, 0);
        const chunk = Buffer.from(block.subarray(0, n));
        if (sentBytes === 0 && opts.marker !== undefined) opts.marker.copy(chunk, 8);
        sent.update(chunk);
        sentBytes += n;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    socket.on('connect', pump);
    socket.on('data', (c: Buffer) => {
      received.update(c);
      receivedBytes += c.length;
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve({ sentSha256: sent.digest('hex'), receivedSha256: received.digest('hex'), bytes: receivedBytes, ms: Date.now() - started });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A free TCP port on 127.0.0.1 (best effort: free when asked). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends `payload` on a fresh connection, half-closes, and returns everything received. */
export function exchange(port: number, payload: Buffer, timeoutMs = 15_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('exchange timed out'));
    }, timeoutMs);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
