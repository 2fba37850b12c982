/**
 * A small stand-in for RBAC: per-user allow rules. A user without rules may do anything
 * (the default); a user with rules may do only what one of them allows, and gets the API
 * server's 403 wording otherwise. Discovery, version and OpenAPI paths are open to every
 * authenticated user, as `system:discovery` makes them.
 */
import type { UserInfo } from './authn.ts';
import type { RequestInfo } from './request-info.ts';
import { Errors } from './status.ts';

export interface AllowRule {
  /** Verbs ('get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection') or '*'. */
  readonly verbs: readonly string[];
  /** Resources, with subresources as 'pods/exec'; '*' for all. */
  readonly resources?: readonly string[];
  /** Namespaces the rule applies in; absent for all (and cluster scope). */
  readonly namespaces?: readonly string[];
  /** Non-resource paths; a trailing '*' matches a prefix. */
  readonly nonResourceURLs?: readonly string[];
}

export type AuthorizationRules = Readonly<Record<string, readonly AllowRule[]>>;

const DISCOVERY = /^\/(api|apis|version|openapi|healthz|livez|readyz)(\/|$)/;

function matches(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && list.some((x) => x === '*' || x === value || (x.endsWith('*') && value.startsWith(x.slice(0, -1))));
}

export function allowed(user: UserInfo, info: RequestInfo, rules: AuthorizationRules): boolean {
  const own = rules[user.user];
  if (own === undefined) return true;
  if (info.kind === 'nonResource') {
    if (DISCOVERY.test(info.path)) return true;
    return own.some((r) => matches(r.verbs, info.verb) && matches(r.nonResourceURLs, info.path));
  }
  const resource = info.subresource === '' ? info.resource : `${info.resource}/${info.subresource}`;
  return own.some(
    (r) => matches(r.verbs, info.verb) && matches(r.resources, resource) && (r.namespaces === undefined || r.namespaces.includes(info.namespace)),
  );
}

/** Throws kube-apiserver's 403 Status when `user` may not make this request. */
export function authorize(user: UserInfo, info: RequestInfo, rules: AuthorizationRules): void {
  if (allowed(user, info, rules)) return;
  if (info.kind === 'nonResource') {
    throw Errors.forbidden(`forbidden: User "${user.user}" cannot ${info.verb} path "${info.path}"`);
  }
  const resource = info.subresource === '' ? info.resource : `${info.resource}/${info.subresource}`;
  const subject = info.name === '' ? info.resource : `${info.resource} "${info.name}"`;
  const scope = info.namespace === '' ? 'at the cluster scope' : `in the namespace "${info.namespace}"`;
  throw Errors.forbidden(`${subject} is forbidden: User "${user.user}" cannot ${info.verb} resource "${resource}" in API group "${info.apiGroup}" ${scope}`, {
    ...(info.name === '' ? {} : { name: info.name }),
    kind: info.resource,
  });
}
