/**
 * Confidential routes, served by the proxy itself from the pod's agent. Never by the API
 * server: every failure here ends in a clear Status to the client, not in a fallback.
 *
 *   authorize (manifest) → find the pod's address (untrusted, address only) →
 *   attested session with that pod's agent → terminate kubectl's protocol → bridge
 *
 * The agent is reached before the client's upgrade is accepted, so an unreachable or
 * unattestable agent is refused with a Status the client prints, within seconds.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AgentConnection } from '../../channel/agent-client.ts';
import type { AgentPool } from '../../channel/agent-pool.ts';
import type { Manifest, Verb } from '../../config/manifest.ts';
import { userMay } from '../../config/scope.ts';
import { isShadowplaneError, ShadowplaneError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { AuditLog } from '../audit.ts';
import type { Caller } from '../identity.ts';
import type { AnyRequest } from '../request.ts';
import { respondError, type AnyResponse } from '../respond.ts';
import type { ConfidentialOp, Route } from '../route.ts';
import type { ConfidentialService } from '../server.ts';
import { rejectUpgrade, type AcceptOptions } from '../streams/upgrade.ts';
import { serveCommand } from './command.ts';
import { serveLogs } from './logs.ts';
import type { PodDirectory } from './pod-directory.ts';
import { servePortForward } from './portforward.ts';

type ConfidentialRoute = Extract<Route, { kind: 'confidential' }>;

export interface ConfidentialServiceOptions {
  readonly manifest: Manifest;
  readonly pool: AgentPool;
  readonly pods: PodDirectory;
  readonly audit: AuditLog;
  readonly accept?: AcceptOptions;
  readonly logger: Logger;
}

/** What the handlers of each operation get. */
export interface OperationContext {
  readonly caller: Caller;
  readonly route: ConfidentialRoute;
  readonly query: URLSearchParams;
  readonly connection: AgentConnection;
  readonly audit: AuditLog;
  readonly accept: AcceptOptions;
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

export function createConfidentialService(opts: ConfidentialServiceOptions): ConfidentialService {
  const { manifest, logger } = opts;
  const accept: AcceptOptions = { logger, ...opts.accept };

  function authorize(caller: Caller, route: ConfidentialRoute): void {
    const verb = VERB_OF[route.op];
    if (!userMay(manifest, caller.user, verb, route.namespace)) {
      throw new ShadowplaneError('SP_FORBIDDEN', `${caller.user.name} may not ${verb} in ${route.namespace}`);
    }
  }

  /** An attested session with the pod's agent; a cached address that fails is looked up afresh once. */
  async function connect(route: ConfidentialRoute, callerAuth: OutgoingHttpHeaders): Promise<AgentConnection> {
    const identity = { namespace: route.namespace, pod: route.name };
    const port = manifest.agent.port;
    const address = await opts.pods.lookup(route.namespace, route.name, callerAuth);
    try {
      return await opts.pool.connect({ address, port, identity });
    } catch (err) {
      if (!isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') && !isShadowplaneError(err, 'SP_AGENT_IDENTITY_MISMATCH')) throw err;
      const fresh = await opts.pods.lookup(route.namespace, route.name, callerAuth, true);
      if (fresh === address) throw err;
      return opts.pool.connect({ address: fresh, port, identity });
    }
  }

  function context(req: AnyRequest | IncomingMessage, caller: Caller, route: ConfidentialRoute, connection: AgentConnection): OperationContext {
    const query = new URL(req.url ?? '/', 'https://proxy.invalid').searchParams;
    return { caller, route, query, connection, audit: opts.audit, accept, logger: logger.child({ op: route.op, namespace: route.namespace, pod: route.name }) };
  }

  function callerAuthOf(req: AnyRequest | IncomingMessage): OutgoingHttpHeaders {
    const authorization = req.headers.authorization;
    return manifest.upstream.auth === 'forward-token' && authorization !== undefined ? { authorization } : {};
  }

  return {
    async handleRequest(req: AnyRequest, res: AnyResponse, caller: Caller, route: ConfidentialRoute): Promise<void> {
      try {
        authorize(caller, route);
        if (route.op !== 'log') {
          throw route.op === 'pod-proxy' || route.op === 'service-proxy'
            ? new ShadowplaneError('SP_CONFIDENTIAL_NOT_SERVED', `${route.op} for confidential pods`)
            : new ShadowplaneError('SP_UPGRADE_REQUIRED', `${route.op} needs a WebSocket or SPDY upgrade`);
        }
        if (req.method !== 'GET') throw new ShadowplaneError('SP_BAD_REQUEST', 'logs are read with GET');
        const connection = await connect(route, callerAuthOf(req));
        await serveLogs(context(req, caller, route, connection), req, res);
      } catch (err) {
        fail(err, route);
        respondError(res, asError(err));
      }
    },

    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller, route: ConfidentialRoute): Promise<void> {
      try {
        authorize(caller, route);
        if (route.op !== 'exec' && route.op !== 'attach' && route.op !== 'portforward') {
          throw new ShadowplaneError('SP_CONFIDENTIAL_NOT_SERVED', `${route.op} upgrades for confidential pods`);
        }
        const connection = await connect(route, callerAuthOf(req));
        const ctx = context(req, caller, route, connection);
        if (route.op === 'portforward') await servePortForward(ctx, req, socket, head);
        else await serveCommand(ctx, route.op, req, socket, head);
      } catch (err) {
        fail(err, route);
        // Idempotent: a terminator that refused the upgrade has already answered and ended the socket.
        rejectUpgrade(socket, asError(err));
      }
    },
  };

  function fail(err: unknown, route: ConfidentialRoute): void {
    const e = asError(err);
    logger.warn({ op: route.op, namespace: route.namespace, pod: route.name, code: e.code }, 'confidential operation refused');
  }
}

function asError(err: unknown): ShadowplaneError {
  return err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err });
}
