/**
 * Answers a client with a Kubernetes Status: terse and useful to kubectl, with the stable
 * error code first in the message. Details for operators go to shadowplane's own log,
 * never workload data anywhere.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import { statusForError } from '../kube-streams/status.ts';
import type { ShadowplaneError } from '../errors.ts';

export type AnyResponse = ServerResponse | Http2ServerResponse;

/** Writes `error` as a Status JSON response, or destroys the response if headers already went out. */
export function respondError(res: AnyResponse, error: ShadowplaneError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(statusForError(error));
  writeHead(res, error.http, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Writes a JSON document with status 200. */
export function respondJson(res: AnyResponse, value: unknown, status = 200): void {
  const body = JSON.stringify(value);
  writeHead(res, status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * Whether a status from a peer (the API server, a pod) can be relayed to any client: an
 * integer from 200 to 599. Node refuses others in `writeHead` (HTTP/2 takes no status
 * outside 200–599, HTTP/1.1 none below 100), and a refusal thrown from a peer's
 * response callback would be an uncaught exception. 1xx answers are not relayed here.
 */
export function isRelayableStatus(status: unknown): status is number {
  return typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599;
}

/** `writeHead` on either response type (their overloads do not unify in TypeScript). */
export function writeHead(res: AnyResponse, status: number, headers: OutgoingHttpHeaders): void {
  if (res instanceof Http2ServerResponse) res.writeHead(status, headers);
  else res.writeHead(status, headers);
}
