/**
 * Routing: one pure function from a request to what shadowplane does with it.
 *
 * Invariant: the decision uses only the request (method, path, headers) and the manifest.
 * Whether a pod is confidential is never learned from the API server. A path that could
 * reach a confidential pod through the API server by any spelling (percent-encoding,
 * dot segments, doubled slashes, the `name:port` proxy syntax, the kubelet's own API via
 * nodes/proxy) is either served here or refused; it never passes through.
 */
import type { ErrorCode } from '../errors.ts';
import type { Manifest } from '../config/manifest.ts';
import { isConfidentialNamespace, isConfidentialPod } from '../config/scope.ts';

export type ConfidentialOp = 'exec' | 'attach' | 'portforward' | 'log' | 'pod-proxy' | 'service-proxy';
export type ShadowplaneEndpoint = 'attest' | 'audit' | 'metrics' | 'federate' | 'healthz';

export type Route =
  | { readonly kind: 'passthrough' }
  | { readonly kind: 'shadowplane'; readonly endpoint: ShadowplaneEndpoint }
  | {
      readonly kind: 'confidential';
      readonly op: ConfidentialOp;
      readonly namespace: string;
      /** Pod name (or service name for service-proxy). */
      readonly name: string;
      /** For proxy subresources: the `[scheme:]name:port` port part, if given. */
      readonly port: string | undefined;
      readonly scheme: string | undefined;
      /** For proxy subresources: the decoded path after `/proxy` ('' or starting with '/'). */
      readonly subpath: string;
    }
  | { readonly kind: 'deny'; readonly code: ErrorCode; readonly detail: string };

export interface RouteRequest {
  readonly method: string;
  /** The request target as received (path and optional query), not decoded. */
  readonly url: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

const SHADOWPLANE_PREFIX = '/.well-known/shadowplane/';
const ENDPOINTS: readonly ShadowplaneEndpoint[] = ['attest', 'audit', 'metrics', 'federate', 'healthz'];
const POD_SUBRESOURCES: Readonly<Record<string, ConfidentialOp>> = {
  exec: 'exec',
  attach: 'attach',
  portforward: 'portforward',
  log: 'log',
  proxy: 'pod-proxy',
};
/** kubelet API paths (reached through nodes/NAME/proxy) that carry a pod's streams or logs. */
const KUBELET_POD_PATHS = new Set(['exec', 'attach', 'portForward', 'containerLogs', 'run', 'checkpoint']);

const PASSTHROUGH: Route = Object.freeze({ kind: 'passthrough' });

export function route(req: RouteRequest, manifest: Manifest): Route {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('impersonate-')) {
      return deny('SP_IMPERSONATION_REFUSED', 'Impersonate-* headers are set by shadowplane, not by clients');
    }
  }

  const q = req.url.indexOf('?');
  const rawPath = q === -1 ? req.url : req.url.slice(0, q);
  if (!rawPath.startsWith('/')) return deny('SP_PATH_NOT_CANONICAL', 'the path must start with "/"');

  const segments = decodeSegments(rawPath);
  if (segments === undefined) return deny('SP_PATH_NOT_CANONICAL', 'the path has empty, dot or encoded-slash segments');

  if (rawPath.startsWith(SHADOWPLANE_PREFIX)) {
    const endpoint = segments[2];
    if (segments.length === 3 && ENDPOINTS.includes(endpoint as ShadowplaneEndpoint)) {
      return { kind: 'shadowplane', endpoint: endpoint as ShadowplaneEndpoint };
    }
    return deny('SP_BAD_REQUEST', 'unknown shadowplane endpoint');
  }

  const routed = segments[0] !== 'api' || segments[1] !== 'v1' ? PASSTHROUGH : routeCoreV1(segments.slice(2), manifest);
  if (routed.kind === 'passthrough' && fromConfidentialPage(req.headers.referer, manifest)) {
    return deny('SP_CONFIDENTIAL_FORBIDDEN_ROUTE', "a request from a confidential pod's page would go to the API server");
  }
  return routed;
}

/**
 * Whether a `Referer` names a page served through a confidential pods/proxy or
 * services/proxy path. A browser (through `kubectl proxy`) that follows a link the
 * rewriter did not see (script, CSS, a character reference) asks the proxy's origin for
 * a path outside the pod's prefix; passed through, its path and query would reach the
 * API server. Such requests are refused instead. (The proxied answers ask browsers to
 * send `Referer` within the origin: proxy-links.ts `referrerPolicy`.)
 */
function fromConfidentialPage(referer: string | readonly string[] | undefined, manifest: Manifest): boolean {
  if (typeof referer !== 'string') return false;
  let path: string;
  try {
    path = new URL(referer).pathname;
  } catch {
    return false;
  }
  const from = route({ method: 'GET', url: path, headers: {} }, manifest);
  return from.kind === 'confidential' && (from.op === 'pod-proxy' || from.op === 'service-proxy');
}

