/**
 * The proxy's front door, and the one place where the request path is composed:
 *
 *   TLS 1.3 (h2 + http/1.1) → limits → route → track → authenticate (user | scraper)
 *     → { passthrough | confidential | shadowplane | deny }
 *
 * Ordinary calls arrive over HTTP/2; stream upgrades arrive as HTTP/1.1 on fresh
 * connections ('upgrade' event). Both go through the same steps in the same order.
 * A caller that is not a manifest user may still be a metrics scraper (client
 * certificate or bearer token in the manifest): scrapers reach the metrics endpoints
 * and nothing else, and nothing of theirs passes through to the API server.
 */
import http2, { type Http2SecureServer } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Manifest } from '../config/manifest.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { rawHeaderBytes } from './headers.ts';
import { isScraperRoute, scraperOf, type MetricsCaller } from './confidential/scrapers.ts';
import { callerOf, type Caller } from './identity.ts';
import type { MetricsEndpoints } from './metrics-endpoints.ts';
import { passthrough } from './passthrough.ts';
import { passthroughUpgrade } from './passthrough-upgrade.ts';
import { tlsSocketOf, type AnyRequest } from './request.ts';
import { respondError, type AnyResponse } from './respond.ts';
import { route, type Route, type ShadowplaneEndpoint } from './route.ts';
import { NO_TRACKING, type RequestMetrics, type RequestTracker } from './self-metrics.ts';
import { rejectUpgrade } from './streams/upgrade.ts';
import type { Upstream } from './upstream.ts';

type ConfidentialRoute = Extract<Route, { kind: 'confidential' }>;

/** Serves confidential routes (the pod agent side). */
export interface ConfidentialService {
  /** Non-upgrade requests: logs, pods/proxy, services/proxy; scrapers only for pods/proxy/metrics. */
  handleRequest(req: AnyRequest, res: AnyResponse, caller: MetricsCaller, route: ConfidentialRoute, track: RequestTracker): Promise<void>;
  /** Upgrades: exec, attach, port-forward, and upgrades through pods/proxy and services/proxy. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller, route: ConfidentialRoute, track: RequestTracker): Promise<void>;
}

export type EndpointHandler = (req: AnyRequest, res: AnyResponse, caller: Caller | undefined) => void | Promise<void>;

export interface ProxyServerOptions {
  readonly manifest: Manifest;
  readonly upstream: Upstream;
  readonly serving: { readonly keyPem: string; readonly certPem: string };
  /** shadowplane's own endpoints; `attest` and `healthz` are served without authentication. */
  readonly endpoints: Partial<Record<ShadowplaneEndpoint, EndpointHandler>>;
  /** Undefined: confidential routes are recognised and refused (fail closed). */
  readonly confidential: ConfidentialService | undefined;
  /** The federation and self-metrics endpoints (users with `metrics`, and scrapers). Default: not enabled. */
  readonly metricsEndpoints?: MetricsEndpoints;
  /** shadowplane's own request metrics. Default: not counted. */
  readonly requestMetrics?: RequestMetrics;
  readonly limits?: {
    /** Largest request header block in bytes (431 beyond). Default 64 KiB. */
    readonly maxHeaderBytes?: number;
    /** Open connections at once. Default 10,000. */
    readonly maxConnections?: number;
  };
  readonly logger: Logger;
}

const UNAUTHENTICATED_ENDPOINTS: ReadonlySet<ShadowplaneEndpoint> = new Set(['attest', 'healthz']);

