/**
 * The request pipeline, composed in one visible place:
 *
 *   record request → authenticate → impersonate → authorize → route → answer
 *
 * Errors anywhere become a Status answer. Upgrade requests (exec, attach, port-forward
 * from kubectl, always HTTP/1.1) go through the same chain and are then handed to the
 * stream routes (`serveStreamUpgrade`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiCall } from './api-call.ts';
import { authenticate, impersonate, parseImpersonation, type ImpersonationConfig, type TokenIdentity, type UserInfo } from './authn.ts';
import { authorize, type AuthorizationRules } from './authz.ts';
import type { Cluster } from './cluster.ts';
import { aggregatedContentType, aggregatedJson, apiGroupListJson, apiResourceListJson, apiVersionsJson, versionJson, type ServerVersion } from './discovery.ts';
import type { AnyRequest, AnyResponse, ConnectionInfo, ListenerHandlers } from './listener.ts';
import { handleLogs } from './log-handler.ts';
import { negotiate } from './negotiate.ts';
import { openApiAnswer } from './openapi.ts';
import { handleGet, handleList } from './read-handler.ts';
import { distinctHeaders, type RecordedRequest, type RequestLog } from './request-log.ts';
import { requestInfo, type RequestInfo, type ResourceRequestInfo } from './request-info.ts';
import { acceptsGzip, asResponse, sendBody, sendStatus, type ResponseLike } from './respond.ts';
import { Errors, toApiError, type ApiError } from './status.ts';
import { handleWatch, type WatchSettings } from './watch-handler.ts';
import { handleCreate, handlePatch, handleUpdate } from './write-handler.ts';
import { handleDelete, handleDeleteCollection } from './delete-handler.ts';
import { serveStreamUpgrade, writeUpgradeError, type StreamRoutes } from './stream-routes.ts';
import { headerText, tapReadable, tapResponse } from './payload-taps.ts';
import type { ByteRecorder } from './recorder.ts';

export interface HandlerContext {
  readonly cluster: Cluster;
  readonly tokens: ReadonlyMap<string, TokenIdentity>;
  readonly impersonators: ImpersonationConfig;
  readonly rules: AuthorizationRules;
  readonly version: ServerVersion;
  readonly aggregatedDiscovery: readonly ('v2' | 'v2beta1')[];
  readonly watch: WatchSettings;
  readonly requests: RequestLog;
  readonly streams: StreamRoutes;
  /** Compress large object and list answers for clients that accept gzip. */
  readonly gzip: boolean;
  /** Where de-framed requests and sessions are recorded (null: recording is off). */
  readonly recorder: ByteRecorder | null;
  /** Aborted when the server closes: every watch, log follow and stream ends. */
  readonly closing: AbortSignal;
  serverAddress(): string;
}

const MAX_URL_LENGTH = 16 * 1024;

interface Prepared {
  readonly entry: RecordedRequest;
  readonly info: RequestInfo;
  readonly query: URLSearchParams;
  readonly path: string;
  readonly user: UserInfo;
}

/** Records the request, then authenticates, impersonates and authorizes it (throws a Status error). */
function prepare(ctx: HandlerContext, req: AnyRequest, conn: ConnectionInfo, upgrade: string | null): { entry: RecordedRequest; run: () => Prepared } {
  const headers = distinctHeaders(req.rawHeaders);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const recordedHeaders: Record<string, string[]> = {};
  const impersonation: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || k === 'authorization' || k === 'cookie') continue;
    recordedHeaders[k] = v;
    if (k.startsWith('impersonate-')) impersonation[k] = v;
  }
  const queryRecord: Record<string, string[]> = {};
  for (const k of new Set(query.keys())) queryRecord[k] = query.getAll(k);
  const entry = ctx.requests.add({
    id: ctx.requests.nextId(),
    time: Date.now(),
    httpVersion: req.httpVersion,
    alpn: conn.alpn,
    connectionId: conn.id,
    method: req.method ?? 'GET',
    path,
    query: queryRecord,
    headers: recordedHeaders,
    impersonationHeaders: impersonation,
    bearerTokenPresented: /^bearer\s/i.test(headers['authorization']?.[0] ?? ''),
    clientCertificatePresented: conn.presentedCertificate,
    upgrade,
    authMethod: null,
    authenticatedUser: null,
    effectiveUser: null,
    status: null,
  });
  const run = (): Prepared => {
    if (url.length > MAX_URL_LENGTH) throw Errors.badRequest('request URI too long');
    const authed = authenticate(headers, conn, ctx.tokens);
    entry.authMethod = authed.method;
    entry.authenticatedUser = authed.user;
    const user = impersonate(authed.user, parseImpersonation(headers), ctx.impersonators);
    entry.effectiveUser = user;
    const info = requestInfo(entry.method, path, query);
    authorize(user, info, ctx.rules);
    return { entry, info, query, path, user };
  };
  return { entry, run };
}

