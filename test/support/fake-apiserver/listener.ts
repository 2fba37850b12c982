/**
 * The stand-in's front door: one TLS listener on loopback, port 0, offering ALPN `h2` and
 * `http/1.1`. TLS is terminated here (not inside node:http2) so that the plaintext of
 * every connection can pass through a RecordingSocket before an HTTP server sees it:
 * `h2` connections go to a plaintext node:http2 server, everything else (kubectl's
 * upgrade connections come without ALPN) to a node:http server, both fed with
 * `emit('connection', socket)`.
 *
 * Client certificates are requested but not required; a certificate that chains to the
 * client CA identifies the caller (CN = user, O = groups), like kube-apiserver's
 * `--client-ca-file`.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { ByteRecorder } from './recorder.ts';
import { RecordingSocket } from './recording-socket.ts';

/** The identity a verified client certificate carries. */
export interface CertificateIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

/** What the listener knows about one TLS connection. */
export interface ConnectionInfo {
  readonly id: number;
  /** Negotiated ALPN protocol, '' when the client offered none. */
  readonly alpn: string;
  /** Present only when the client certificate chains to the client CA. */
  readonly clientCertificate: CertificateIdentity | null;
  /** True when the client sent some certificate, verified or not. */
  readonly presentedCertificate: boolean;
}

export type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface ListenerHandlers {
  request(req: AnyRequest, res: AnyResponse, conn: ConnectionInfo): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo): void;
}

export interface ListenerOptions {
  readonly host: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly clientCaPem: string;
  /** null: connections are handed to the HTTP servers unwrapped (fastest, nothing recorded). */
  readonly recorder: ByteRecorder | null;
  readonly handlers: ListenerHandlers;
  /** Largest request header block accepted (node:http maxHeaderSize). */
  readonly maxHeaderBytes: number;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Number of TLS connections currently open. */
  readonly openConnections: number;
  /** Closes the listener and destroys every connection; resolves within `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

function identityFrom(socket: tls.TLSSocket): { identity: CertificateIdentity | null; presented: boolean } {
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  if (!presented || !socket.authorized) return { identity: null, presented };
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const cn = subject.CN;
  const o = subject.O;
  const user = Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? '');
  if (user === '') return { identity: null, presented };
  const groups = o === undefined ? [] : Array.isArray(o) ? [...o] : [o];
  return { identity: { user, groups }, presented };
}

export async function startListener(options: ListenerOptions): Promise<Listener> {
  const infoBySocket = new WeakMap<object, ConnectionInfo>();
  const infoBySession = new WeakMap<http2.Http2Session, ConnectionInfo>();
  const tlsSockets = new Set<tls.TLSSocket>();
  let pendingSessionInfo: ConnectionInfo | null = null;
  let nextId = 1;

  const h1 = http.createServer({ maxHeaderSize: options.maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 30_000 });
  h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = infoBySocket.get(req.socket);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    options.handlers.request(req, res, conn);
  });
  h1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const conn = infoBySocket.get(socket);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    options.handlers.upgrade(req, socket, head, conn);
  });
  h1.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });

  const h2 = http2.createServer({
    maxSessionMemory: 64,
    maxHeaderListPairs: 256,
    settings: { maxConcurrentStreams: 250, maxHeaderListSize: options.maxHeaderBytes },
  });
  h2.on('session', (session: http2.ServerHttp2Session) => {
    // 'session' is emitted synchronously inside emit('connection'), so the pending
    // connection is the one this session belongs to.
    if (pendingSessionInfo !== null) infoBySession.set(session, pendingSessionInfo);
    session.on('error', () => session.destroy());
  });
  h2.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const conn = infoBySession.get(req.stream.session as http2.ServerHttp2Session);
    if (conn === undefined) {
      req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    options.handlers.request(req, res, conn);
  });

  const server = tls.createServer({
    key: options.keyPem,
    cert: options.certPem,
    ca: options.clientCaPem,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['h2', 'http/1.1'],
    minVersion: 'TLSv1.2',
  });
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    tlsSockets.add(socket);
    socket.on('close', () => tlsSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const alpn = typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : '';
    const { identity, presented } = identityFrom(socket);
    const info: ConnectionInfo = { id: nextId++, alpn, clientCertificate: identity, presentedCertificate: presented };
    const handed: Duplex = options.recorder === null ? socket : new RecordingSocket(socket, options.recorder.openConnection(alpn));
    // node:http drops its own 'error' listener when it hands the socket to 'upgrade'; a
    // client that resets before a stream route listens must not crash the process.
    if (handed !== socket) handed.on('error', () => handed.destroy());
    infoBySocket.set(handed, info);
    if (alpn === 'h2') {
      pendingSessionInfo = info;
      try {
        h2.emit('connection', handed);
      } finally {
        pendingSessionInfo = null;
      }
    } else {
      h1.emit('connection', handed);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    host: options.host,
    port,
    get openConnections() {
      return tlsSockets.size;
    },
    async close(timeoutMs = 2000): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of tlsSockets) s.destroy();
      h1.closeAllConnections();
      h2.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}
