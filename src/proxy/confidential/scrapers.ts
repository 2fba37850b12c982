/**
 * Metrics scrapers: the manifest's narrow credentials for a Prometheus or an autoscaler.
 *
 * A scraper authenticates with a client certificate (matched by public key, like users)
 * or a bearer token whose SHA-256 the manifest lists (compared in constant time, against
 * every entry, without an early exit). It may use only the metrics endpoints, for its
 * namespaces: `GET /api/v1/namespaces/NS/pods/POD[:PORT]/proxy/metrics` and
 * `GET /.well-known/shadowplane/federate` (and shadowplane's own metrics). Everything
 * else a scraper asks for is refused here; nothing of it passes through to the API server.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Manifest, ManifestScraper } from '../../config/manifest.ts';
import { isConfidentialNamespace, scraperByKey, scraperByToken, userMay } from '../../config/scope.ts';
import { spkiSha256Hex } from '../../tls/certificates.ts';
import type { Caller } from '../identity.ts';
import type { Route } from '../route.ts';

export interface ScraperCaller {
  readonly scraper: ManifestScraper;
}

/** Whoever may read metrics: a manifest user (with the `metrics` verb) or a scraper. */
export type MetricsCaller = Caller | ScraperCaller;

export function isScraper(caller: MetricsCaller): caller is ScraperCaller {
  return 'scraper' in caller;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;

/**
 * The scraper a request authenticates as, if any: first by the TLS client certificate's
 * key, then by a bearer token. Called only for requests that carry no user certificate.
 */
export function scraperOf(manifest: Manifest, socket: TLSSocket, headers: IncomingHttpHeaders): ScraperCaller | undefined {
  if (manifest.scrapers.length === 0) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (cert !== undefined) {
    const byKey = scraperByKey(manifest, spkiSha256Hex(cert.publicKey));
    if (byKey !== undefined) return { scraper: byKey };
  }
  const match = BEARER.exec(headers.authorization ?? '');
  if (match === null) return undefined;
  const found = scraperByToken(manifest, match[1]!);
  return found === undefined ? undefined : { scraper: found };
}

/** True when the route is one of the metrics endpoints a scraper may ask for. */
export function isScraperRoute(route: Route, method: string): boolean {
  if (method !== 'GET') return false;
  if (route.kind === 'shadowplane') return route.endpoint === 'federate' || route.endpoint === 'metrics';
  return route.kind === 'confidential' && route.op === 'pod-proxy' && route.subpath === '/metrics';
}

/** True when `caller` may read the scrubbed metrics of pods in `namespace`. */
export function mayReadMetrics(manifest: Manifest, caller: MetricsCaller, namespace: string): boolean {
  if (!isScraper(caller)) return userMay(manifest, caller.user, 'metrics', namespace);
  const ns = caller.scraper.namespaces;
  return ns.includes(namespace) || (ns.includes('*') && isConfidentialNamespace(manifest, namespace));
}

/**
 * Headers that authenticate the caller's own address lookups upstream: the user's bearer
 * token in forward-token mode, else nothing (the proxy's own credential is used). A
 * scraper's token is a shadowplane credential and never goes to the API server.
 */
export function upstreamAuthOf(manifest: Manifest, headers: IncomingHttpHeaders, caller: MetricsCaller): OutgoingHttpHeaders {
  const authorization = headers.authorization;
  return !isScraper(caller) && manifest.upstream.auth === 'forward-token' && authorization !== undefined ? { authorization } : {};
}

/** A name for logs and audit records: the user's or scraper's manifest name. */
export function callerName(caller: MetricsCaller): string {
  return isScraper(caller) ? `scraper:${caller.scraper.name}` : caller.user.name;
}
