/**
 * The Duplex the proxy gets for a port-forward connection or a log stream: the bytes of
 * one HTTP/2 stream of the channel, with the channel's error contract.
 *
 * - Backpressure both ways: a full reader pauses the HTTP/2 stream (so HTTP/2 flow
 *   control stops the agent); a full HTTP/2 stream holds back `write` callbacks.
 * - `end()` is END_STREAM (half-close); the readable side ends when the agent ends its
 *   side.
 * - Every failure surfaces as a ShadowplaneError: SP_AGENT_SESSION_LOST when the stream
 *   or the session broke, SP_AGENT_BUSY when the agent refused the stream for capacity.
 * - `destroy()` cancels the stream (RST_STREAM CANCEL): the agent stops its side.
 */
import { constants, type ClientHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';

/** The ShadowplaneError for a broken channel stream. */
export function streamFailure(stream: ClientHttp2Stream, err?: unknown): ShadowplaneError {
  if (isShadowplaneError(err)) return err;
  if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) return new ShadowplaneError('SP_AGENT_BUSY');
  return new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, err === undefined ? undefined : { cause: err });
}

export class ChannelStream extends Duplex {
  readonly #inner: ClientHttp2Stream;
  #readEnded = false;

  constructor(inner: ClientHttp2Stream) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.#inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    // Node reports a dead session as 'aborted' (when our side was still writing) or as
    // an 'end' on a stream that was already reset: neither is the agent ending cleanly.
    inner.once('aborted', () => this.destroy(streamFailure(inner)));
    inner.once('end', () => {
      if (inner.aborted || (inner.rstCode ?? constants.NGHTTP2_NO_ERROR) !== constants.NGHTTP2_NO_ERROR) {
        this.destroy(streamFailure(inner));
        return;
      }
      this.#readEnded = true;
      this.push(null);
    });
    inner.once('error', (err: unknown) => this.destroy(streamFailure(inner, err)));
    inner.once('close', () => {
      // A stream that closed before the agent ended its side was cut, not completed.
      // (Writes after the close fail through _write.)
      if (!this.destroyed && !this.#readEnded) this.destroy(streamFailure(inner));
    });
    inner.pause();
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const inner = this.#inner;
    if (inner.destroyed) {
      callback(streamFailure(inner));
      return;
    }
    if (inner.write(chunk)) {
      callback();
      return;
    }
    const onDrain = (): void => {
      inner.off('close', onClose);
      callback();
    };
    const onClose = (): void => {
      inner.off('drain', onDrain);
      callback(streamFailure(inner));
    };
    inner.once('drain', onDrain);
    inner.once('close', onClose);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#inner.destroyed) {
      callback(streamFailure(this.#inner));
      return;
    }
    this.#inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#inner.destroyed) this.#inner.close(constants.NGHTTP2_CANCEL);
    callback(error);
  }
}
