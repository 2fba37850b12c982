/**
 * Small helpers for HTTP/2 streams of the channel, used by both ends.
 */
import { constants, type Http2Stream, type ServerHttp2Stream } from 'node:http2';
import { ShadowplaneError } from '../errors.ts';
import { JSON_CONTENT_TYPE, encodeErrorBody } from './protocol.ts';

/**
 * Answers a stream with the error as a JSON body and the code's HTTP status. When the
 * answer already started, the stream is reset instead (the peer sees the operation end
 * abnormally; what went wrong is in the agent's own log).
 */
export function respondError(stream: ServerHttp2Stream, err: ShadowplaneError): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const body = encodeErrorBody(err);
  stream.respond({ ':status': err.http, 'content-type': JSON_CONTENT_TYPE, 'content-length': body.length });
  stream.end(body);
}

/** Reads a whole body of at most `max` bytes; more is SP_AGENT_PROTOCOL. */
export function readBody(stream: Http2Stream, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        stream.close(constants.NGHTTP2_CANCEL);
        reject(new ShadowplaneError('SP_AGENT_PROTOCOL', `body exceeds ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      // An 'end' on a reset stream is a dead session, not a complete body.
      if (stream.aborted || (stream.rstCode ?? constants.NGHTTP2_NO_ERROR) !== constants.NGHTTP2_NO_ERROR) onError();
      else resolve(Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(new ShadowplaneError('SP_AGENT_SESSION_LOST', 'stream ended before its body'));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onError);
  });
}