export function createProxyServer(opts: ProxyServerOptions): Http2SecureServer {
  const maxHeaderBytes = opts.limits?.maxHeaderBytes ?? 64 * 1024;
  const { manifest, logger } = opts;
  const passOpts = { upstream: opts.upstream, authMode: manifest.upstream.auth, logger };

  const server = http2.createSecureServer({
    key: opts.serving.keyPem,
    cert: opts.serving.certPem,
    allowHTTP1: true,
    minVersion: 'TLSv1.3',
    requestCert: true,
    // Client certificates are self-signed; they are matched by public key to the manifest.
    rejectUnauthorized: false,
    // HTTP/2: nghttp2 takes header blocks up to 4x the limit; the request handler answers 431 past the limit.
    settings: { maxHeaderListSize: maxHeaderBytes * 4, maxConcurrentStreams: 1000 },
    maxSessionMemory: 64,
    // HTTP/1.1: the parser itself answers 431 past this size.
    maxHeaderSize: maxHeaderBytes,
  } as http2.SecureServerOptions);
  server.maxConnections = opts.limits?.maxConnections ?? 10_000;

  const refuseWith = (res: AnyResponse, track: RequestTracker, code: ShadowplaneError['code'], detail?: string): void => {
    track.fail(code);
    respondError(res, new ShadowplaneError(code, detail));
  };

  server.on('request', (req: AnyRequest, res: AnyResponse) => {
    if (rawHeaderBytes(req.rawHeaders) > maxHeaderBytes) return refuseWith(res, NO_TRACKING, 'SP_HEADERS_TOO_LARGE', `limit ${maxHeaderBytes} bytes`);
    const r = route({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, manifest);
    const track = opts.requestMetrics?.request(r, res) ?? NO_TRACKING;
    const refuse = (code: ShadowplaneError['code'], detail?: string): void => refuseWith(res, track, code, detail);
    const caller = callerOf(tlsSocketOf(req), manifest);

    if (r.kind === 'shadowplane' && UNAUTHENTICATED_ENDPOINTS.has(r.endpoint)) {
      return serveEndpoint(r.endpoint, req, res, caller);
    }
    if (caller === undefined) {
      const scraper = scraperOf(manifest, tlsSocketOf(req), req.headers);
      if (scraper === undefined) return refuse('SP_UNAUTHENTICATED');
      // A scraper reaches the metrics endpoints and nothing else.
      if (!isScraperRoute(r, req.method ?? 'GET')) return refuse('SP_FORBIDDEN', 'a metrics scraper may only read metrics');
      return serveMetrics(r, req, res, scraper, track);
    }
    switch (r.kind) {
      case 'deny':
        logger.info({ code: r.code, method: req.method }, 'request refused');
        return refuse(r.code, r.detail);
      case 'passthrough':
        return void passthrough(req, res, caller, passOpts, track).catch((err: unknown) => failRequest(res, err, track));
      case 'shadowplane':
      case 'confidential':
        return r.kind === 'shadowplane' && r.endpoint !== 'metrics' && r.endpoint !== 'federate' ? serveEndpoint(r.endpoint, req, res, caller) : serveMetrics(r, req, res, caller, track);
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const r = route({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, manifest);
    const track = opts.requestMetrics?.upgrade(r, socket) ?? NO_TRACKING;
    const fail = (code: ShadowplaneError['code'], detail?: string): void => {
      track.fail(code);
      rejectUpgrade(socket, new ShadowplaneError(code, detail));
    };
    if (rawHeaderBytes(req.rawHeaders) > maxHeaderBytes) return fail('SP_HEADERS_TOO_LARGE', `limit ${maxHeaderBytes} bytes`);
    const caller = callerOf(socket as TLSSocket, manifest);
    if (caller === undefined) {
      // Scrapers read metrics, which never upgrade.
      return scraperOf(manifest, socket as TLSSocket, req.headers) === undefined ? fail('SP_UNAUTHENTICATED') : fail('SP_FORBIDDEN', 'a metrics scraper may only read metrics');
    }
    switch (r.kind) {
      case 'deny':
        logger.info({ code: r.code, method: req.method, upgrade: true }, 'request refused');
        return fail(r.code, r.detail);
      case 'passthrough':
        return void passthroughUpgrade(req, socket, head, caller, passOpts, track).catch((err: unknown) => failUpgrade(socket, err, track));
      case 'shadowplane':
        return fail('SP_BAD_REQUEST', 'shadowplane endpoints do not upgrade');
      case 'confidential':
        if (opts.confidential === undefined) return fail('SP_CONFIDENTIAL_NOT_SERVED', `${r.op} on a confidential pod`);
        return void opts.confidential.handleUpgrade(req, socket, head, caller, r, track).catch((err: unknown) => failUpgrade(socket, err, track));
    }
  });

  // HTTP/1.1 parse failures (the HTTP/2 compatibility server does not answer them itself).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // The parser reports again for bytes that keep arriving: answer once, let it flush.
    if (socket.writableEnded) return;
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 'SP_HEADERS_TOO_LARGE' : 'SP_BAD_REQUEST';
    logger.debug({ code, cause: err.code }, 'malformed HTTP/1.1 request');
    rejectUpgrade(socket, new ShadowplaneError(code, code === 'SP_HEADERS_TOO_LARGE' ? `limit ${maxHeaderBytes} bytes` : 'unparseable HTTP/1.1'));
  });
  server.on('sessionError', (err: NodeJS.ErrnoException) => logger.debug({ cause: err.code }, 'client session error'));
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => logger.debug({ cause: err.code }, 'client TLS error'));

  function serveEndpoint(endpoint: ShadowplaneEndpoint, req: AnyRequest, res: AnyResponse, caller: Caller | undefined): void {
    const handler = opts.endpoints[endpoint];
    if (handler === undefined) return refuseWith(res, NO_TRACKING, 'SP_BAD_REQUEST', `endpoint ${endpoint} is not enabled`);
    try {
      const p = handler(req, res, caller);
      if (p instanceof Promise) p.catch((err: unknown) => failRequest(res, err, NO_TRACKING));
    } catch (err) {
      failRequest(res, err, NO_TRACKING);
    }
  }

  /** The metrics endpoints and confidential routes, for users and (metrics only) scrapers. */
  function serveMetrics(r: Route, req: AnyRequest, res: AnyResponse, caller: MetricsCaller, track: RequestTracker): void {
    if (r.kind === 'confidential') {
      if (opts.confidential === undefined) return refuseWith(res, track, 'SP_CONFIDENTIAL_NOT_SERVED', `${r.op} on a confidential pod`);
      return void opts.confidential.handleRequest(req, res, caller, r, track).catch((err: unknown) => failRequest(res, err, track));
    }
    const handler = r.kind === 'shadowplane' && (r.endpoint === 'metrics' || r.endpoint === 'federate') ? opts.metricsEndpoints?.[r.endpoint] : undefined;
    if (handler === undefined) return refuseWith(res, track, 'SP_BAD_REQUEST', 'endpoint is not enabled');
    // A handler that throws before its first await is answered like one that rejects.
    Promise.resolve()
      .then(() => handler(req, res, caller))
      .catch((err: unknown) => failRequest(res, err, track));
  }

  function failRequest(res: AnyResponse, err: unknown, track: RequestTracker): void {
    const e = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err });
    if (e.code === 'SP_INTERNAL') logger.error({ code: e.code, err: errName(err) }, 'request failed');
    track.fail(e.code);
    respondError(res, e);
  }

  function failUpgrade(socket: Duplex, err: unknown, track: RequestTracker): void {
    const e = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err });
    if (e.code === 'SP_INTERNAL') logger.error({ code: e.code, err: errName(err) }, 'upgrade failed');
    track.fail(e.code);
    if (!socket.destroyed) rejectUpgrade(socket, e);
  }

  return server;
}

/** The class of an unexpected error, never its message (which may quote input). */
function errName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
