/**
 * A WebSocket as a plain byte stream, for the port-forward tunnel (KEP-4006): binary
 * messages carry a SPDY byte stream whose message boundaries mean nothing.
 *
 * - Readable: the payload of every binary message, in order. A text message is a
 *   protocol error (client-go's tunnel refuses them too). A normal close (1000, or a
 *   close frame without a code) is EOF; any other end destroys the stream with
 *   SP_CLIENT_GONE.
 * - Writable: every write is one binary message; `end()` sends close 1000, which
 *   client-go's tunnel reads as EOF.
 * - Backpressure as in ws-channel-mux.ts: a saturated reader pauses the WebSocket; a
 *   write completes at once below the socket's high-water mark, else when flushed.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ShadowplaneError, asShadowplaneError } from '../../errors.ts';

const NORMAL_CLOSURE = 1000;
const NO_STATUS = 1005;
/** After the client closed the tunnel, how long unread bytes may keep the stream open. */
const CLOSED_LINGER_MS = 30_000;

export class WebSocketByteStream extends Duplex {
  readonly #ws: WebSocket;
  readonly #socket: Duplex;
  #paused = false;

  constructor(ws: WebSocket, socket: Duplex, highWaterMark = 256 * 1024) {
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark, decodeStrings: true });
    this.#ws = ws;
    this.#socket = socket;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.destroy(new ShadowplaneError('SP_FRAME_INVALID', 'text message in a binary tunnel'));
        ws.close(1003);
        return;
      }
      if (!this.push(data) && !this.#paused) {
        this.#paused = true;
        ws.pause();
      }
    });
    ws.on('close', (code: number) => {
      if (code === NORMAL_CLOSURE || code === NO_STATUS) {
        if (!this.readableEnded) this.push(null);
        // The stream closes itself once its reader took the rest; a reader that never
        // does must not keep it open for ever.
        const timer = setTimeout(() => this.destroy(), CLOSED_LINGER_MS);
        timer.unref();
        this.once('close', () => clearTimeout(timer));
      } else {
        this.destroy(new ShadowplaneError('SP_CLIENT_GONE'));
      }
    });
    ws.on('error', () => this.destroy(new ShadowplaneError('SP_CLIENT_GONE')));
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) {
      callback(new ShadowplaneError('SP_CLIENT_GONE'));
      return;
    }
    const early = this.#socket.writableLength < this.#socket.writableHighWaterMark;
    this.#ws.send(chunk, { binary: true }, (error) => {
      if (early) {
        if (error) this.destroy(asShadowplaneError(error, 'SP_CLIENT_GONE'));
      } else {
        callback(error ? asShadowplaneError(error, 'SP_CLIENT_GONE') : null);
      }
    });
    if (early) callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(NORMAL_CLOSURE);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      if (error) this.#ws.terminate();
      else this.#ws.close(NORMAL_CLOSURE);
    }
    callback(error);
  }
}
