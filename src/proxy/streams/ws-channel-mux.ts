/**
 * Channels of one channel.k8s.io WebSocket as Node streams.
 *
 * Each registered channel is a Duplex: messages arriving on it are readable, writes go
 * out as messages on it. Unregistered channels are ignored, as the kubelet ignores
 * channels it did not open.
 *
 * Backpressure both ways:
 * - in: a channel whose reader is saturated pauses the WebSocket (the socket), which
 *   resumes once every saturated reader asked for more;
 * - out: a write completes at once while the socket's buffer is below its high-water
 *   mark, otherwise when `ws` has flushed the message.
 *
 * The v5 half-close signal from the client ends the named channel's readable side.
 * Shadowplane never sends it: kubectl ignores it and @kubernetes/client-node rejects it.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ShadowplaneError, asShadowplaneError } from '../../errors.ts';
import { decodeChannelMessage, encodeChannelMessage, type ChannelProtocol } from '../../kube-streams/ws-channel.ts';

function ignoreError(): void {}

class ChannelStream extends Duplex {
  readonly channel: number;
  readonly #mux: WsChannelMux;
  bytesIn = 0;
  bytesOut = 0;

  constructor(mux: WsChannelMux, channel: number, highWaterMark: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark, decodeStrings: true });
    this.#mux = mux;
    this.channel = channel;
    this.on('error', ignoreError);
  }

  override _read(): void {
    this.#mux.readerReady(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesOut += chunk.length;
    this.#mux.send(this.channel, chunk, callback, this);
  }
}

export type { ChannelStream };

export interface WsChannelMuxOptions {
  /** Receive buffer per channel before the socket is paused. @default 256 KiB */
  readonly highWaterMark?: number;
  /** Called once when a message cannot be decoded; the mux then closes the WebSocket with 1007. */
  readonly onInvalid?: (error: ShadowplaneError) => void;
}

export class WsChannelMux {
  readonly #ws: WebSocket;
  readonly #socket: Duplex;
  readonly #protocol: ChannelProtocol;
  readonly #channels = new Map<number, ChannelStream>();
  readonly #blocked = new Set<ChannelStream>();
  readonly #highWaterMark: number;
  readonly #onInvalid: ((error: ShadowplaneError) => void) | undefined;
  #paused = false;

  constructor(ws: WebSocket, socket: Duplex, protocol: ChannelProtocol, options: WsChannelMuxOptions = {}) {
    this.#ws = ws;
    this.#socket = socket;
    this.#protocol = protocol;
    this.#highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.#onInvalid = options.onInvalid;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClose());
  }

  get protocol(): ChannelProtocol {
    return this.#protocol;
  }

  /** Registers `channel` and returns its stream. */
  channel(channel: number): ChannelStream {
    let stream = this.#channels.get(channel);
    if (stream === undefined) {
      stream = new ChannelStream(this, channel, this.#highWaterMark);
      this.#channels.set(channel, stream);
    }
    return stream;
  }

  /** Writes one message on `channel` (also unregistered ones, e.g. the error channel). */
  send(channel: number, payload: Buffer, callback: (error?: Error | null) => void, owner?: ChannelStream): void {
    if (this.#ws.readyState !== this.#ws.OPEN) {
      callback(new ShadowplaneError('SP_CLIENT_GONE'));
      return;
    }
    const message = encodeChannelMessage(this.#protocol, channel, payload);
    const early = this.#socket.writableLength < this.#socket.writableHighWaterMark;
    this.#ws.send(message.data, { binary: message.binary }, (error) => {
      if (early) {
        if (error) owner?.destroy(asShadowplaneError(error, 'SP_CLIENT_GONE'));
      } else {
        callback(error ? asShadowplaneError(error, 'SP_CLIENT_GONE') : null);
      }
    });
    if (early) callback();
  }

  /** `send` as a promise. */
  sendAsync(channel: number, payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.send(channel, payload, (error) => (error ? reject(error) : resolve())));
  }

  /** A channel reader asked for more: resume once no reader is saturated. */
  readerReady(stream: ChannelStream): void {
    if (this.#blocked.delete(stream) && this.#blocked.size === 0 && this.#paused) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    // Binary protocols take binary messages, base64 protocols text ones; the kubelet does
    // not check the opcode either, so a mismatch is decoded by the negotiated codec.
    void isBinary;
    let decoded;
    try {
      decoded = decodeChannelMessage(this.#protocol, data);
    } catch (err) {
      const error = asShadowplaneError(err, 'SP_FRAME_INVALID');
      this.#onInvalid?.(error);
      this.#ws.close(1007, error.code);
      return;
    }
    if (decoded.kind === 'empty') return;
    const stream = this.#channels.get(decoded.channel);
    if (stream === undefined || stream.destroyed || stream.readableEnded) return;
    if (decoded.kind === 'close') {
      stream.push(null);
      return;
    }
    if (decoded.payload.length === 0) return;
    stream.bytesIn += decoded.payload.length;
    if (!stream.push(decoded.payload)) {
      this.#blocked.add(stream);
      if (!this.#paused) {
        this.#paused = true;
        this.#ws.pause();
      }
    }
  }

  #onClose(): void {
    // The client can send nothing more: every readable side ends; writes now fail.
    for (const stream of this.#channels.values()) {
      if (!stream.destroyed && !stream.readableEnded) stream.push(null);
    }
    this.#blocked.clear();
  }

  /** Destroys every channel stream (after the session is over). */
  destroyAll(error?: ShadowplaneError): void {
    for (const stream of this.#channels.values()) stream.destroy(error);
  }
}
