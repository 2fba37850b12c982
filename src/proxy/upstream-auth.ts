/**
 * How a request authenticates upstream.
 *
 * - `impersonate`: the proxy's own credential plus Impersonate-User / Impersonate-Group of
 *   the manifest user. The caller's own Authorization header is not forwarded.
 * - `forward-token`: the caller's Authorization header (the upstream token from the
 *   dedicated kubeconfig) goes upstream unchanged. It is never logged.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Caller } from './identity.ts';
import type { UpstreamCredentials } from './upstream-credentials.ts';
import type { UpstreamAuthMode } from '../config/manifest.ts';

export type { UpstreamAuthMode };

export async function upstreamAuthHeaders(caller: Caller, mode: UpstreamAuthMode, credentials: UpstreamCredentials): Promise<OutgoingHttpHeaders> {
  if (mode === 'forward-token') return {};
  const authorization = await credentials.authorization();
  const headers: OutgoingHttpHeaders = { 'impersonate-user': caller.user.name };
  if (caller.user.groups.length > 0) headers['impersonate-group'] = [...caller.user.groups];
  if (authorization !== undefined) headers.authorization = authorization;
  return headers;
}

/** The same, as raw header pairs for an HTTP/1.1 upgrade request. */
export async function upstreamAuthRawHeaders(caller: Caller, mode: UpstreamAuthMode, credentials: UpstreamCredentials): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(await upstreamAuthHeaders(caller, mode, credentials))) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
  }
  return out;
}
