import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResourceRequestInfo } from './request-info.ts';
import { Errors, type ApiError } from './status.ts';
import type { StoredObject } from './store.ts';

export type StreamRoutes = Record<string, never>;

export interface StreamUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly pod: StoredObject;
  readonly info: ResourceRequestInfo;
  readonly query: URLSearchParams;
  readonly closing: AbortSignal;
}

export function serveStreamUpgrade(_routes: StreamRoutes, _u: StreamUpgrade): Promise<number> {
  return Promise.reject(Errors.badRequest('streams not served yet'));
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable' };

export function writeUpgradeError(socket: Duplex, err: ApiError): void {
  const body = Buffer.from(JSON.stringify(err.status) + '\n');
  const head = `HTTP/1.1 ${err.code} ${REASONS[err.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  if (socket.writable) socket.end(Buffer.concat([Buffer.from(head), body]));
  setTimeout(() => socket.destroy(), 1000).unref();
}
