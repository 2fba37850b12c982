/**
 * Passthrough of ordinary API requests to the upstream API server over HTTP/2.
 *
 * Streams both ways without buffering: request bodies (server-side apply, large creates)
 * flow upstream as they arrive; responses (lists of many megabytes, watches held open
 * for hours) flow back frame by frame. Memory per request is bounded by the HTTP/2 flow
 * control windows on both sides, so a slow or stalled client stalls its upstream stream
 * rather than growing a buffer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpStatusHeader } from 'node:http2';
import { pipeline } from 'node:stream';
import { asShadowplaneError, ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { forwardableRequestHeaders, forwardableResponseHeaders } from './headers.ts';
import type { Caller } from './identity.ts';
import { requestHasBody, type AnyRequest } from './request.ts';
import { isRelayableStatus, respondError, writeHead, type AnyResponse } from './respond.ts';
import { NO_TRACKING, type RequestTracker } from './self-metrics.ts';
import type { Upstream } from './upstream.ts';
import { upstreamAuthHeaders, type UpstreamAuthMode } from './upstream-auth.ts';

export interface PassthroughOptions {
  readonly upstream: Upstream;
  readonly authMode: UpstreamAuthMode;
  /** How long to wait for the upstream's response headers. Default 120 s. */
  readonly responseHeadersTimeoutMs?: number;
  readonly logger: Logger;
}

export async function passthrough(req: AnyRequest, res: AnyResponse, caller: Caller, opts: PassthroughOptions, track: RequestTracker = NO_TRACKING): Promise<void> {
  const headers = {
    ...forwardableRequestHeaders(req.headers, { keepAuthorization: opts.authMode === 'forward-token' }),
    ...(await upstreamAuthHeaders(caller, opts.authMode, opts.upstream.credentials)),
  };
  const hasBody = requestHasBody(req);
  let up: ClientHttp2Stream;
  try {
    up = await opts.upstream.request(req.method ?? 'GET', req.url ?? '/', headers, { endStream: !hasBody });
  } catch (err) {
    const e = asShadowplaneError(err, 'SP_UPSTREAM_UNAVAILABLE');
    track.fail(e.code);
    respondError(res, e);
    return;
  }

  const timeoutMs = opts.responseHeadersTimeoutMs ?? 120_000;
  const timer = setTimeout(() => {
    track.fail('SP_UPSTREAM_TIMEOUT');
    respondError(res, new ShadowplaneError('SP_UPSTREAM_TIMEOUT', `no response headers within ${timeoutMs / 1000} s`));
    up.close();
  }, timeoutMs);

  up.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
    clearTimeout(timer);
    if (res.headersSent) return;
    const status = h[':status'];
    const refuse = (): void => {
      track.fail('SP_UPSTREAM_PROTOCOL');
      up.close();
      try {
        respondError(res, new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'the upstream answered a status or headers that cannot be relayed'));
      } catch {
        res.destroy();
      }
    };
    if (!isRelayableStatus(status)) {
      refuse();
      return;
    }
    try {
      writeHead(res, status, forwardableResponseHeaders(h));
    } catch {
      // Node refused a header (an invalid value); nothing was sent yet.
      refuse();
      return;
    }
    // Push the headers out now: a watch may not send its first event for minutes.
    if ('flushHeaders' in res) res.flushHeaders();
    // pipe, not pipeline: pipeline costs an AbortController (and its DOMException) per
    // request, about a fifth of the proxy's CPU time for small GETs. Errors and early
    // ends are handled below, as pipeline would: the other side is torn down.
    up.pipe(res);
  });
  up.once('close', () => {
    if (up.readableEnded || !res.headersSent || res.writableEnded) return;
    opts.logger.debug({ code: 'SP_UPSTREAM_PROTOCOL', cause: up.rstCode }, 'passthrough response ended early');
    res.destroy();
  });
  up.on('trailers', (trailers: IncomingHttpHeaders) => {
    const t = forwardableResponseHeaders(trailers);
    if (Object.keys(t).length > 0) res.addTrailers(t);
  });
  up.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    track.fail('SP_UPSTREAM_UNAVAILABLE');
    if (!res.headersSent) {
      respondError(res, new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', err.code ?? 'stream error'));
    } else {
      res.destroy();
    }
  });
  // A client that goes away cancels the upstream stream (RST_STREAM CANCEL), which ends a watch upstream too.
  res.on('close', () => {
    clearTimeout(timer);
    if (!up.closed) up.close(0x8);
  });

  if (hasBody) {
    pipeline(req, up, (err) => {
      if (err !== undefined && err !== null && !up.closed) up.close(0x8);
    });
  } else {
    req.resume();
  }
}

