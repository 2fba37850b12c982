/**
 * Small HTTP/2 and HTTP/1.1 clients for talking to the API server stand-in in tests,
 * with every wait bounded.
 */
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { FakeApiServer } from '../../support/fake-apiserver/index.ts';

export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  readonly alpn: string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  readonly body?: string | Buffer;
  readonly token?: string | null;
  readonly cert?: { readonly certPem: string; readonly keyPem: string };
  readonly timeoutMs?: number;
}

function authHeaders(server: FakeApiServer, o: RequestOptions): Record<string, string | string[]> {
  const token = o.token === undefined ? server.tokens.admin : o.token;
  return { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(o.headers ?? {}) };
}

/** One request over a fresh HTTP/2 connection (ALPN h2). */
export function h2request(server: FakeApiServer, path: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(server.url, { ca: server.caPem, ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}) });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`h2 request to ${path} timed out`));
    }, o.timeoutMs ?? 10_000);
    session.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    const req = session.request({ ':method': o.method ?? 'GET', ':path': path, ...authHeaders(server, o) });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      const alpn = session.alpnProtocol ?? '';
      session.close();
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), alpn });
    });
    req.on('error', (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    });
    req.end(o.body);
  });
}

/** One request over a fresh HTTP/1.1 connection (no ALPN offered, like kubectl's upgrade connections). */
export function h1request(server: FakeApiServer, path: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: server.host,
        port: server.port,
        path,
        method: o.method ?? 'GET',
        ca: server.caPem,
        ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
        agent: false,
        headers: authHeaders(server, o),
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), alpn: 'http/1.1' }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`h1 request to ${path} timed out`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

export function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>;
}

/** A streaming HTTP/2 GET (watch, followed logs): chunks as they arrive. */
export interface OpenStream {
  readonly status: Promise<number>;
  /** Text received so far. */
  text(): string;
  /** Number of DATA chunks received so far. */
  chunkCount(): number;
  /** Resolves when the text matches, rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ended the response. */
  readonly ended: Promise<void>;
  close(): void;
}

export function h2stream(server: FakeApiServer, path: string, o: RequestOptions = {}): OpenStream {
  const session = http2.connect(server.url, { ca: server.caPem });
  session.on('error', () => undefined);
  const req = session.request({ ':method': 'GET', ':path': path, ...authHeaders(server, o) });
  let text = '';
  let chunks = 0;
  const waiters = new Set<() => void>();
  req.setEncoding('utf8');
  req.on('data', (c: string) => {
    text += c;
    chunks++;
    for (const w of [...waiters]) w();
  });
  const ended = new Promise<void>((resolve) => {
    req.on('end', () => resolve());
    req.on('close', () => resolve());
    req.on('error', () => resolve());
  });
  const status = new Promise<number>((resolve) => req.on('response', (h) => resolve(Number(h[':status']))));
  return {
    status,
    ended,
    text: () => text,
    chunkCount: () => chunks,
    waitFor(pattern, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(text)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`stream never showed ${pattern}; got ${JSON.stringify(text.slice(-300))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      req.close();
      session.destroy();
    },
  };
}
