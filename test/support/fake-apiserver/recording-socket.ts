/**
 * A Duplex that sits between a terminated TLS socket and node:http / node:http2, and
 * reports every plaintext byte in both directions to a recorder tap. Because the HTTP
 * servers only ever see this object, upgraded connections (SPDY, WebSocket) handed out
 * by the 'upgrade' event are recorded too.
 *
 * Backpressure: when the consumer stops reading (`push()` returns false) the TLS socket
 * is paused until `_read()` asks for more; writes complete only when the TLS socket
 * accepted them, so the HTTP layer sees the real socket's backpressure.
 */
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { RecorderTap } from './recorder.ts';

export class RecordingSocket extends Duplex {
  readonly inner: TLSSocket;
  readonly #tap: RecorderTap;

  constructor(inner: TLSSocket, tap: RecorderTap) {
    super({ allowHalfOpen: true });
    this.inner = inner;
    this.#tap = tap;
    inner.on('data', (chunk: Buffer) => {
      this.#tap.record('received', chunk);
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    inner.on('timeout', () => this.emit('timeout'));
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#tap.record('sent', chunk);
    this.inner.write(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const all = Buffer.concat(chunks.map((c) => c.chunk));
    this.#tap.record('sent', all);
    this.inner.write(all, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy(error ?? undefined);
    callback(error);
  }

  // The socket surface node:http and node:http2 use on a connection.
  get remoteAddress(): string | undefined {
    return this.inner.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.inner.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.inner.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.inner.localAddress;
  }
  get localPort(): number | undefined {
    return this.inner.localPort;
  }
  get encrypted(): boolean {
    return true;
  }
  get alpnProtocol(): string | false {
    return this.inner.alpnProtocol ?? false;
  }
  setTimeout(ms: number, callback?: () => void): this {
    this.inner.setTimeout(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.inner.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.inner.setKeepAlive(enable, initialDelay);
    return this;
  }
  ref(): this {
    this.inner.ref();
    return this;
  }
  unref(): this {
    this.inner.unref();
    return this;
  }
}
