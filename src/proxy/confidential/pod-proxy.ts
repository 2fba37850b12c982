/**
 * pods/proxy and services/proxy of a confidential pod: an HTTP/1.1 exchange with the
 * pod's own loopback, carried by one port-forward stream of the attested channel (the
 * agent connects to 127.0.0.1, else ::1, at the port). Never through the API server.
 *
 * As the API server's proxy does it:
 * - the path is what follows `/proxy` (`/` when nothing does), the query is kept;
 * - hop-by-hop headers are dropped both ways, and so are the client's credentials
 *   (`Authorization`; the client certificate ends at the proxy);
 * - links into the pod go through the same proxy path again: a redirect's `Location` and
 *   the URL attributes of an HTML body (proxy-links.ts);
 * - the pod sees `X-Forwarded-Uri`, the path the client asked the proxy for;
 * - bodies stream both ways with backpressure; an upgrade (WebSocket) is answered with the
 *   pod's own 101 and then spliced byte for byte; a non-101 answer to an upgrade is
 *   forwarded and the client connection closed (never reused as if it were upgraded).
 *
 * An `https:` target (`pods/https:NAME:PORT/proxy`) is spoken to over TLS that the proxy
 * itself terminates, inside the stream: the pod's certificate is not verified (the API
 * server does not verify it either), and here the bytes never leave the attested channel.
 *
 * Response headers must arrive within 60 s; bodies have no deadline (streams may be long).
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { pipeline, type Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { AgentConnection } from '../../channel/agent-client.ts';
import { splice } from '../../channel/splice.ts';
import { ShadowplaneError, asShadowplaneError, isShadowplaneError } from '../../errors.ts';
import { forwardableRequestHeaders, forwardableUpgradeRawHeaders } from '../headers.ts';
import type { AnyRequest } from '../request.ts';
import { isRelayableStatus, writeHead, type AnyResponse } from '../respond.ts';
import type { RequestTracker } from '../self-metrics.ts';
import { rejectUpgrade } from '../streams/upgrade.ts';
import { abortResponse, watchWriteStall } from '../write-stall.ts';
import { podResponseHeaders, podUpgradeAnswerHead } from './pod-headers.ts';
import { type LinkContext, htmlRewritePipeline, rewritableEncodings, rewrittenHeaders, rewritesHtml } from './proxy-links.ts';

const RESPONSE_HEAD_TIMEOUT_MS = 60_000;
const MAX_RESPONSE_HEADER_BYTES = 64 * 1024;

export interface ProxyTarget {
  readonly connection: AgentConnection;
  /** The port on the pod's loopback. */
  readonly port: number;
  /** Whether the pod serves TLS at that port (an `https:` target). */
  readonly tls: boolean;
  /** The request target as the client sent it (`/api/v1/namespaces/…/proxy/rest?query`). */
  readonly url: string;
}

export interface ProxyOutcome {
  readonly status: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error: ShadowplaneError | undefined;
}

/**
 * Splits a proxy request target into the prefix that names the pod or service
 * (`…/proxy`), the path for the pod and the query. The router already refused every
 * non-canonical spelling, so the raw segments are safe to reuse as they came.
 */
export function splitProxyUrl(url: string): { prefix: string; path: string; query: string } {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  const parts = rawPath.split('/');
  // ['', 'api', 'v1', 'namespaces', NS, 'pods'|'services', TARGET, 'proxy', ...rest]
  const prefix = parts.slice(0, 8).join('/');
  const rest = parts.slice(8);
  return { prefix, path: `/${rest.join('/')}`, query };
}

/** Whether a `scheme:name:port` target asks for TLS: `https`; `http` or none is plain; anything else is refused. */
export function proxyTlsOf(scheme: string | undefined): boolean {
  if (scheme === undefined || scheme === 'http') return false;
  if (scheme === 'https') return true;
  throw new ShadowplaneError('SP_BAD_REQUEST', 'the proxy scheme must be http or https');
}

/** The port of a `[scheme:]name:port` target: a number (no port is 80, or 443 for https, as for the API server). */
export function proxyPortOf(port: string | undefined, scheme: string | undefined): number {
  const tls = proxyTlsOf(scheme);
  if (port === undefined) return tls ? 443 : 80;
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) throw new ShadowplaneError('SP_BAD_REQUEST', 'the proxy port must be a number 1..65535');
  return Number(port);
}

