/**
 * The connection to the upstream (untrusted) API server.
 *
 * Ordinary requests share one long-lived HTTP/2 session, re-established when it dies.
 * Upgrades (exec/attach/port-forward of non-confidential pods) each get a fresh HTTP/1.1
 * TLS connection, because an HTTP/2 connection cannot carry an HTTP/1.1 Upgrade.
 *
 * Invariant: nothing here follows redirects; a 3xx from upstream is answered as it is.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { ClientRequest } from 'node:http';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamCredentials } from './upstream-credentials.ts';

const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const SESSION_WINDOW_BYTES = 64 * 1024 * 1024;

export interface UpstreamOptions {
  /** https://host:port of the API server. */
  readonly server: string;
  readonly credentials: UpstreamCredentials;
  /** How long establishing a connection may take. Default 5 s. */
  readonly connectTimeoutMs?: number;
  readonly logger: Logger;
}

export class Upstream {
  readonly server: URL;
  readonly #opts: UpstreamOptions;
  #session: ClientHttp2Session | undefined;
  #connecting: Promise<ClientHttp2Session> | undefined;
  #closed = false;

  constructor(opts: UpstreamOptions) {
    this.#opts = opts;
    this.server = new URL(opts.server);
  }

  get credentials(): UpstreamCredentials {
    return this.#opts.credentials;
  }

  /** Opens an HTTP/2 request stream upstream. Pseudo-headers are filled in here. */
  async request(method: string, path: string, headers: OutgoingHttpHeaders, opts: { endStream?: boolean } = {}): Promise<ClientHttp2Stream> {
    const session = await this.#getSession();
    try {
      return session.request(
        { ...headers, ':method': method, ':path': path, ':scheme': 'https', ':authority': this.server.host },
        { endStream: opts.endStream ?? false },
      );
    } catch (err) {
      // The session died between the check and the request (GOAWAY race): one fresh try.
      this.#drop(session);
      if (this.#closed) throw new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'the proxy is shutting down', { cause: err });
      const fresh = await this.#getSession();
      return fresh.request({ ...headers, ':method': method, ':path': path, ':scheme': 'https', ':authority': this.server.host }, { endStream: opts.endStream ?? false });
    }
  }

  /**
   * Starts an HTTP/1.1 request on a fresh TLS connection for an upgrade. The caller
   * listens for 'upgrade' (101) and 'response' (anything else) on the returned request.
   */
  upgradeRequest(method: string, path: string, rawHeaders: [string, string][]): ClientRequest {
    const { tls } = this.#opts.credentials;
    const options: RequestOptions = {
      host: this.server.hostname,
      port: this.server.port === '' ? 443 : Number(this.server.port),
      method,
      path,
      agent: false,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.servername ?? (isIp(this.server.hostname) ? undefined : this.server.hostname),
      minVersion: 'TLSv1.2',
      timeout: this.#opts.connectTimeoutMs ?? 5000,
      // rawHeaders-style array keeps order and repeated names.
      headers: rawHeaders.flat(),
      setHost: false,
    };
    return httpsRequest(options);
  }

  close(): void {
    this.#closed = true;
    this.#session?.close();
    this.#session = undefined;
  }

  async #getSession(): Promise<ClientHttp2Session> {
    if (this.#closed) throw new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'the proxy is shutting down');
    const s = this.#session;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #connect(): Promise<ClientHttp2Session> {
    const { tls } = this.#opts.credentials;
    const timeoutMs = this.#opts.connectTimeoutMs ?? 5000;
    return new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = http2.connect(this.server.origin, {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        servername: tls.servername ?? (isIp(this.server.hostname) ? undefined : this.server.hostname),
        minVersion: 'TLSv1.2',
        // The API server's default; more concurrent streams than this queue at the server.
        peerMaxConcurrentStreams: 1000,
        // Windows like Go's HTTP/2 client (kubectl): with HTTP/2's 64 KiB default a large
        // LIST crawls at one window update per round trip. What upstream may send ahead of
        // a slow client stays bounded by these windows (per stream, and for the session).
        settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      });
      session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
      const timer = setTimeout(() => {
        session.destroy();
        reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', `no connection to the API server within ${timeoutMs} ms`));
      }, timeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        if (this.#closed) {
          // Closed while connecting: nothing may use, or keep the process alive with, this session.
          session.destroy();
          reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'the proxy is shutting down'));
          return;
        }
        if (session.alpnProtocol !== 'h2') {
          session.destroy();
          reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'the API server did not negotiate HTTP/2'));
          return;
        }
        session.on('close', () => this.#drop(session));
        session.on('goaway', () => this.#drop(session));
        session.setTimeout(0);
        this.#session = session;
        resolve(session);
      });
      // Stays attached for the session's life: an 'error' without a listener would crash the proxy.
      session.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        this.#drop(session);
        this.#opts.logger.warn({ code: 'SP_UPSTREAM_UNAVAILABLE', cause: err.code }, 'upstream connection failed');
        reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', err.code ?? 'connection error', { cause: err }));
      });
    });
  }

  #drop(session: ClientHttp2Session): void {
    if (this.#session === session) this.#session = undefined;
    if (!session.destroyed) session.close();
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
