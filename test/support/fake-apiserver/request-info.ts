/**
 * Classifies a request path the way apiserver's `RequestInfoFactory` does, so that
 * authorization and routing speak Kubernetes attributes (verb, namespace, resource,
 * subresource, name) instead of URLs.
 */

export type ResourceVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceRequestInfo {
  readonly kind: 'resource';
  readonly verb: ResourceVerb;
  readonly apiGroup: string;
  readonly apiVersion: string;
  /** '' for cluster-scoped requests. */
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
  /** True when the legacy `/watch/` path prefix was used. */
  readonly watchPrefix: boolean;
}

export interface NonResourceRequestInfo {
  readonly kind: 'nonResource';
  readonly verb: string;
  readonly path: string;
}

export type RequestInfo = ResourceRequestInfo | NonResourceRequestInfo;

/** Subresources of a namespace object itself (not resources inside the namespace). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Go's strconv.ParseBool. */
export function parseBool(value: string | null): boolean | undefined {
  if (value === null) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

export function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const lower = method.toLowerCase();
  const nonResource: NonResourceRequestInfo = { kind: 'nonResource', verb: lower, path };
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    // A trailing slash ('/api/') is the only empty segment kube-apiserver tolerates.
    if (!(parts.length >= 1 && parts[parts.length - 1] === '' && parts.slice(0, -1).every((p) => p !== ''))) return nonResource;
    parts.pop();
  }
  let rest: string[];
  let apiGroup = '';
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    apiVersion = parts[1] ?? '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1] ?? '';
    apiVersion = parts[2] ?? '';
    rest = parts.slice(3);
  } else {
    return nonResource;
  }

  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1] ?? '';
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] ?? '')) rest = rest.slice(2);
  }
  const resource = rest[0] ?? '';
  const name = rest[1] ?? '';
  const subresource = rest[2] ?? '';
  if (resource === '' || rest.length > 3) return nonResource;

  let verb: ResourceVerb;
  switch (lower) {
    case 'post':
      verb = 'create';
      break;
    case 'put':
      verb = 'update';
      break;
    case 'patch':
      verb = 'patch';
      break;
    case 'delete':
      verb = name === '' ? 'deletecollection' : 'delete';
      break;
    default:
      verb = name === '' ? 'list' : 'get';
  }
  if ((lower === 'get' || lower === 'head') && (watchPrefix || parseBool(query.get('watch')) === true)) verb = 'watch';
  return { kind: 'resource', verb, apiGroup, apiVersion, namespace, resource, subresource, name, watchPrefix };
}
