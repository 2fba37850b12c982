/**
 * The pod's response headers as a client of pods/proxy or services/proxy receives them,
 * one rule set for both ways an answer is relayed (a header object for an ordinary
 * request, raw header pairs on an upgrade path):
 * - `Location` into the pod goes through the proxy path again;
 * - `Set-Cookie` is scoped under the proxy path (or dropped when it cannot be);
 * - `Referrer-Policy` is replaced by one that keeps confidential paths from the API
 *   server's pages (proxy-links.ts `referrerPolicy`).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { advertisesUpgrade, forwardableResponseHeaders, relayedResponseHead } from '../headers.ts';
import { type LinkContext, referrerPolicy, rewriteLink, scopeSetCookie } from './proxy-links.ts';

/**
 * A header value of the pod's answer (name lower-cased) as it goes to the client; undefined
 * drops it. `podPath` is the path the pod was asked for (a cookie's default path).
 */
function relayedValue(name: string, value: string, links: LinkContext, podPath: string): string | undefined {
  switch (name) {
    case 'location':
      return rewriteLink(value, links);
    case 'set-cookie':
      return scopeSetCookie(value, links.prefix, podPath);
    case 'referrer-policy':
      return undefined;
    default:
      return value;
  }
}

/**
 * The headers of the pod's answer to an ordinary request. `http1`: the client speaks
 * HTTP/1.1, so a 426 keeps its `Upgrade` (HTTP/2 has no such header).
 */
export function podResponseHeaders(status: number, headers: IncomingHttpHeaders, links: LinkContext, podPath: string, http1: boolean): OutgoingHttpHeaders {
  const out = forwardableResponseHeaders(headers, { keepUpgrade: http1 && advertisesUpgrade(status) });
  for (const [name, value] of Object.entries(out)) {
    if (typeof value === 'string') {
      const mapped = relayedValue(name, value, links, podPath);
      if (mapped === undefined) delete out[name];
      else out[name] = mapped;
    } else if (Array.isArray(value)) {
      out[name] = value.map((v) => relayedValue(name, v, links, podPath)).filter((v): v is string => v !== undefined);
    }
  }
  out['referrer-policy'] = referrerPolicy(headers['referrer-policy']);
  return out;
}

/** The head of the pod's answer on an upgrade path, as bytes: its 101, or any other answer before the connection closes. */
export function podUpgradeAnswerHead(status: number, reason: string, rawHeaders: readonly string[], headers: IncomingHttpHeaders, links: LinkContext, podPath: string): string {
  const switching = status === 101;
  return relayedResponseHead(status, reason, rawHeaders, {
    switching,
    mapValue: (name, value) => relayedValue(name, value, links, podPath),
    // A 101 has no document for a policy to govern.
    extra: switching ? [] : [['Referrer-Policy', referrerPolicy(headers['referrer-policy'])]],
  });
}
