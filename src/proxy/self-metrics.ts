/**
 * shadowplane's own metrics on the request path: one tracker per request or upgrade,
 * created by the front door (server.ts), told about failures and sessions by whoever
 * serves the request, and settled when the response or socket closes.
 *
 * What is counted (src/metrics/self.ts defines the metrics and their enumerations):
 * - `shadowplane_requests_total{route, code}` once per request when it closes: `code` is
 *   `ok` unless a failure code was reported (a passthrough request is `ok` when it was
 *   relayed, whatever the API server answered);
 * - `shadowplane_request_duration_seconds{route}`: time until the response head went out
 *   (the first `writeHead` of a response, the first write on an upgraded socket, which is
 *   the 101 or the refusal), so a `logs -f` or an exec session counts its start, not its
 *   length;
 * - `shadowplane_open_sessions{kind}` while a confidential session is open.
 *
 * Invariant: label values come only from the fixed enumerations; a pod, a path or a user
 * never becomes a label. Requests to the attestation, audit and health endpoints are
 * not counted (they have no route kind).
 */
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.ts';
import { createShadowplaneMetrics, type RouteKind, type SESSION_KINDS, type ShadowplaneMetrics } from '../metrics/self.ts';
import type { AnyResponse } from './respond.ts';
import type { Route } from './route.ts';

export type SessionKind = (typeof SESSION_KINDS)[number];

export interface RequestTracker {
  /** The request failed with `code` (counted instead of `ok`). The first report wins. */
  fail(code: ErrorCode): void;
  /** Counts the request under another route kind (pods/proxy/metrics is `metrics`, not `proxy`). */
  reclassify(kind: RouteKind): void;
  /** A confidential session is established: open until the response or socket closes. */
  session(kind: SessionKind): void;
}

/** A tracker that records nothing (for requests without a route kind, and for tests). */
export const NO_TRACKING: RequestTracker = Object.freeze({ fail: () => undefined, reclassify: () => undefined, session: () => undefined });

/** The route kind a request is counted under, or undefined (attest, audit, healthz). */
export function routeKindOf(route: Route): RouteKind | undefined {
  switch (route.kind) {
    case 'passthrough':
      return 'passthrough';
    case 'deny':
      return 'deny';
    case 'shadowplane':
      return route.endpoint === 'metrics' || route.endpoint === 'federate' ? 'metrics' : undefined;
    case 'confidential':
      switch (route.op) {
        case 'exec':
        case 'attach':
        case 'portforward':
          return route.op;
        case 'log':
          return 'logs';
        case 'pod-proxy':
        case 'service-proxy':
          return 'proxy';
      }
  }
}

export class RequestMetrics {
  readonly metrics: ShadowplaneMetrics;
  readonly #now: () => number;

  constructor(metrics: ShadowplaneMetrics = createShadowplaneMetrics(), now: () => number = () => performance.now()) {
    this.metrics = metrics;
    this.#now = now;
  }

  /** Tracks a request answered on `res`. */
  request(route: Route, res: AnyResponse): RequestTracker {
    const kind = routeKindOf(route);
    if (kind === undefined) return NO_TRACKING;
    const state = this.#state(kind);
    onFirstCall(res, 'writeHead', state.headSent);
    res.once('close', () => state.closed());
    return state.tracker;
  }

  /** Tracks an HTTP/1.1 upgrade answered on `socket`. */
  upgrade(route: Route, socket: Duplex): RequestTracker {
    const kind = routeKindOf(route);
    if (kind === undefined) return NO_TRACKING;
    const state = this.#state(kind);
    onFirstCall(socket, 'write', state.headSent);
    socket.once('close', () => state.closed());
    return state.tracker;
  }

  #state(initial: RouteKind) {
    const { metrics } = this;
    const start = this.#now();
    let kind = initial;
    let code: ErrorCode | undefined;
    let timed = false;
    let settled = false;
    const sessions: SessionKind[] = [];
    const headSent = (): void => {
      if (timed) return;
      timed = true;
      metrics.requestDuration.observe({ route: kind }, (this.#now() - start) / 1000);
    };
    return {
      headSent,
      closed: (): void => {
        if (settled) return;
        settled = true;
        headSent();
        metrics.requests.inc({ route: kind, code: code ?? 'ok' });
        for (const s of sessions) metrics.openSessions.dec({ kind: s });
      },
      tracker: {
        fail: (c: ErrorCode) => {
          code ??= c;
        },
        reclassify: (k: RouteKind) => {
          if (!timed) kind = k;
        },
        session: (s: SessionKind) => {
          if (settled) return;
          sessions.push(s);
          metrics.openSessions.inc({ kind: s });
        },
      } satisfies RequestTracker,
    };
  }
}

/**
 * Calls `hook` on the first call of `object[method]`, on this one object only, then puts
 * the method back as it was: later calls (every chunk of a long stream) pay nothing.
 */
function onFirstCall(object: object, method: 'write' | 'writeHead', hook: () => void): void {
  const target = object as Record<string, unknown>;
  const hadOwn = Object.hasOwn(target, method);
  const original = target[method] as (...args: unknown[]) => unknown;
  target[method] = function (this: unknown, ...args: unknown[]): unknown {
    if (hadOwn) target[method] = original;
    else delete target[method];
    hook();
    return original.apply(this, args);
  };
}
