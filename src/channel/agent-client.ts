/**
 * One long-lived, attested HTTP/2 session with one pod's agent, as the proxy uses it.
 * Every operation is its own HTTP/2 stream with its own flow control; the session is
 * shared by all of them. Get one from AgentPool, which reuses and replaces sessions.
 *
 * Liveness: the session is pinged every `pingIntervalMs`; no answer within
 * `pingTimeoutMs` ends it (a vanished pod VM sends no FIN). When the session ends for
 * any reason, every operation on it fails with SP_AGENT_SESSION_LOST.
 */
import { connect as h2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { isIPv6 } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CommandResult } from '../proxy/streams/types.ts';
import type { AttestedSocket, DialTarget } from './agent-dial.ts';
import { ChannelStream, streamFailure } from './channel-stream.ts';
import { runCommand, type CommandStreams } from './command-client.ts';
import { CONNECTION_WINDOW_BYTES, proxyH2Options } from './h2-options.ts';
import {
  CHANNEL_PATHS,
  PROTOCOL_LIMITS,
  RAW_CONTENT_TYPE,
  attachPath,
  decodeErrorBody,
  decodeInfo,
  execPath,
  logsPath,
  portForwardPath,
  type AgentInfo,
  type AttachParams,
  type ExecParams,
  type LogsParams,
} from './protocol.ts';
import { METRICS_LIMITS, SCRUB_STATS_HEADER, decodeScrubStats, encodeMetricsRequest, metricsPath, type MetricsQuery, type MetricsRequestBody } from './metrics-protocol.ts';
import { readBody } from './stream-util.ts';
import { CONTENT_TYPES } from '../metrics/content-type.ts';
import type { ScrubStats } from '../metrics/scrub.ts';
import { sessionLifetime, type AgentIdentity, type SessionLifetime, type VerifiedAgent } from './trust.ts';

export type { CommandStreams };

export interface OperationOptions {
  /** Aborting cancels the operation (RST_STREAM CANCEL; the agent stops its side). */
  readonly signal?: AbortSignal;
}

/** The agent's answer to a metrics request: scrubbed bytes only, and what the scrub did. */
export interface ScrubbedMetrics {
  readonly body: Buffer;
  readonly contentType: string;
  readonly stats: ScrubStats;
}

export interface AgentConnectionOptions {
  readonly logger: Logger;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  /** Called once when the session can take no new operations (closed, lost or draining). */
  readonly onUnusable: () => void;
  /** The longest a session takes new operations, whatever its certificate says. Default 1 h. */
  readonly maxSessionAgeMs?: number;
}


export class AgentConnection {
  readonly identity: AgentIdentity;
  readonly agent: VerifiedAgent;
  readonly fingerprint256: string;
  readonly #session: ClientHttp2Session;
  readonly #socket: TLSSocket;
  readonly #options: AgentConnectionOptions;
  readonly #pinger: NodeJS.Timeout;
  readonly #lifetime: SessionLifetime;
  #usable = true;

  constructor(attested: AttestedSocket, target: DialTarget, options: AgentConnectionOptions) {
    this.identity = target.identity;
    this.agent = attested.agent;
    this.fingerprint256 = attested.fingerprint256;
    this.#options = options;
    this.#socket = attested.socket;
    const host = isIPv6(target.address) ? `[${target.address}]` : target.address;
    this.#session = h2Connect(`https://${host}:${target.port}`, { ...proxyH2Options(), createConnection: () => attested.socket });
    this.#session.on('error', (err: NodeJS.ErrnoException) => options.logger.debug({ code: err.code }, 'agent session error'));
    this.#session.once('close', () => this.#unusable());
    // The agent is leaving (shutdown, port takeover): finish what runs, start nothing new.
    this.#session.once('goaway', () => this.#unusable());
    this.#session.once('connect', (session) => {
      // 'connect' is emitted on a later tick; the session may already be gone.
      if (!session.destroyed && !session.closed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    this.#pinger = setInterval(() => this.#ping(), options.pingIntervalMs);
    this.#pinger.unref();
    // The evidence was checked once, at the handshake: the session takes new operations
    // for at most maxSessionAgeMs, so that a later verification (expiry, revocation, new
    // reference values) decides the next session; running operations finish on this one.
    // When the agent's trust ends, the session ends, running operations included.
    this.#lifetime = sessionLifetime(
      attested.notAfterMs,
      options.maxSessionAgeMs,
      () => this.#unusable(),
      () => {
        options.logger.info({ fingerprint: this.fingerprint256 }, "agent session ended: the agent's trust ended");
        this.destroy();
      },
    );
    // Not at #unusable: operations still running on a drained session end with the trust.
    this.#session.once('close', () => this.#lifetime.cancel());
  }

  /** False once the session takes no new operations; the pool then dials a new one. */
  get usable(): boolean {
    return this.#usable;
  }