function serveNonResource(ctx: HandlerContext, res: ResponseLike, auditId: string, path: string, method: string, accept: string | undefined): void {
  if (method !== 'GET' && method !== 'HEAD') throw Errors.methodNotAllowed();
  const p = path.length > 1 ? path.replace(/\/$/, '') : path;
  switch (p) {
    case '/version':
      sendBody(res, 200, auditId, 'application/json', versionJson(ctx.version));
      return;
    case '/healthz':
    case '/livez':
    case '/readyz':
      sendBody(res, 200, auditId, 'text/plain; charset=utf-8', 'ok');
      return;
    case '/api':
    case '/apis': {
      const rep = negotiate(accept, { discovery: ctx.aggregatedDiscovery });
      if (rep?.kind === 'discovery') {
        sendBody(res, 200, auditId, aggregatedContentType(rep.version), aggregatedJson(rep.version, p === '/api' ? [...ctx.cluster.types.values()] : null));
      } else {
        sendBody(res, 200, auditId, 'application/json', p === '/api' ? apiVersionsJson(ctx.serverAddress()) : apiGroupListJson());
      }
      return;
    }
    case '/api/v1':
      sendBody(res, 200, auditId, 'application/json', apiResourceListJson([...ctx.cluster.types.values()]));
      return;
    default: {
      const answer = openApiAnswer(p, accept, [...ctx.cluster.types.values()], ctx.version);
      if (answer === null) throw Errors.pathNotFound();
      sendBody(res, 200, auditId, answer.contentType, answer.body);
    }
  }
}

async function serveResource(ctx: HandlerContext, call: ApiCall): Promise<void> {
  const { info } = call;
  switch (info.subresource) {
    case '':
      break;
    case 'log':
      if (info.verb !== 'get' || call.type.resource !== 'pods') throw Errors.methodNotAllowed();
      return handleLogs(call);
    case 'status':
      if (info.verb === 'get') return handleGet(call);
      if (info.verb === 'update') return handleUpdate(call);
      if (info.verb === 'patch') return handlePatch(call);
      throw Errors.methodNotAllowed();
    case 'exec':
    case 'attach':
    case 'portforward':
      if (call.type.resource !== 'pods') throw Errors.pathNotFound();
      throw Errors.badRequest('Upgrade request required');
    default:
      throw Errors.pathNotFound();
  }
  switch (info.verb) {
    case 'get':
      return handleGet(call);
    case 'list':
      return handleList(call);
    case 'watch':
      return handleWatch(call, ctx.watch);
    case 'create':
      if (info.name !== '') throw Errors.methodNotAllowed();
      return handleCreate(call);
    case 'update':
      return handleUpdate(call);
    case 'patch':
      return handlePatch(call);
    case 'delete':
      return handleDelete(call);
    case 'deletecollection':
      if (!call.type.verbs.includes('deletecollection')) throw Errors.methodNotAllowed();
      return handleDeleteCollection(call);
  }
}

