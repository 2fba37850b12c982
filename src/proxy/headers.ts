/**
 * Header hygiene at the trust boundary between the client and the upstream API server.
 *
 * Hop-by-hop headers (RFC 9110 §7.6.1, plus every name listed in `Connection`) belong to
 * one connection and are never forwarded. HTTP/2 pseudo-headers are rebuilt, not copied.
 * `Impersonate-*` never gets here from a client: the router refuses such requests.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

/** Names listed in the Connection header(s), lower-cased. */
function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const value: string | string[] | undefined = headers.connection;
  const listed = new Set<string>();
  const values: string[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
  for (const v of values) {
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') listed.add(t);
    }
  }
  return listed;
}

/**
 * Request headers to send upstream over HTTP/2: without hop-by-hop headers, pseudo
 * headers, the caller's credentials (the caller decides what to add back) and anything
 * the connection header lists.
 */
export function forwardableRequestHeaders(headers: IncomingHttpHeaders, opts: { keepAuthorization: boolean }): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (name === 'authorization' && !opts.keepAuthorization) continue;
    if (name.startsWith('impersonate-')) continue;
    out[name] = value;
  }
  return out;
}

/** Response headers to send back to the client (HTTP/1.1 or HTTP/2). */
export function forwardableResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Raw header pairs for an HTTP/1.1 upgrade request sent upstream: hop-by-hop headers are
 * dropped except `Connection: Upgrade` and `Upgrade`, which the upgrade needs; repeated
 * headers (X-Stream-Protocol-Version) keep their order.
 */
export function forwardableUpgradeRawHeaders(rawHeaders: readonly string[], opts: { keepAuthorization: boolean }): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') continue;
    if (HOP_BY_HOP.has(lower) || lower.startsWith('impersonate-')) continue;
    if (lower === 'authorization' && !opts.keepAuthorization) continue;
    out.push([name, rawHeaders[i + 1]!]);
  }
  return out;
}

/** Total size of a header set as it appeared on the wire (names + values), for limits. */
export function rawHeaderBytes(rawHeaders: readonly string[]): number {
  let n = 0;
  for (const h of rawHeaders) n += h.length + 2;
  return n;
}
