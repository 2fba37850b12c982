/**
 * One SPDY stream as a Node Duplex: what the peer sends on it is readable, what is
 * written goes to the peer. Half-close works both ways: `end()` sends FIN, and the
 * readable side ends when the peer's FIN arrives.
 *
 * The stream keeps its own protocol state (FIN sent, FIN received, reset) and leaves
 * framing, ordering and socket backpressure to its connection (spdy-connection.ts)
 * through the StreamOwner interface. Methods marked "connection only" are how the
 * connection delivers what arrived; nothing else should call them.
 */
import { Duplex } from 'node:stream';
import { ShadowplaneError } from '../errors.ts';
import { RstStatus } from './spdy-frame.ts';
import type { SpdyHeaders } from './spdy-headers.ts';

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** Frames and writes `chunk` (FIN on the last frame if `fin`); calls `done` when the socket can take more. */
  writeData(stream: SpdyStream, chunk: Buffer, fin: boolean, done: (error?: Error | null) => void): void;
  /** The stream's reader wants more: resume the socket if nothing else holds it paused. */
  readerReady(stream: SpdyStream): void;
  /** Sends RST_STREAM for the stream. */
  sendReset(stream: SpdyStream, status: number): void;
  /** The stream is over (both FINs, reset, or destroyed): forget it. */
  release(stream: SpdyStream): void;
}

export interface SpdyStreamOptions {
  readonly highWaterMark: number;
  /** The peer opened the stream with FIN: nothing will ever be readable. */
  readonly remoteClosed: boolean;
  /** The stream is unidirectional from the peer: this side may not write. */
  readonly localClosed: boolean;
}

const EMPTY = Buffer.alloc(0);

function ignoreError(): void {}

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  readonly #owner: StreamOwner;
  #bytesIn = 0;
  #bytesOut = 0;
  #remoteFin: boolean;
  #localFin: boolean;
  #reset = false;
  #released = false;

  constructor(owner: StreamOwner, id: number, headers: SpdyHeaders, options: SpdyStreamOptions) {
    super({ allowHalfOpen: true, readableHighWaterMark: options.highWaterMark, writableHighWaterMark: options.highWaterMark, decodeStrings: true });
    this.#owner = owner;
    this.id = id;
    this.headers = headers;
    this.#remoteFin = options.remoteClosed;
    this.#localFin = options.localClosed;
    // A reset or a lost connection destroys the stream with an error. Whoever consumes the
    // stream (a pipeline, a listener) still sees it; a stream nobody consumes, such as one
    // the protocol ignores, must not turn it into an uncaught exception.
    this.on('error', ignoreError);
    if (options.remoteClosed) this.push(null);
    if (options.localClosed) this.end();
  }

  /** First value of a header, or undefined (several values are NUL-joined on the wire). */
  header(name: string): string | undefined {
    const raw = this.headers.get(name);
    if (raw === undefined) return undefined;
    const nul = raw.indexOf('\0');
    return nul < 0 ? raw : raw.slice(0, nul);
  }

  /** Payload bytes received from the peer. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Payload bytes written to the peer. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** The peer sent FIN (or reset the stream). */
  get remoteClosed(): boolean {
    return this.#remoteFin || this.#reset;
  }

  /** This side sent FIN (or the stream was reset). */
  get localClosed(): boolean {
    return this.#localFin || this.#reset;
  }

  /** Sends RST_STREAM with `status` (default CANCEL) and destroys the stream. */
  reset(status: number = RstStatus.CANCEL): void {
    if (!this.#reset && !(this.#localFin && this.#remoteFin)) {
      this.#reset = true;
      this.#owner.sendReset(this, status);
    }
    this.#reset = true;
    this.destroy();
  }

  /** Connection only: payload arrived. Returns false when the reader is saturated. */
  receiveData(data: Buffer): boolean {
    if (this.destroyed || this.#remoteFin) return true;
    this.#bytesIn += data.length;
    return this.push(data);
  }

  /** Connection only: the peer sent FIN. */
  receiveFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    if (!this.destroyed) this.push(null);
    this.#releaseIfDone();
  }

  /** Connection only: the peer reset the stream. */
  receiveReset(): void {
    this.#reset = true;
    this.destroy(new ShadowplaneError('SP_STREAM_RESET'));
  }

  /** Connection only: the connection is gone; no RST can or need be sent. */
  abort(error: ShadowplaneError): void {
    this.#reset = true;
    this.destroy(error);
  }

  override _read(): void {
    this.#owner.readerReady(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#reset) {
      callback(new ShadowplaneError('SP_STREAM_RESET'));
      return;
    }
    this.#bytesOut += chunk.length;
    this.#owner.writeData(this, chunk, false, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#reset) {
      callback(new ShadowplaneError('SP_STREAM_RESET'));
      return;
    }
    if (this.#localFin) {
      // Unidirectional from the peer: there is nothing to close on the wire.
      callback();
      return;
    }
    this.#localFin = true;
    this.#owner.writeData(this, EMPTY, true, (error) => {
      this.#releaseIfDone();
      callback(error);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#reset && !(this.#localFin && this.#remoteFin)) {
      this.#reset = true;
      this.#owner.sendReset(this, RstStatus.CANCEL);
    }
    this.#release();
    callback(error);
  }

  #releaseIfDone(): void {
    if (this.#localFin && this.#remoteFin) this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.release(this);
  }
}
