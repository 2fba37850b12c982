/**
 * Writing answers the way kube-apiserver does: its usual headers (Audit-Id,
 * Cache-Control, the APF headers), Status bodies for errors, and large bodies streamed in
 * chunks that honour backpressure (wait for 'drain' whenever `write()` returns false, stop
 * when the client is gone).
 *
 * Like kube-apiserver's serializer (APIResponseCompression), an object or list answer of
 * at least 128 KiB is gzip-compressed (level 1, `Content-Encoding: gzip`, `Vary:
 * Accept-Encoding`) when the client accepts gzip; watches and logs never are.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, gzipSync } from 'node:zlib';
import type { AnyResponse } from './listener.ts';
import type { ApiError } from './status.ts';

/** The subset of http.ServerResponse / Http2ServerResponse used here. */
export interface ResponseLike {
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  write(chunk: string | Buffer): boolean;
  end(chunk?: string | Buffer): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly destroyed?: boolean;
  flushHeaders?(): void;
}

export function asResponse(res: AnyResponse): ResponseLike {
  return res as unknown as ResponseLike;
}

/** Size of the pieces large bodies are written in. */
export const CHUNK_BYTES = 64 * 1024;

/** kube-apiserver's defaultGzipThresholdBytes. */
export const GZIP_THRESHOLD_BYTES = 128 * 1024;

const GZIP_HEADERS = { 'content-encoding': 'gzip', vary: 'Accept-Encoding' } as const;

/** True when the request's Accept-Encoding admits gzip. */
export function acceptsGzip(acceptEncoding: string | string[] | undefined): boolean {
  const v = Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : (acceptEncoding ?? '');
  return v.split(',').some((e) => {
    const [name = '', ...params] = e.split(';').map((x) => x.trim().toLowerCase());
    return (name === 'gzip' || name === '*') && !params.includes('q=0');
  });
}

const FLOW_SCHEMA_UID = randomUUID();
const PRIORITY_LEVEL_UID = randomUUID();

export function standardHeaders(auditId: string, contentType: string): Record<string, string> {
  return {
    'audit-id': auditId,
    'cache-control': 'no-cache, private',
    'content-type': contentType,
    'x-kubernetes-pf-flowschema-uid': FLOW_SCHEMA_UID,
    'x-kubernetes-pf-prioritylevel-uid': PRIORITY_LEVEL_UID,
  };
}

/** Sends the status line and headers now (a watch or followed log may not write for a while). */
export function startStream(res: ResponseLike, status: number, headers: Record<string, string>): void {
  res.writeHead(status, headers);
  res.flushHeaders?.();
}

/** Sends a whole body; `gzip`: the client accepts gzip (used from GZIP_THRESHOLD_BYTES on). */
export function sendBody(res: ResponseLike, status: number, auditId: string, contentType: string, body: string | Buffer, gzip = false): void {
  if (res.headersSent || res.writableEnded) return;
  let buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const compress = gzip && buf.length >= GZIP_THRESHOLD_BYTES;
  if (compress) buf = gzipSync(buf, { level: 1 });
  res.writeHead(status, { ...standardHeaders(auditId, contentType), ...(compress ? GZIP_HEADERS : {}), 'content-length': String(buf.length) });
  res.end(buf);
}

export function sendStatus(res: ResponseLike, auditId: string, err: ApiError): void {
  sendBody(res, err.code, auditId, 'application/json', JSON.stringify(err.status) + '\n');
}

function gone(res: ResponseLike): boolean {
  return res.writableEnded || res.destroyed === true;
}

/** Resolves when the response drained or closed, whichever comes first. */
export function drained(res: ResponseLike): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/**
 * Streams a body made of pieces, coalesced into CHUNK_BYTES writes, honouring
 * backpressure. Returns the number of bytes written; stops early if the client left.
 * With `gzip` (the client accepts it and the body is at least GZIP_THRESHOLD_BYTES, as
 * `sizeHint` estimates) the pieces go through a gzip stream first.
 */
export async function sendStreamed(
  res: ResponseLike,
  status: number,
  auditId: string,
  contentType: string,
  pieces: Iterable<string | Buffer>,
  options: { readonly gzip?: boolean; readonly sizeHint?: number } = {},
): Promise<number> {
  if (res.headersSent || gone(res)) return 0;
  if (options.gzip === true && (options.sizeHint ?? 0) >= GZIP_THRESHOLD_BYTES) return sendGzipped(res, status, auditId, contentType, pieces);
  res.writeHead(status, standardHeaders(auditId, contentType));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let written = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    written += chunk.length;
    if (!res.write(chunk) && !gone(res)) await drained(res);
  };
  for (const piece of pieces) {
    if (gone(res)) return written;
    const b = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes >= CHUNK_BYTES) await flush();
  }
  await flush();
  if (!gone(res)) res.end();
  return written;
}

async function sendGzipped(res: ResponseLike, status: number, auditId: string, contentType: string, pieces: Iterable<string | Buffer>): Promise<number> {
  res.writeHead(status, { ...standardHeaders(auditId, contentType), ...GZIP_HEADERS });
  const gz = createGzip({ level: 1, chunkSize: CHUNK_BYTES });
  let written = 0;
  const pump = (async () => {
    for await (const chunk of gz as AsyncIterable<Buffer>) {
      if (gone(res)) break;
      written += chunk.length;
      if (!res.write(chunk)) await drained(res);
    }
  })();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const feed = async (): Promise<void> => {
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (!gz.write(chunk)) {
      // Whichever of the two waits loses is cancelled, so no listener outlives the wait.
      const settled = new AbortController();
      await Promise.race([once(gz, 'drain', { signal: settled.signal }), once(gz, 'close', { signal: settled.signal })]).finally(() => settled.abort());
    }
  };
  for (const piece of pieces) {
    if (gone(res)) break;
    const b = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes >= CHUNK_BYTES) await feed();
  }
  if (pendingBytes > 0 && !gone(res)) await feed();
  if (gone(res)) gz.destroy();
  else gz.end();
  await pump.catch(() => undefined);
  if (!gone(res)) res.end();
  return written;
}
