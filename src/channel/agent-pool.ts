/**
 * The proxy's connections to agents: one attested HTTP/2 session per (address, port,
 * pod), reused by every operation on that pod, replaced when it dies or drains.
 *
 * - Concurrent connects to the same target share one dial.
 * - A failed dial is remembered for `negativeCacheMs`: requests in that window fail
 *   at once with the same code instead of piling up on an unreachable pod.
 * - The pod address comes from the untrusted API server, so it is only an address:
 *   the key includes the pod identity, and the dial verifies that the agent is that pod.
 */
import { ShadowplaneError, isShadowplaneError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { AgentConnection } from './agent-client.ts';
import { dialAgent, type DialTarget } from './agent-dial.ts';
import type { AgentVerifier, ChannelCredentials } from './trust.ts';

export type AgentTarget = DialTarget;

export interface AgentPoolOptions {
  /** The proxy's own credentials; a function is called for every new connection (rotation). */
  readonly credentials: ChannelCredentials | (() => ChannelCredentials);
  readonly verifyAgent: AgentVerifier;
  readonly logger: Logger;
  /** TCP connect plus TLS handshake. Default 3000. */
  readonly connectTimeoutMs?: number;
  /** The verifier's deadline. Default 10000. */
  readonly verifyTimeoutMs?: number;
  /** How long a failed dial is remembered. Default 2000. */
  readonly negativeCacheMs?: number;
  /** Default 15000. */
  readonly pingIntervalMs?: number;
  /** Default 10000. */
  readonly pingTimeoutMs?: number;
  /** The longest a session takes new operations (also never past the agent certificate's end). Default 1 h. */
  readonly maxSessionAgeMs?: number;
  /** Injected clock (ms) for the negative cache. */
  readonly now?: () => number;
}

function keyOf(target: AgentTarget): string {
  return `${target.address}|${target.port}|${target.identity.namespace}/${target.identity.pod}`;
}

export class AgentPool {
  readonly #options: AgentPoolOptions;
  readonly #connections = new Map<string, AgentConnection>();
  readonly #dialing = new Map<string, Promise<AgentConnection>>();
  readonly #failures = new Map<string, { readonly code: ErrorCode; readonly detail: string | undefined; readonly until: number }>();
  #closed = false;

  constructor(options: AgentPoolOptions) {
    this.#options = options;
  }

  /**
   * A usable, attested connection to the target's agent. Rejects with
   * SP_AGENT_UNREACHABLE, SP_AGENT_ATTESTATION_FAILED or SP_AGENT_IDENTITY_MISMATCH.
   */
  connect(target: AgentTarget): Promise<AgentConnection> {
    if (this.#closed) return Promise.reject(new ShadowplaneError('SP_AGENT_UNREACHABLE', 'the pool is closed'));
    const key = keyOf(target);
    const live = this.#connections.get(key);
    if (live?.usable === true) return Promise.resolve(live);
    const inFlight = this.#dialing.get(key);
    if (inFlight !== undefined) return inFlight;
    const now = (this.#options.now ?? Date.now)();
    const failure = this.#failures.get(key);
    if (failure !== undefined) {
      if (failure.until > now) return Promise.reject(new ShadowplaneError(failure.code, failure.detail));
      this.#failures.delete(key);
    }
    const dial = this.#dial(target, key);
    this.#dialing.set(key, dial);
    return dial;
  }

  /** Connections currently held (usable or draining). */
  get size(): number {
    return this.#connections.size;
  }

  /** Ends every session; running operations fail with SP_AGENT_SESSION_LOST. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.destroy();
    this.#connections.clear();
  }

  async #dial(target: AgentTarget, key: string): Promise<AgentConnection> {
    const options = this.#options;
    try {
      const credentials = typeof options.credentials === 'function' ? options.credentials() : options.credentials;
      const attested = await dialAgent(target, {
        credentials,
        verifyAgent: options.verifyAgent,
        logger: options.logger,
        connectTimeoutMs: options.connectTimeoutMs ?? 3000,
        verifyTimeoutMs: options.verifyTimeoutMs ?? 10_000,
      });
      if (this.#closed) {
        attested.socket.destroy();
        throw new ShadowplaneError('SP_AGENT_UNREACHABLE', 'the pool is closed');
      }
      const connection: AgentConnection = new AgentConnection(attested, target, {
        logger: options.logger,
        pingIntervalMs: options.pingIntervalMs ?? 15_000,
        pingTimeoutMs: options.pingTimeoutMs ?? 10_000,
        ...(options.maxSessionAgeMs === undefined ? {} : { maxSessionAgeMs: options.maxSessionAgeMs }),
        onUnusable: () => {
          if (this.#connections.get(key) === connection) this.#connections.delete(key);
        },
      });
      this.#connections.set(key, connection);
      options.logger.info({ namespace: target.identity.namespace, pod: target.identity.pod }, 'agent session established');
      return connection;
    } catch (err) {
      const error = isShadowplaneError(err) ? err : new ShadowplaneError('SP_AGENT_UNREACHABLE', undefined, { cause: err });
      const now = (options.now ?? Date.now)();
      // Bounded: expired entries go whenever the map grows large.
      if (this.#failures.size >= 1024) for (const [k, f] of this.#failures) if (f.until <= now) this.#failures.delete(k);
      this.#failures.set(key, { code: error.code, detail: error.detail, until: now + (options.negativeCacheMs ?? 2000) });
      options.logger.warn({ namespace: target.identity.namespace, pod: target.identity.pod, code: error.code, detail: error.detail }, 'agent connection failed');
      throw error;
    } finally {
      this.#dialing.delete(key);
    }
  }
}