/** The connection the HTTP exchange runs on: the channel stream itself, or TLS inside it for an https target. */
function podConnection(channel: Duplex, tls: boolean): Duplex {
  if (!tls) return channel;
  // The pod's own certificate, whatever it is (self-signed, for another name): it is not
  // what protects these bytes; the attested channel around them is.
  const socket = tlsConnect({ socket: channel, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  socket.once('close', () => channel.destroy());
  return socket;
}

function podRequestHeaders(headers: OutgoingHttpHeaders, port: number, forwardedUri: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers, host: `127.0.0.1:${port}`, 'x-forwarded-uri': forwardedUri, connection: 'close' };
  const accepted = rewritableEncodings(headers['accept-encoding']);
  if (accepted === undefined) delete out['accept-encoding'];
  else out['accept-encoding'] = accepted;
  return out;
}

/**
 * `open()` with the channel stream closed if it throws (Node refuses a request it cannot
 * write, such as a header value it finds invalid): the error goes to the caller as
 * SP_POD_PROXY_FAILED, and the stream does not stay open on the agent.
 */
function withChannel<T>(channel: Duplex, open: () => T): T {
  try {
    return open();
  } catch {
    channel.destroy();
    throw new ShadowplaneError('SP_POD_PROXY_FAILED', 'the request could not be sent to the pod');
  }
}

/** What decides which links in the pod's answers are rewritten. */
function linkContext(req: AnyRequest, prefix: string, target: ProxyTarget): LinkContext {
  const host = req.headers[':authority'] ?? req.headers.host;
  return { prefix, port: target.port, tls: target.tls, requestHost: typeof host === 'string' ? host : undefined };
}

/** Proxies one ordinary request. Resolves when the exchange ended; throws only before the response started. */
export async function proxyHttp(req: AnyRequest, res: AnyResponse, target: ProxyTarget, track: RequestTracker): Promise<ProxyOutcome> {
  const { prefix, path, query } = splitProxyUrl(target.url);
  const channel = await target.connection.portForward(target.port);
  let bytesIn = 0;
  let bytesOut = 0;
  return new Promise<ProxyOutcome>((resolve, reject) => {
    let started = false;
    let settled = false;
    const finish = (outcome: ProxyOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const failEarly = (err: ShadowplaneError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      podReq.destroy();
      channel.destroy();
      reject(err);
    };
    const podReq = withChannel(channel, () =>
      httpRequest({
        createConnection: () => podConnection(channel, target.tls),
        method: req.method ?? 'GET',
        path: `${path}${query}`,
        headers: podRequestHeaders(forwardableRequestHeaders(req.headers, { keepAuthorization: false }), target.port, `${prefix}${path}`),
        setHost: false,
        maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
      }),
    );
    const timer = setTimeout(() => failEarly(new ShadowplaneError('SP_POD_PROXY_TIMEOUT', `no response headers within ${RESPONSE_HEAD_TIMEOUT_MS / 1000} s`)), RESPONSE_HEAD_TIMEOUT_MS);
    podReq.on('error', (err) => {
      if (!started) failEarly(isShadowplaneError(err) ? err : new ShadowplaneError('SP_POD_PROXY_FAILED', 'no usable HTTP response'));
    });
    res.once('close', () => {
      // The client left: stop the pod's side too.
      if (!podReq.destroyed) podReq.destroy();
      channel.destroy();
    });
    podReq.on('response', (podRes: IncomingMessage) => {
      if (settled) {
        podRes.destroy();
        return;
      }
      const status = podRes.statusCode;
      const unusable = (): void => {
        podRes.destroy();
        failEarly(new ShadowplaneError('SP_POD_PROXY_FAILED', 'the pod answered a status or headers that cannot be relayed'));
      };
      if (!isRelayableStatus(status)) {
        unusable();
        return;
      }
      const links = linkContext(req, prefix, target);
      const headers = podResponseHeaders(status, podRes.headers, links, path, req.httpVersionMajor < 2);
      // As the API server: a redirect's body is left alone; an HTML body's links are rewritten.
      const rewrite = podRes.headers.location === undefined && rewritesHtml(req.method ?? 'GET', status, headers);
      if (rewrite) rewrittenHeaders(headers);
      try {
        writeHead(res, status, headers);
      } catch {
        // Node refused a header value; nothing went out yet.
        unusable();
        return;
      }
      started = true;
      clearTimeout(timer);
      track.session('proxy');
      podRes.on('data', (c: Buffer) => (bytesOut += c.length));
      const done = (err: Error | null | undefined): void => {
        finish({ status: podRes.statusCode, bytesIn, bytesOut, error: err === undefined || err === null ? undefined : new ShadowplaneError('SP_POD_PROXY_FAILED', 'the response broke off') });
      };
      // A response whose client takes none of it for MAX_WRITE_STALL_MS is ended, with the
      // pod's side: each open exchange holds a stream of the agent's session and a
      // connection in the pod.
      const stop = watchWriteStall(res, () => {
        podRes.destroy();
        if (!podReq.destroyed) podReq.destroy();
        channel.destroy();
        abortResponse(res);
      });
      const ended = (err: Error | null | undefined): void => {
        stop();
        done(err);
      };
      if (rewrite) pipeline([podRes, ...htmlRewritePipeline(headers['content-encoding'], links), res], ended);
      else pipeline(podRes, res, ended);
    });
    req.on('data', (c: Buffer) => (bytesIn += c.length));
    pipeline(req, podReq, (err) => {
      if (err !== undefined && err !== null && !started) failEarly(new ShadowplaneError('SP_CLIENT_GONE', 'the request body broke off'));
    });
  });
}

/** Proxies an upgrade (WebSocket and the like). Resolves when the upgraded connection or the refusal ended. */
export async function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget, track: RequestTracker): Promise<ProxyOutcome> {
  const { prefix, path, query } = splitProxyUrl(target.url);
  const channel = await target.connection.portForward(target.port);
  const raw: [string, string][] = [
    ['Host', `127.0.0.1:${target.port}`],
    ...forwardableUpgradeRawHeaders(req.rawHeaders, { keepAuthorization: false }).filter(([name]) => name.toLowerCase() !== 'x-forwarded-uri'),
    ['X-Forwarded-Uri', `${prefix}${path}`],
    ['Connection', 'Upgrade'],
    ['Upgrade', req.headers.upgrade ?? ''],
  ];
  return new Promise<ProxyOutcome>((resolve) => {
    let settled = false;
    let bytesIn = head.length;
    let bytesOut = 0;
    const done = (status: number | undefined, error?: ShadowplaneError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, bytesIn, bytesOut, error });
    };
    const links = linkContext(req, prefix, target);
    const answerHead = (podRes: IncomingMessage): string =>
      podUpgradeAnswerHead(podRes.statusCode ?? 502, podRes.statusMessage ?? '', podRes.rawHeaders, podRes.headers, links, path);
    const podReq = withChannel(channel, () =>
      httpRequest({ createConnection: () => podConnection(channel, target.tls), method: req.method ?? 'GET', path: `${path}${query}`, headers: raw.flat(), setHost: false, maxHeaderSize: MAX_RESPONSE_HEADER_BYTES }),
    );
    const refuse = (err: ShadowplaneError): void => {
      podReq.destroy();
      channel.destroy();
      rejectUpgrade(socket, err);
      done(undefined, err);
    };
    const timer = setTimeout(() => refuse(new ShadowplaneError('SP_POD_PROXY_TIMEOUT', `no response within ${RESPONSE_HEAD_TIMEOUT_MS / 1000} s`)), RESPONSE_HEAD_TIMEOUT_MS);
    socket.once('close', () => {
      if (!settled) refuse(new ShadowplaneError('SP_CLIENT_GONE'));
    });
    podReq.on('error', (err) => {
      if (!settled) refuse(isShadowplaneError(err) ? err : asShadowplaneError(err, 'SP_POD_PROXY_FAILED'));
    });
    podReq.on('upgrade', (podRes: IncomingMessage, podSocket: Duplex, podHead: Buffer) => {
      if (settled) {
        podSocket.destroy();
        return;
      }
      clearTimeout(timer);
      track.session('proxy');
      socket.write(answerHead(podRes));
      if (podHead.length > 0) socket.write(podHead);
      if (head.length > 0) podSocket.write(head);
      bytesOut += podHead.length;
      socket.on('data', (c: Buffer) => (bytesIn += c.length));
      podSocket.on('data', (c: Buffer) => (bytesOut += c.length));
      splice(socket, podSocket, (err) => {
        socket.destroy();
        podSocket.destroy();
        done(101, err === undefined ? undefined : new ShadowplaneError('SP_POD_PROXY_FAILED', 'the upgraded connection broke off'));
      });
    });
    podReq.on('response', (podRes: IncomingMessage) => {
      if (settled) {
        podRes.destroy();
        return;
      }
      clearTimeout(timer);
      // Not upgraded: forward the answer, then close. The connection must never be reused.
      socket.write(answerHead(podRes));
      podRes.on('data', (c: Buffer) => (bytesOut += c.length));
      pipeline(podRes, socket, () => {
        socket.destroy();
        channel.destroy();
        done(podRes.statusCode);
      });
    });
    podReq.end();
  });
}

