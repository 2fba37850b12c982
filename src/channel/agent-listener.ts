/**
 * The agent's side of the channel: a TLS 1.3 listener at the pod IP that runs HTTP/2
 * only for a proxy its verifier accepted.
 *
 * Order of events for every connection: TLS handshake (client certificate required) →
 * the verifier judges the proxy's certificate → only then does the socket reach the
 * HTTP/2 server. Bytes the proxy sent meanwhile wait unread in the socket. A proxy the
 * verifier refuses gets a session in which every stream is answered 403
 * SP_AGENT_REFUSED (so the proxy can tell "refused" from "crashed"), and which is then
 * closed. Nothing of an operation runs for it.
 *
 * Every wait on a peer not yet trusted is bounded, so that a peer that idles or stops
 * reading cannot hold one of the `maxConnections` slots (and its memory): the handshake
 * (`handshakeTimeoutMs`), the verifier (`verifyTimeoutMs`), a refused session
 * (REFUSED_CLOSE_GRACE_MS after its close), and any graceful end of a session
 * (GRACEFUL_END_TIMEOUT_MS, session-socket.ts).
 */
import { createServer as createH2Server, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CONNECTION_WINDOW_BYTES, SESSION_WRITE_BUDGET_BYTES, agentH2Options } from './h2-options.ts';
import { GRACEFUL_END_TIMEOUT_MS, sessionSocket } from './session-socket.ts';
import { respondError } from './stream-util.ts';
import { CHANNEL_ALPN, agentTlsOptions, peerCertificateOf, runVerifier, sessionLifetime, trustedUntil, type ChannelCredentials, type ProxyVerifier, type VerifiedProxy } from './trust.ts';

export type OperationHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, proxy: VerifiedProxy) => void;

export interface AgentListenerOptions {
  readonly credentials: ChannelCredentials;
  readonly verifyProxy: ProxyVerifier;
  readonly serve: OperationHandler;
  readonly logger: Logger;
  readonly maxConcurrentStreams: number;
  readonly handshakeTimeoutMs?: number;
  readonly verifyTimeoutMs?: number;
  /** Concurrent TLS connections (verified or not). */
  readonly maxConnections?: number;
  /** The longest a proxy session takes new streams (its operations end at the proxy's trust's end in any case). Default 1 h. */
  readonly maxSessionAgeMs?: number;
  /** How long a refused proxy's connection may stay after its session was asked to close. Default 5 s (REFUSED_CLOSE_GRACE_MS). */
  readonly refusedCloseGraceMs?: number;
  /** The longest a graceful end of a session's connection takes. Default 10 s (GRACEFUL_END_TIMEOUT_MS, session-socket.ts). */
  readonly gracefulEndTimeoutMs?: number;
}

/** A refused session answers the streams already queued for this long, then is asked to close. */
const REFUSED_ANSWER_MS = 200;
/**
 * How long a refused proxy's connection may stay once its session was asked to close;
 * then its socket is destroyed. The graceful close waits for every stream to end and for
 * the peer to close its side, so a peer that never reads the refusals (or grants no
 * window for them) or keeps its side open kept the connection forever. A refusal is a
 * few hundred bytes per stream and an honest proxy closes as soon as it has them: 5 s is
 * ample on any link the channel runs over.
 */
export const REFUSED_CLOSE_GRACE_MS = 5_000;

type SessionState = { readonly ok: true; readonly proxy: VerifiedProxy; readonly notAfterMs: number } | { readonly ok: false; readonly error: ShadowplaneError };

export class AgentListener {
  readonly #options: AgentListenerOptions;
  readonly #tls: TlsServer;
  readonly #h2: Http2Server;
  readonly #states = new WeakMap<Http2Session, SessionState>();
  readonly #sessions = new Set<Http2Session>();
  readonly #sockets = new Set<TLSSocket>();
  /** Set only while a verified socket is handed to the HTTP/2 server (synchronous). */
  #handing: { readonly state: SessionState; readonly socket: TLSSocket } | null = null;

