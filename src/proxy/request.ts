/**
 * The two request shapes the ingress delivers (HTTP/2 and, for clients without h2,
 * HTTP/1.1), and the few facts shadowplane reads off either.
 */
import type { IncomingMessage } from 'node:http';
import { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { UpgradeRequest } from './streams/types.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;

/** True when a request body follows the headers (HTTP/2: no END_STREAM on HEADERS). */
export function requestHasBody(req: AnyRequest): boolean {
  if (req instanceof Http2ServerRequest) return !req.stream.endAfterHeaders;
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The TLS connection a request arrived on. */
export function tlsSocketOf(req: AnyRequest): TLSSocket {
  if (req instanceof Http2ServerRequest) return req.stream.session!.socket as TLSSocket;
  return req.socket as TLSSocket;
}

/** The view of an HTTP/1.1 upgrade request that the stream terminators take. */
export function asUpgradeRequest(req: IncomingMessage): UpgradeRequest {
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders };
}
