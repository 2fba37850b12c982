/**
 * Confidential routes, served by the proxy itself from the pod's agent. Never by the API
 * server: every failure here ends in a clear Status to the client, not in a fallback.
 *
 *   authorize (manifest) → find the pod's address (untrusted, address only) →
 *   attested session with that pod's agent → terminate kubectl's protocol → bridge
 *
 * The agent is reached before the client's upgrade is accepted, so an unreachable or
 * unattestable agent is refused with a Status the client prints, within seconds.
 *
 * pods/proxy: `GET …/pods/POD[:PORT]/proxy/metrics` is the per-pod metrics endpoint
 * (scrubbed inside the pod) for scrapers and for users with the `metrics` verb, when the
 * pod's workload has a metrics policy and the port, if named, is its metrics port. Any
 * other pods/proxy and services/proxy request is HTTP to the pod's loopback through the
 * agent, for users with the `proxy` verb.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AgentConnection } from '../../channel/agent-client.ts';
import type { Manifest, Verb } from '../../config/manifest.ts';
import { userMay } from '../../config/scope.ts';
import { isShadowplaneError, ShadowplaneError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { AuditLog, AuditOperation, AuditRecord, AuditWriter } from '../audit.ts';
import type { Caller } from '../identity.ts';
import type { AnyRequest } from '../request.ts';
import { respondError, type AnyResponse } from '../respond.ts';
import type { ConfidentialOp, Route } from '../route.ts';
import { NO_TRACKING, type RequestTracker } from '../self-metrics.ts';
import type { ConfidentialService } from '../server.ts';
import { rejectUpgrade, type AcceptOptions } from '../streams/upgrade.ts';
import { serveCommand } from './command.ts';
import { serveLogs } from './logs.ts';
import type { PodAgents } from './pod-agents.ts';
import { metricsPortOf, servePodMetrics, type PodMetricsScraper } from './pod-metrics.ts';
import { proxyHttp, proxyPortOf, proxyTlsOf, proxyUpgrade, type ProxyOutcome, type ProxyTarget } from './pod-proxy.ts';
import { servePortForward } from './portforward.ts';
import { callerName, isScraper, mayReadMetrics, upstreamAuthOf, type MetricsCaller } from './scrapers.ts';
import { resolveService, type ServiceResolverOptions } from './service-resolver.ts';

type ConfidentialRoute = Extract<Route, { kind: 'confidential' }>;

export interface ConfidentialServiceOptions {
  readonly manifest: Manifest;
  readonly agents: PodAgents;
  readonly audit: AuditLog;
  readonly podMetrics: PodMetricsScraper;
  /** For services/proxy: the upstream and credential its lookups use. */
  readonly services: Omit<ServiceResolverOptions, 'manifest' | 'pods'>;
  readonly accept?: AcceptOptions;
  readonly logger: Logger;
}

/** What the handlers of each operation get. */
export interface OperationContext {
  readonly caller: Caller;
  readonly route: ConfidentialRoute;
  readonly query: URLSearchParams;
  readonly connection: AgentConnection;
  readonly audit: AuditWriter;
  readonly accept: AcceptOptions;
  readonly track: RequestTracker;
  readonly logger: Logger;
}

const VERB_OF: Readonly<Record<ConfidentialOp, Verb>> = {
  exec: 'exec',
  attach: 'attach',
  portforward: 'portforward',
  log: 'logs',
  'pod-proxy': 'proxy',
  'service-proxy': 'proxy',
};

/** Pods of a service tried in turn when their agents cannot be reached. */
const SERVICE_ATTEMPTS = 3;