  constructor(options: AgentListenerOptions) {
    this.#options = options;
    this.#h2 = createH2Server(agentH2Options(options.maxConcurrentStreams));
    this.#h2.on('session', (session) => this.#onSession(session));
    this.#h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
    this.#tls = createTlsServer(agentTlsOptions(options.credentials, options.handshakeTimeoutMs ?? 10_000), (socket) => void this.#onSecure(socket));
    this.#tls.maxConnections = options.maxConnections ?? 256;
    this.#tls.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      options.logger.debug({ code: err.code }, 'channel TLS handshake failed');
      // Node reports a handshake timeout but leaves the socket open: a peer that connected
      // and sent nothing kept it (and a maxConnections slot) forever.
      socket.destroy();
    });
  }

  /** Listens; rejects with the system error (EADDRINUSE, …) as Node reports it. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#tls.once('error', onError);
      this.#tls.listen({ host, port, exclusive: true }, () => {
        this.#tls.off('error', onError);
        resolve(this.#tls.address() as AddressInfo);
      });
    });
  }

  get listening(): boolean {
    return this.#tls.listening;
  }

  /** New credentials for new connections (RA-TLS certificates are short-lived). */
  setCredentials(credentials: ChannelCredentials): void {
    this.#tls.setSecureContext({ key: credentials.key, cert: credentials.cert });
  }

  /** Stops accepting, asks every session to finish (GOAWAY), and ends all after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#tls.close(() => resolve()));
    for (const session of this.#sessions) session.close();
    const deadline = setTimeout(() => {
      for (const session of this.#sessions) session.destroy();
      for (const socket of this.#sockets) socket.destroy();
    }, graceMs);
    deadline.unref();
    await closed;
    clearTimeout(deadline);
  }

  async #onSecure(socket: TLSSocket): Promise<void> {
    const { logger } = this.#options;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code }, 'channel socket error'));
    socket.setKeepAlive(true, 30_000);
    if (socket.alpnProtocol !== CHANNEL_ALPN) {
      logger.warn('channel connection without h2 refused');
      socket.destroy();
      return;
    }
    let state: SessionState;
    const peer = peerCertificateOf(socket);
    try {
      if (peer === undefined) throw new ShadowplaneError('SP_AGENT_REFUSED', 'no client certificate');
      const proxy = await runVerifier(() => this.#options.verifyProxy(peer), this.#options.verifyTimeoutMs ?? 10_000, 'SP_AGENT_REFUSED');
      state = { ok: true, proxy, notAfterMs: trustedUntil(peer.x509.validTo, proxy.notAfterMs) };
      logger.info({ fingerprint: peer.fingerprint256 }, 'proxy verified');
    } catch (err) {
      const code = err instanceof ShadowplaneError ? err.code : 'SP_INTERNAL';
      // The verifier's fixed reason, for whoever runs the pod; the peer, not yet trusted, gets the code only.
      const detail = err instanceof ShadowplaneError ? err.detail : undefined;
      logger.warn({ code, ...(detail === undefined ? {} : { detail }), fingerprint: peer?.fingerprint256 }, 'proxy refused');
      state = { ok: false, error: new ShadowplaneError('SP_AGENT_REFUSED', code === 'SP_AGENT_REFUSED' ? undefined : code) };
    }
    if (socket.destroyed) return;
    this.#handing = { state, socket };
    try {
      // Not the TLS socket itself: HTTP/2 must keep reading while it sends (session-socket.ts).
      // Closing the TLS socket (close(), the proxy leaving) destroys the session and with
      // it every stream, so every operation of the session ends at once.
      this.#h2.emit('connection', sessionSocket(socket, SESSION_WRITE_BUDGET_BYTES, this.#options.gracefulEndTimeoutMs ?? GRACEFUL_END_TIMEOUT_MS));
    } finally {
      this.#handing = null;
    }
  }

  #onSession(session: Http2Session): void {
    if (this.#handing === null) {
      // Only sockets handed over by #onSecure may become sessions.
      session.destroy();
      return;
    }
    const { state, socket } = this.#handing;
    this.#states.set(session, state);
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err: NodeJS.ErrnoException) => this.#options.logger.debug({ code: err.code }, 'channel session error'));
    // The connection-level receive window defaults to 64 KiB: far too small for uploads.
    if (state.ok) {
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      // The proxy's evidence was checked once, at the handshake: after an hour the session
      // takes no new streams (GOAWAY; running ones finish) and the proxy's next operation
      // comes over a new session, verified again. When its trust ends (its certificate, or
      // the owner's signature it was admitted on) the connection ends, and with it every
      // operation still running on it.
      const lifetime = sessionLifetime(
        state.notAfterMs,
        this.#options.maxSessionAgeMs,
        () => session.close(),
        () => {
          this.#options.logger.info("proxy session ended: the proxy's trust ended");
          socket.destroy();
        },
      );
      session.once('close', () => lifetime.cancel());
    }
    if (!state.ok) {
      // Refused: answer what is already queued, then close. The close is graceful (the
      // refusals must reach the proxy) and so waits on the peer: the socket itself ends
      // at the deadline, and with it the session and its streams.
      const graceMs = this.#options.refusedCloseGraceMs ?? REFUSED_CLOSE_GRACE_MS;
      setTimeout(() => {
        session.close();
        if (socket.destroyed) return;
        const deadline = setTimeout(() => socket.destroy(), graceMs);
        deadline.unref();
        socket.once('close', () => clearTimeout(deadline));
      }, REFUSED_ANSWER_MS).unref();
    }
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', (err: NodeJS.ErrnoException) => this.#options.logger.debug({ code: err.code }, 'channel stream error'));
    // Node emits 'stream' a tick after it parsed the HEADERS, and parses a whole read of
    // the session socket in one go: a RST_STREAM in the same read (the proxy cancelled at
    // once) has destroyed the stream already. Nothing runs for it.
    if (stream.destroyed) return;
    const state = this.#states.get(stream.session as Http2Session);
    if (state === undefined || !state.ok) {
      respondError(stream, state?.ok === false ? state.error : new ShadowplaneError('SP_AGENT_REFUSED'));
      return;
    }
    try {
      this.#options.serve(stream, headers, state.proxy);
    } catch (err) {
      respondError(stream, err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err }));
    }
  }
}
