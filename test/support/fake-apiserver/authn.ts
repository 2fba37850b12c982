/**
 * Authentication and impersonation the way kube-apiserver does them:
 *
 * - a client certificate that chains to the client CA wins (CN = user, O = groups);
 * - otherwise `Authorization: Bearer <token>` looked up in the configured token map (an
 *   unknown token is 401, like the token-file authenticator);
 * - nothing at all is 401 (anonymous auth is off, as on hardened clusters).
 *
 * Impersonation (apiserver `endpoints/filters/impersonation.go`): `Impersonate-User`,
 * repeated `Impersonate-Group`, `Impersonate-Uid`, repeated `Impersonate-Extra-<key>`
 * (key lower-cased and percent-decoded). Group, uid or extra without a user is refused.
 * Only configured impersonators may use it; others get 403 with the real wording.
 */
import { Errors } from './status.ts';
import type { CertificateIdentity, ConnectionInfo } from './listener.ts';

export interface UserInfo {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface TokenIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

export interface ImpersonationConfig {
  /** Users allowed to impersonate anyone. */
  readonly users: readonly string[];
  /** Members of these groups may impersonate anyone. */
  readonly groups: readonly string[];
}

export type AuthMethod = 'certificate' | 'token';

export interface Authenticated {
  readonly method: AuthMethod;
  /** Who presented the credential. */
  readonly user: UserInfo;
}

export interface ImpersonationRequest {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid: string | undefined;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

type HeaderValue = string | string[] | undefined;
type Headers = Readonly<Record<string, HeaderValue>>;

function values(v: HeaderValue): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Authenticates the caller or throws the 401 Status. Never returns the token. */
export function authenticate(headers: Headers, conn: ConnectionInfo, tokens: ReadonlyMap<string, TokenIdentity>): Authenticated {
  const cert: CertificateIdentity | null = conn.clientCertificate;
  if (cert !== null) {
    return { method: 'certificate', user: withAuthenticatedGroup({ user: cert.user, groups: cert.groups }) };
  }
  const auth = values(headers['authorization'])[0];
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const identity = m?.[1] === undefined ? undefined : tokens.get(m[1]);
    if (identity === undefined) throw Errors.unauthorized();
    return { method: 'token', user: withAuthenticatedGroup({ user: identity.user, groups: identity.groups }) };
  }
  throw Errors.unauthorized();
}

function withAuthenticatedGroup(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

/**
 * Reads the Impersonate-* headers from a header map built from `rawHeaders` (every
 * repeated header line a separate value: Node's joined `headers` would merge repeated
 * `Impersonate-Group` lines with ', ' and corrupt group names that contain commas).
 */
export function parseImpersonation(headers: Headers): ImpersonationRequest | null {
  const users = values(headers['impersonate-user']);
  const groups = values(headers['impersonate-group']);
  const uids = values(headers['impersonate-uid']);
  const extra: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(headers)) {
    if (!name.startsWith('impersonate-extra-')) continue;
    let key = name.slice('impersonate-extra-'.length).toLowerCase();
    try {
      key = decodeURIComponent(key);
    } catch {
      throw Errors.badRequest('invalid Impersonate-Extra header key');
    }
    (extra[key] ??= []).push(...values(v));
  }
  const hasExtra = Object.keys(extra).length > 0;
  if (users.length === 0) {
    if (groups.length > 0 || uids.length > 0 || hasExtra) {
      throw Errors.internal('requested impersonation of groups, uid or extra without impersonating a user');
    }
    return null;
  }
  if (users.length > 1 || uids.length > 1) throw Errors.badRequest('Impersonate-User and Impersonate-Uid may appear only once');
  return { user: users[0] ?? '', groups, uid: uids[0], extra };
}

function mayImpersonate(actor: UserInfo, config: ImpersonationConfig): boolean {
  return config.users.includes(actor.user) || actor.groups.some((g) => config.groups.includes(g));
}

/**
 * Returns the effective user, or throws 403 worded like kube-apiserver's impersonation
 * filter (the first refused attribute is named).
 */
export function impersonate(actor: UserInfo, request: ImpersonationRequest | null, config: ImpersonationConfig): UserInfo {
  if (request === null) return actor;
  if (!mayImpersonate(actor, config)) {
    throw Errors.forbidden(
      `users "${request.user}" is forbidden: User "${actor.user}" cannot impersonate resource "users" in API group "" at the cluster scope`,
      { name: request.user, kind: 'users' },
    );
  }
  const groups = [...request.groups];
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(request.user);
  if (sa !== null && request.groups.length === 0) {
    groups.push('system:serviceaccounts', `system:serviceaccounts:${sa[1] ?? ''}`);
  }
  if (request.user !== 'system:anonymous' && !groups.includes('system:authenticated')) groups.push('system:authenticated');
  return {
    user: request.user,
    groups,
    ...(request.uid === undefined ? {} : { uid: request.uid }),
    ...(Object.keys(request.extra).length === 0 ? {} : { extra: request.extra }),
  };
}