export function createConfidentialService(opts: ConfidentialServiceOptions): ConfidentialService {
  const { manifest, logger, agents } = opts;
  const accept: AcceptOptions = { logger, ...opts.accept };
  const services: ServiceResolverOptions = { ...opts.services, manifest, pods: agents.pods };

  function authorize(caller: Caller, route: ConfidentialRoute): void {
    const verb = VERB_OF[route.op];
    if (!userMay(manifest, caller.user, verb, route.namespace)) {
      throw new ShadowplaneError('SP_FORBIDDEN', `${caller.user.name} may not ${verb} in ${route.namespace}`);
    }
  }

  /**
   * Whether a pods/proxy request is the metrics endpoint: `GET …/proxy/metrics` on a pod
   * whose workload has a metrics policy, asked by a scraper or a user with the `metrics`
   * verb, with no port or the policy's scrape port. A port the proxy cannot check (the
   * agent configuration names the scrape port) is the metrics endpoint, checked by the
   * agent, only for a user without the `proxy` verb; for a user with it, that port is
   * ordinary pods/proxy, as for a user with `proxy` alone (else another server's
   * /metrics on the pod would be refused to them).
   */
  function isMetricsRequest(req: AnyRequest, caller: MetricsCaller, route: ConfidentialRoute): boolean {
    if (route.op !== 'pod-proxy' || route.subpath !== '/metrics' || req.method !== 'GET') return false;
    if (isScraper(caller)) return true;
    if (!mayReadMetrics(manifest, caller, route.namespace) || !opts.podMetrics.hasPolicy(route.namespace, route.name)) return false;
    const port = /^[0-9]{1,5}$/.test(route.port ?? '') ? Number(route.port) : route.port === undefined ? undefined : -1;
    if (port === -1) return false;
    const known = opts.podMetrics.metricsPort(route.namespace, route.name, port);
    return known === 'metrics' || (known === 'unknown' && !userMay(manifest, caller.user, 'proxy', route.namespace));
  }

  function context(req: AnyRequest | IncomingMessage, caller: Caller, route: ConfidentialRoute, connection: AgentConnection, audit: AuditWriter, track: RequestTracker): OperationContext {
    const query = new URL(req.url ?? '/', 'https://proxy.invalid').searchParams;
    return { caller, route, query, connection, audit, accept, track, logger: logger.child({ op: route.op, namespace: route.namespace, pod: route.name }) };
  }

  function callerAuthOf(req: AnyRequest | IncomingMessage, caller: MetricsCaller): OutgoingHttpHeaders {
    return upstreamAuthOf(manifest, req.headers, caller);
  }

  /** The pod (and port) a proxy request goes to: the route's pod, or a pod behind the service. */
  async function proxyTargets(req: AnyRequest | IncomingMessage, caller: Caller, route: ConfidentialRoute): Promise<{ pod: string; address: string | undefined; port: number; tls: boolean }[]> {
    const tls = proxyTlsOf(route.scheme);
    if (route.op === 'pod-proxy') return [{ pod: route.name, address: undefined, port: proxyPortOf(route.port, route.scheme), tls }];
    const candidates = await resolveService(services, route.namespace, route.name, route.port, callerAuthOf(req, caller));
    return candidates.slice(0, SERVICE_ATTEMPTS).map((c) => ({ pod: c.pod.name, address: c.pod.ip, port: c.port, tls }));
  }

  /** Runs a proxy exchange on the first target whose agent answers, and audits it. */
  async function serveProxy(req: AnyRequest | IncomingMessage, caller: Caller, route: ConfidentialRoute, audit: AuditWriter, run: (target: ProxyTarget) => Promise<ProxyOutcome>): Promise<void> {
    const targets = await proxyTargets(req, caller, route);
    let lastError: unknown;
    for (const t of targets) {
      let connection: AgentConnection;
      try {
        connection = await agents.connect(route.namespace, t.pod, callerAuthOf(req, caller), t.address);
      } catch (err) {
        lastError = err;
        if (route.op === 'service-proxy' && (isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') || isShadowplaneError(err, 'SP_POD_NOT_FOUND'))) continue;
        throw err;
      }
      const record = audit.begin({ user: caller.user.name, namespace: route.namespace, pod: t.pod, container: undefined, operation: route.op === 'pod-proxy' ? 'pod-proxy' : 'service-proxy', protocol: protocolOf(req) });
      const outcome = await run({ connection, port: t.port, tls: t.tls, url: req.url ?? '/' }).catch((err: unknown) => {
        audit.finish(record, { error: asError(err).code });
        throw err;
      });
      audit.finish(record, { bytesIn: outcome.bytesIn, bytesOut: outcome.bytesOut, ...(outcome.error === undefined ? {} : { error: outcome.error.code }) });
      logger.info({ op: route.op, namespace: route.namespace, pod: t.pod, port: t.port, status: outcome.status, bytesIn: outcome.bytesIn, bytesOut: outcome.bytesOut, code: outcome.error?.code }, 'proxy exchange ended');
      return;
    }
    throw lastError instanceof ShadowplaneError ? lastError : new ShadowplaneError('SP_SERVICE_NO_ENDPOINTS', `service ${route.namespace}/${route.name}`);
  }

  return {
    async handleRequest(req: AnyRequest, res: AnyResponse, caller: MetricsCaller, route: ConfidentialRoute, track: RequestTracker = NO_TRACKING): Promise<void> {
      const audit = new OperationAudit(opts.audit);
      try {
        if (isMetricsRequest(req, caller, route)) {
          track.reclassify('metrics');
          if (!mayReadMetrics(manifest, caller, route.namespace)) throw new ShadowplaneError('SP_FORBIDDEN', `${callerName(caller)} may not read metrics in ${route.namespace}`);
          await servePodMetrics(opts.podMetrics, req, res, { namespace: route.namespace, pod: route.name, port: metricsPortOf(route.port), callerAuth: callerAuthOf(req, caller) }, caller, logger.child({ op: 'metrics', namespace: route.namespace, pod: route.name }));
          return;
        }
        if (isScraper(caller)) throw new ShadowplaneError('SP_FORBIDDEN', `${callerName(caller)} may only read metrics`);
        authorize(caller, route);
        if (route.op === 'pod-proxy' || route.op === 'service-proxy') {
          await serveProxy(req, caller, route, audit, (target) => proxyHttp(req, res, target, track));
          return;
        }
        if (route.op !== 'log') throw new ShadowplaneError('SP_UPGRADE_REQUIRED', `${route.op} needs a WebSocket or SPDY upgrade`);
        if (req.method !== 'GET') throw new ShadowplaneError('SP_BAD_REQUEST', 'logs are read with GET');
        const connection = await agents.connect(route.namespace, route.name, callerAuthOf(req, caller));
        await serveLogs(context(req, caller, route, connection, audit, track), req, res);
      } catch (err) {
        // A metrics request is a scrape, not an operation on the pod: counted, not audited.
        fail(err, req, caller, route, track, isMetricsRequest(req, caller, route) ? undefined : audit);
        respondError(res, asError(err));
      }
    },

    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller, route: ConfidentialRoute, track: RequestTracker = NO_TRACKING): Promise<void> {
      const audit = new OperationAudit(opts.audit);
      try {
        authorize(caller, route);
        if (route.op === 'pod-proxy' || route.op === 'service-proxy') {
          await serveProxy(req, caller, route, audit, (target) => proxyUpgrade(req, socket, head, target, track));
          return;
        }
        if (route.op !== 'exec' && route.op !== 'attach' && route.op !== 'portforward') {
          throw new ShadowplaneError('SP_BAD_REQUEST', `${route.op} is not served as an upgrade`);
        }
        const connection = await agents.connect(route.namespace, route.name, callerAuthOf(req, caller));
        const ctx = context(req, caller, route, connection, audit, track);
        if (route.op === 'portforward') await servePortForward(ctx, req, socket, head);
        else await serveCommand(ctx, route.op, req, socket, head);
      } catch (err) {
        fail(err, req, caller, route, track, audit);
        // Idempotent: a terminator that refused the upgrade has already answered and ended the socket.
        rejectUpgrade(socket, asError(err));
      }
    },
  };

  /** A failed request: counted, logged, and audited unless its operation's own record says how it ended. */
  function fail(err: unknown, req: AnyRequest | IncomingMessage, caller: MetricsCaller, route: ConfidentialRoute, track: RequestTracker, audit: OperationAudit | undefined): void {
    const e = asError(err);
    track.fail(e.code);
    const user = callerName(caller);
    logger.warn({ op: route.op, namespace: route.namespace, pod: route.name, user, code: e.code }, 'confidential operation refused');
    if (audit !== undefined && !audit.opened) {
      opts.audit.refused({ user, namespace: route.namespace, pod: route.name, container: undefined, operation: AUDIT_OPERATION[route.op], protocol: protocolOf(req) }, e.code);
    }
  }
}

const AUDIT_OPERATION: Readonly<Record<ConfidentialOp, AuditOperation>> = {
  exec: 'exec',
  attach: 'attach',
  portforward: 'portforward',
  log: 'logs',
  'pod-proxy': 'pod-proxy',
  'service-proxy': 'service-proxy',
};

/** One request's view of the audit log: whether the operation opened its own record. */
class OperationAudit implements AuditWriter {
  opened = false;
  readonly #audit: AuditLog;

  constructor(audit: AuditLog) {
    this.#audit = audit;
  }

  begin(fields: Parameters<AuditLog['begin']>[0]): AuditRecord {
    this.opened = true;
    return this.#audit.begin(fields);
  }

  finish(record: AuditRecord, outcome: Parameters<AuditLog['finish']>[1]): void {
    this.#audit.finish(record, outcome);
  }
}

function protocolOf(req: AnyRequest | IncomingMessage): string {
  // The client's Upgrade value, reduced to token characters: it goes into audit records.
  if (req.headers.upgrade !== undefined) return `http/1.1+${String(req.headers.upgrade).toLowerCase().replace(/[^a-z0-9.+/-]/g, '').slice(0, 32)}`;
  return req.httpVersion === '2.0' ? 'h2' : 'http/1.1';
}

function asError(err: unknown): ShadowplaneError {
  return err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err });
}