  /** Runs a command in a container; see runCommand for the contract. Never rejects. */
  exec(params: ExecParams, io: CommandStreams, options: OperationOptions = {}): Promise<CommandResult> {
    if (!this.#usable) return Promise.resolve({ kind: 'error', error: new ShadowplaneError('SP_AGENT_SESSION_LOST') });
    return runCommand(this.#session, execPath(params), io, options.signal);
  }

  /** Attaches to the container's workload; same contract as exec. */
  attach(params: AttachParams, io: CommandStreams, options: OperationOptions = {}): Promise<CommandResult> {
    if (!this.#usable) return Promise.resolve({ kind: 'error', error: new ShadowplaneError('SP_AGENT_SESSION_LOST') });
    return runCommand(this.#session, attachPath(params), io, options.signal);
  }

  /**
   * A container's log as the kubelet would serve it. Resolves when the agent accepted
   * the query (rejects with its error otherwise); the Readable ends when the log does.
   */
  async logs(params: LogsParams, options: OperationOptions = {}): Promise<Readable> {
    const req = this.#open({ ':method': 'GET', ':path': logsPath(params) }, true, options.signal);
    await this.#accepted(req, options.signal);
    const stream = new ChannelStream(req);
    stream.end();
    return stream;
  }

  /**
   * A connection to `port` on the pod's localhost (127.0.0.1, else ::1). Resolves once
   * the agent connected (rejects with SP_PORT_FORWARD_FAILED when nothing listens).
   * `end()` half-closes toward the pod; the readable ends when the pod's side did.
   */
  async portForward(port: number, options: OperationOptions = {}): Promise<Duplex> {
    const req = this.#open({ ':method': 'POST', ':path': portForwardPath(port), 'content-type': RAW_CONTENT_TYPE }, false, options.signal);
    await this.#accepted(req, options.signal);
    return new ChannelStream(req);
  }

  /**
   * Scrubbed metrics of the pod's workload: the agent scrapes it on the pod's loopback,
   * scrubs under `body.policy` with `body.hashKey` (which travel only over this attested
   * session) and answers the scrubbed exposition in `query.format`. Rejects with the code
   * that dropped the scrape (SP_METRICS_*), or a channel error.
   */
  async metrics(query: MetricsQuery, body: MetricsRequestBody, options: OperationOptions = {}): Promise<ScrubbedMetrics> {
    const payload = encodeMetricsRequest(body);
    const req = this.#open({ ':method': 'POST', ':path': metricsPath(query), 'content-type': 'application/json', 'content-length': payload.length }, false, options.signal);
    req.end(payload);
    const headers = await this.#accepted(req, options.signal);
    const contentType = headers['content-type'];
    if (contentType !== CONTENT_TYPES[query.format]) {
      req.close(constants.NGHTTP2_CANCEL);
      throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'metrics answer in an unexpected format');
    }
    const stats = decodeScrubStats(headers[SCRUB_STATS_HEADER]);
    return { body: await readBody(req, METRICS_LIMITS.maxAnswerBytes), contentType, stats };
  }

  /** The pod's identity as the agent reports it and the containers its agents serve. */
  async info(options: OperationOptions = {}): Promise<AgentInfo> {
    const req = this.#open({ ':method': 'GET', ':path': CHANNEL_PATHS.info }, true, options.signal);
    await this.#accepted(req, options.signal);
    return decodeInfo(await readBody(req, PROTOCOL_LIMITS.maxJsonBody));
  }

  /** Lets running operations finish, then ends the session. */
  close(): void {
    this.#unusable();
    if (!this.#session.closed) this.#session.close();
  }

  /**
   * Ends the session now; running operations fail with SP_AGENT_SESSION_LOST. The
   * connection ends with it, so the agent ends its side of every operation at once:
   * Node's `session.destroy()` alone leaves the socket open while a write of the session
   * is pending (it ends the socket only once that write completed, which a peer that
   * stopped reading never lets happen).
   */
  destroy(): void {
    this.#unusable();
    this.#session.destroy();
    this.#socket.destroy();
  }

  #open(headers: OutgoingHttpHeaders, endStream: boolean, signal: AbortSignal | undefined): ClientHttp2Stream {
    if (!this.#usable || this.#session.closed || this.#session.destroyed) throw new ShadowplaneError('SP_AGENT_SESSION_LOST', 'session is closed');
    if (signal?.aborted === true) throw new ShadowplaneError('SP_AGENT_SESSION_LOST', 'cancelled');
    let req: ClientHttp2Stream;
    try {
      req = this.#session.request(headers, { endStream, ...(signal === undefined ? {} : { signal }) });
    } catch (err) {
      throw new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, { cause: err });
    }
    // Every operation listens for its stream's errors while it runs and fails with them;
    // this listener only keeps an error after that (the AbortError a cancelled request's
    // stream emits once its operation has already given up) from becoming an uncaught
    // exception of the whole proxy.
    req.on('error', () => undefined);
    return req;
  }

  /** Waits for the agent's answer: 200 resolves with its headers, anything else rejects with the agent's error. */
  #accepted(req: ClientHttp2Stream, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        req.off('response', onResponse);
        req.off('error', onError);
        req.off('close', onError);
        req.off('aborted', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const onResponse = (headers: Record<string, unknown>): void => {
        cleanup();
        if (headers[':status'] === 200) {
          resolve(headers);
          return;
        }
        readBody(req, PROTOCOL_LIMITS.maxJsonBody).then(
          (body) => reject(decodeErrorBody(body)),
          (err: unknown) => reject(streamFailure(req, err)),
        );
      };
      const onError = (err?: unknown): void => {
        cleanup();
        reject(streamFailure(req, err));
      };
      const onAbort = (): void => {
        cleanup();
        req.close(constants.NGHTTP2_CANCEL);
        reject(new ShadowplaneError('SP_AGENT_SESSION_LOST', 'cancelled'));
      };
      req.once('response', onResponse);
      req.once('error', onError);
      req.once('close', onError);
      req.once('aborted', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #ping(): void {
    if (this.#session.closed || this.#session.destroyed) return;
    const timer = setTimeout(() => {
      this.#options.logger.warn('agent did not answer a ping; ending the session');
      this.destroy();
    }, this.#options.pingTimeoutMs);
    timer.unref();
    const sent = this.#session.ping((err) => {
      clearTimeout(timer);
      if (err !== null) this.destroy();
    });
    if (!sent) clearTimeout(timer);
  }

  #unusable(): void {
    if (!this.#usable) return;
    this.#usable = false;
    clearInterval(this.#pinger);
    this.#options.onUnusable();
  }
}