function routeCoreV1(s: readonly string[], manifest: Manifest): Route {
  // Legacy proxy and redirect verbs (/api/v1/proxy/namespaces/NS/pods/NAME/...): long gone
  // from the API server, refused outright for confidential namespaces in case one serves them.
  if ((s[0] === 'proxy' || s[0] === 'redirect') && s[1] === 'namespaces' && s[2] !== undefined && isConfidentialNamespace(manifest, s[2])) {
    return deny('SP_CONFIDENTIAL_FORBIDDEN_ROUTE', 'legacy proxy paths are refused for confidential namespaces');
  }

  if (s[0] === 'nodes' && s[2] === 'proxy') return routeNodeProxy(s.slice(3), manifest);

  if (s[0] !== 'namespaces' || s[1] === undefined || s[3] === undefined) return PASSTHROUGH;
  const namespace = s[1];
  const resource = s[2];

  if (resource === 'services' && s[4] === 'proxy' && isConfidentialNamespace(manifest, namespace)) {
    const target = parseProxyTarget(s[3]);
    if (target === undefined || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(target.name)) return deny('SP_BAD_REQUEST', 'malformed service proxy target');
    return confidential('service-proxy', namespace, target, s.slice(5));
  }

  if (resource !== 'pods') return PASSTHROUGH;
  const sub = s[4];
  if (sub === undefined) return PASSTHROUGH;
  const target = parseProxyTarget(s[3]);
  if (target === undefined) return deny('SP_BAD_REQUEST', 'malformed pod name');
  if (!isConfidentialPod(manifest, namespace, target.name)) return PASSTHROUGH;
  // No such pod can exist; bounded before it reaches a log, an audit record or a lookup.
  if (!DNS_LABEL.test(namespace) || target.name.length > 253 || !DNS_SUBDOMAIN.test(target.name)) return deny('SP_BAD_REQUEST', 'malformed pod name');

  const op = POD_SUBRESOURCES[sub];
  if (op !== undefined) {
    if (op !== 'pod-proxy' && (s.length > 5 || target.port !== undefined)) {
      return deny('SP_BAD_REQUEST', `unexpected path after ${sub}`);
    }
    return confidential(op, namespace, target, op === 'pod-proxy' ? s.slice(5) : []);
  }
  if (sub === 'ephemeralcontainers') {
    return deny('SP_CONFIDENTIAL_FORBIDDEN_ROUTE', 'ephemeral containers would run outside the attested pod policy');
  }
  return PASSTHROUGH;
}

/**
 * nodes/NAME/proxy/<kubelet path>: the kubelet's own API. Its exec/attach/portForward/
 * containerLogs/run endpoints take the namespace as the next segment.
 */
function routeNodeProxy(rest: readonly string[], manifest: Manifest): Route {
  const [kubeletPath, namespace] = rest;
  if (kubeletPath !== undefined && KUBELET_POD_PATHS.has(kubeletPath) && namespace !== undefined && isConfidentialNamespace(manifest, namespace)) {
    return deny('SP_CONFIDENTIAL_FORBIDDEN_ROUTE', 'the kubelet API is refused for confidential namespaces');
  }
  return PASSTHROUGH;
}

function confidential(
  op: ConfidentialOp,
  namespace: string,
  target: { name: string; port: string | undefined; scheme: string | undefined },
  subpath: readonly string[],
): Route {
  return {
    kind: 'confidential',
    op,
    namespace,
    name: target.name,
    port: target.port,
    scheme: target.scheme,
    subpath: subpath.length === 0 ? '' : `/${subpath.join('/')}`,
  };
}

/** `name`, `name:port` or `scheme:name:port` (the API server's proxy target syntax). */
/** Kubernetes object names: namespaces and services are DNS labels, pods DNS subdomains (checked for length apart). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function parseProxyTarget(segment: string): { name: string; port: string | undefined; scheme: string | undefined } | undefined {
  const parts = segment.split(':');
  if (parts.length === 1) return { name: segment, port: undefined, scheme: undefined };
  if (parts.length === 2) return parts[0] === '' ? undefined : { name: parts[0]!, port: parts[1] || undefined, scheme: undefined };
  if (parts.length === 3) return parts[1] === '' ? undefined : { scheme: parts[0] || undefined, name: parts[1]!, port: parts[2] || undefined };
  return undefined;
}

/**
 * Splits a raw path into decoded segments the way the API server will read it, or
 * returns undefined for a path whose reading is ambiguous: empty segments (`//`), `.` and
 * `..` in any spelling, an encoded `/` or NUL, or invalid percent-encoding. One trailing
 * slash is tolerated and ignored.
 */
function decodeSegments(rawPath: string): string[] | undefined {
  const parts = rawPath.slice(1).split('/');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '') return [];
  const out: string[] = [];
  for (const part of parts) {
    let seg: string;
    try {
      seg = part.includes('%') ? decodeURIComponent(part) : part;
    } catch {
      return undefined;
    }
    if (seg === '' || seg === '.' || seg === '..' || seg.includes('/') || seg.includes('\0')) return undefined;
    out.push(seg);
  }
  return out;
}

function deny(code: ErrorCode, detail: string): Route {
  return { kind: 'deny', code, detail };
}
