/**
 * The agent's table of operations: `:method` + path → handler, after the query was
 * validated (protocol.ts). Operations for another container of the pod go to the
 * container router (only on the listener that holds the pod's port); port-forward and
 * metrics are always served here (one network namespace per pod).
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CHANNEL_PATHS, JSON_CONTENT_TYPE, parseAttachQuery, parseExecQuery, parseLogsQuery, parsePortForwardQuery, type AgentInfo, type ContainerInfo } from '../channel/protocol.ts';
import { respondError } from '../channel/stream-util.ts';
import { serveAttach, type AttachContext } from './attach-handler.ts';
import type { ContainerRouter } from './container-router.ts';
import { serveExec, type ExecContext } from './exec-handler.ts';
import { serveLogs, type LogsContext } from './logs-handler.ts';
import { serveMetrics, type MetricsContext } from './metrics-handler.ts';
import { parseMetricsQuery } from '../channel/metrics-protocol.ts';
import { servePortForward, type PortForwardContext } from './port-forward-handler.ts';

export interface OperationsContext {
  readonly namespace: string;
  readonly pod: string;
  readonly self: ContainerInfo;
  readonly exec: ExecContext;
  readonly attach: AttachContext;
  readonly logs: LogsContext;
  readonly portForward: PortForwardContext;
  readonly metrics: MetricsContext;
  /** Null where only this container is served (the unix socket). */
  readonly router: ContainerRouter | null;
  /** Operations running at once in this agent, over every session and the unix socket. */
  readonly inFlight: OperationCounter;
  readonly logger: Logger;
}

/** One agent-wide count of running operations, against its limit. */
export interface OperationCounter {
  readonly limit: number;
  running: number;
}

function requireMethod(headers: IncomingHttpHeaders, method: 'GET' | 'POST'): void {
  if (headers[':method'] !== method) throw new ShadowplaneError('SP_BAD_REQUEST', `this operation takes ${method}`);
}

/** Serves one stream. Throws a ShadowplaneError for a request it refuses (the caller answers it). */
export function serveOperation(ctx: OperationsContext, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const rawPath = headers[':path'];
  if (typeof rawPath !== 'string' || !rawPath.startsWith('/')) throw new ShadowplaneError('SP_BAD_REQUEST', 'path');
  const url = new URL(rawPath, 'http://agent');
  const query = url.searchParams;
  const elsewhere = (container: string): boolean => {
    if (container === ctx.self.name) return false;
    if (ctx.router === null) throw new ShadowplaneError('SP_CONTAINER_NOT_FOUND', container);
    ctx.router.relay(stream, headers, container);
    return true;
  };
  switch (url.pathname) {
    case CHANNEL_PATHS.exec: {
      requireMethod(headers, 'POST');
      const params = parseExecQuery(query);
      if (!elsewhere(params.container)) serveExec(stream, params, ctx.exec);
      return;
    }
    case CHANNEL_PATHS.attach: {
      requireMethod(headers, 'POST');
      const params = parseAttachQuery(query);
      if (!elsewhere(params.container)) serveAttach(stream, params, ctx.attach);
      return;
    }
    case CHANNEL_PATHS.logs: {
      requireMethod(headers, 'GET');
      const params = parseLogsQuery(query);
      if (!elsewhere(params.container)) serveLogs(stream, params, ctx.logs);
      return;
    }
    case CHANNEL_PATHS.portForward: {
      requireMethod(headers, 'POST');
      servePortForward(stream, parsePortForwardQuery(query), ctx.portForward);
      return;
    }
    case CHANNEL_PATHS.metrics: {
      // A pod-level operation, like port-forward: the workload listens in the pod's network namespace.
      requireMethod(headers, 'POST');
      serveMetrics(stream, parseMetricsQuery(query), ctx.metrics);
      return;
    }
    case CHANNEL_PATHS.info: {
      requireMethod(headers, 'GET');
      void serveInfo(ctx, stream);
      return;
    }
    default:
      throw new ShadowplaneError('SP_BAD_REQUEST', 'unknown operation');
  }
}

async function serveInfo(ctx: OperationsContext, stream: ServerHttp2Stream): Promise<void> {
  const siblings = ctx.router === null ? [] : await ctx.router.siblings();
  const info: AgentInfo = { namespace: ctx.namespace, pod: ctx.pod, containers: [ctx.self, ...siblings] };
  if (stream.destroyed) return;
  const body = Buffer.from(JSON.stringify(info));
  stream.respond({ ':status': 200, 'content-type': JSON_CONTENT_TYPE, 'content-length': body.length });
  stream.end(body);
}

/** serveOperation with refusals answered as error bodies. */
export function operationHandler(ctx: OperationsContext): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void {
  return (stream, headers) => {
    // The agent's limit, not a session's: many sessions (or the unix socket) must not add up past it.
    const counter = ctx.inFlight;
    if (counter.running >= counter.limit) {
      respondError(stream, new ShadowplaneError('SP_AGENT_BUSY', 'too many operations at once'));
      return;
    }
    counter.running++;
    stream.once('close', () => counter.running--);
    try {
      serveOperation(ctx, stream, headers);
    } catch (err) {
      respondError(stream, err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err }));
    }
  };
}