/** Checks group/version/scope and builds the ApiCall (404 for anything not served). */
function resourceCall(ctx: HandlerContext, info: ResourceRequestInfo, base: Omit<ApiCall, 'info' | 'type'>): ApiCall {
  const type = ctx.cluster.types.get(info.resource);
  if (info.apiGroup !== '' || info.apiVersion !== 'v1' || type === undefined) throw Errors.pathNotFound();
  if (!type.namespaced && info.namespace !== '' && info.resource !== 'namespaces') throw Errors.pathNotFound();
  const clusterWide = info.verb === 'list' || info.verb === 'watch';
  if (type.namespaced && info.namespace === '' && !clusterWide) throw Errors.pathNotFound();
  // RequestInfo names a namespace object's own namespace after it (that is what
  // authorization sees); storage keys cluster-scoped objects without one.
  return { ...base, info: type.namespaced ? info : { ...info, namespace: '' }, type };
}

function trackStatus(entry: RecordedRequest, res: AnyResponse): void {
  const r = res as unknown as { statusCode: number; once(e: 'finish' | 'close', f: () => void): void };
  const done = (): void => {
    entry.status ??= r.statusCode;
  };
  r.once('finish', done);
  r.once('close', done);
}

export function createHandlers(ctx: HandlerContext): ListenerHandlers {
  return {
    request(req: AnyRequest, rawRes: AnyResponse, conn: ConnectionInfo): void {
      const tap = ctx.recorder?.openPayload(`${req.method ?? 'GET'} ${req.url ?? '/'}`) ?? null;
      tap?.record('received', headerText(req.rawHeaders, `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`));
      const res = tap === null ? asResponse(rawRes) : tapResponse(asResponse(rawRes), tap);
      const auditId = randomUUID();
      const { entry, run } = prepare(ctx, req, conn, null);
      trackStatus(entry, rawRes);
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      rawRes.once('close', onClose);
      ctx.closing.addEventListener('abort', onClose, { once: true });
      const serve = async (): Promise<void> => {
        const p = run();
        const accept = req.headers['accept'];
        if (p.info.kind === 'nonResource') {
          serveNonResource(ctx, res, auditId, p.path, entry.method, accept);
          return;
        }
        const call = resourceCall(ctx, p.info, {
          query: p.query,
          accept,
          contentType: req.headers['content-type'],
          userAgent: String(req.headers['user-agent'] ?? ''),
          user: p.user,
          body: tap === null ? req : tapReadable(req, (chunk) => tap.record('received', chunk)),
          res,
          auditId,
          cluster: ctx.cluster,
          signal: abort.signal,
          gzip: ctx.gzip && acceptsGzip(req.headers['accept-encoding']),
        });
        await serveResource(ctx, call);
      };
      serve()
        .catch((err: unknown) => {
          if (!res.headersSent) sendStatus(res, auditId, toApiError(err));
          else if (!res.writableEnded) res.end();
        })
        .finally(() => ctx.closing.removeEventListener('abort', onClose));
    },

    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo): void {
      const upgradeHeader = String(req.headers['upgrade'] ?? '');
      const tap = ctx.recorder?.openPayload(`${req.method ?? 'GET'} ${req.url ?? '/'}`) ?? null;
      tap?.record('received', headerText(req.rawHeaders, `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`));
      const { entry, run } = prepare(ctx, req, conn, upgradeHeader);
      const fail = (err: unknown): void => {
        const apiErr: ApiError = toApiError(err);
        entry.status ??= apiErr.code;
        writeUpgradeError(socket, apiErr);
      };
      try {
        const p = run();
        if (p.info.kind !== 'resource' || p.info.resource !== 'pods' || !['exec', 'attach', 'portforward'].includes(p.info.subresource)) {
          throw Errors.badRequest('this path does not support upgrades');
        }
        const pod = ctx.cluster.store.get('pods', p.info.namespace, p.info.name);
        if (pod === undefined) throw Errors.notFound('pods', p.info.name);
        void serveStreamUpgrade(ctx.streams, { req, socket, head, pod, info: p.info, query: p.query, tap }).then((status) => {
          entry.status ??= status;
        });
      } catch (err) {
        fail(err);
      }
    },
  };
}
