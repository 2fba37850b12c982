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
  return listedIn(headers.connection);
}

function listedIn(value: string | string[] | undefined): Set<string> {
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

/**
 * Response headers to send back to the client (HTTP/1.1 or HTTP/2). `keepUpgrade`: keep
 * `Upgrade` (a 426 to an HTTP/1.1 client, see `advertisesUpgrade`; HTTP/2 forbids it).
 */
export function forwardableResponseHeaders(headers: IncomingHttpHeaders, opts: { keepUpgrade?: boolean } = {}): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    if (name === 'upgrade' && opts.keepUpgrade === true) {
      out.upgrade = headers.upgrade;
      continue;
    }
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
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
  const listed = rawConnectionListed(rawHeaders);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') continue;
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || lower.startsWith('impersonate-')) continue;
    if (lower === 'authorization' && !opts.keepAuthorization) continue;
    out.push([name, rawHeaders[i + 1]!]);
  }
  return out;
}

/** Names listed in the Connection headers of raw header pairs, lower-cased. */
function rawConnectionListed(rawHeaders: readonly string[]): Set<string> {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'connection') values.push(rawHeaders[i + 1]!);
  return listedIn(values);
}

/**
 * Whether an answer keeps its `Upgrade` header although it does not switch: a 426
 * (Upgrade Required) must name the protocols it wants there (RFC 9110 §15.5.22), and the
 * API server's upgrade-aware proxy relays it as it came.
 */
export function advertisesUpgrade(status: number | undefined): boolean {
  return status === 426;
}

/**
 * Raw header pairs of an HTTP/1.1 response head relayed on an upgrade path, in their
 * order: without hop-by-hop headers and the names `Connection` lists. A 101 keeps its
 * `Connection` and `Upgrade`, which the switch needs, and a 426 its `Upgrade`; any other
 * answer (`switching` false) also loses its framing (`Content-Length`): its body is
 * relayed as it arrives and the connection closed.
 */
export function relayableResponseRawHeaders(rawHeaders: readonly string[], opts: { switching: boolean; status?: number }): [string, string][] {
  const listed = rawConnectionListed(rawHeaders);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    const needed = opts.switching ? lower === 'connection' || lower === 'upgrade' : lower === 'upgrade' && advertisesUpgrade(opts.status);
    if (needed) {
      out.push([name, rawHeaders[i + 1]!]);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (listed.has(lower) && lower !== 'upgrade') || lower === 'content-length') continue;
    out.push([name, rawHeaders[i + 1]!]);
  }
  return out;
}

/**
 * An HTTP/1.1 response head relayed on an upgrade path, as bytes: the status line (the
 * reason without CR/LF), the relayable headers in their order (see above), each value
 * passed through `mapValue` (which may drop a header by answering undefined), `extra`
 * headers, and `Connection: close` when not switching.
 */
export function relayedResponseHead(
  status: number,
  reason: string,
  rawHeaders: readonly string[],
  opts: { switching: boolean; mapValue?: (lowerName: string, value: string) => string | undefined; extra?: readonly [string, string][] },
): string {
  let out = `HTTP/1.1 ${status} ${reason.replace(/[\r\n]/g, '')}\r\n`;
  for (const [name, value] of relayableResponseRawHeaders(rawHeaders, { switching: opts.switching, status })) {
    const mapped = opts.mapValue === undefined ? value : opts.mapValue(name.toLowerCase(), value);
    if (mapped !== undefined) out += `${name}: ${mapped}\r\n`;
  }
  for (const [name, value] of opts.extra ?? []) out += `${name}: ${value}\r\n`;
  if (!opts.switching) out += 'Connection: close\r\n';
  return `${out}\r\n`;
}

/** Total size of a header set as it appeared on the wire (names + values), for limits. */
export function rawHeaderBytes(rawHeaders: readonly string[]): number {
  let n = 0;
  for (const h of rawHeaders) n += h.length + 2;
  return n;
}
