/**
 * The proxy's own credential towards the upstream API server, from a kubeconfig file or
 * the in-cluster service account. In `forward-token` mode the proxy may have none.
 *
 * Bearer tokens rotate (bound service-account tokens, exec plugins), so they are re-read
 * on a short cache rather than captured once. Credentials are never logged.
 */
import type { RequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShadowplaneError } from '../errors.ts';
import type { Upstream } from '../config/manifest.ts';

export interface UpstreamTls {
  readonly ca: string | Buffer | undefined;
  readonly cert: string | Buffer | undefined;
  readonly key: string | Buffer | undefined;
  readonly servername: string | undefined;
}

export interface UpstreamCredentials {
  readonly tls: UpstreamTls;
  /** The proxy's own `Authorization` header value, or undefined when it authenticates by certificate or has no credential. */
  authorization(): Promise<string | undefined>;
}

const TOKEN_CACHE_MS = 30_000;

export async function loadUpstreamCredentials(upstream: Upstream, opts: { inClusterDir: string; now?: () => number }): Promise<UpstreamCredentials> {
  const now = opts.now ?? Date.now;
  const servername = upstream.tlsServerName;
  switch (upstream.credential.source) {
    case 'none':
      return { tls: { ca: upstream.certificateAuthority, cert: undefined, key: undefined, servername }, authorization: () => Promise.resolve(undefined) };

    case 'in-cluster': {
      const dir = opts.inClusterDir;
      const ca = upstream.certificateAuthority ?? (await readOrFail(join(dir, 'ca.crt'), 'in-cluster CA'));
      const tokenPath = join(dir, 'token');
      await readOrFail(tokenPath, 'in-cluster token');
      return {
        tls: { ca, cert: undefined, key: undefined, servername },
        authorization: cached(now, async () => `Bearer ${(await readOrFail(tokenPath, 'in-cluster token')).trim()}`),
      };
    }

    case 'kubeconfig': {
      const { path, context } = upstream.credential;
      // Loaded only for this credential source: the library costs ~90 MB of RSS, which an
      // in-cluster proxy (the deployed shape) does not need to pay.
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      try {
        kc.loadFromFile(path);
        if (context !== undefined) kc.setCurrentContext(context);
      } catch {
        throw new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `cannot load kubeconfig ${path}${context === undefined ? '' : ` context ${context}`}`);
      }
      if (kc.getCurrentUser() === null) throw new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `kubeconfig ${path} has no current user`);
      const apply = async (): Promise<RequestOptions> => {
        const o: RequestOptions = {};
        try {
          await kc.applyToHTTPSOptions(o);
        } catch {
          throw new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `cannot obtain a credential from kubeconfig ${path}`);
        }
        return o;
      };
      const first = await apply();
      const tls: UpstreamTls = {
        ca: upstream.certificateAuthority ?? asPem(first.ca),
        cert: asPem(first.cert),
        key: asPem(first.key),
        servername: servername ?? first.servername ?? undefined,
      };
      return {
        tls,
        authorization: cached(now, async () => {
          const headers = (await apply()).headers;
          const h = headers === undefined || Array.isArray(headers) ? undefined : (headers as Record<string, unknown>).Authorization;
          return typeof h === 'string' ? h : undefined;
        }),
      };
    }
  }
}

function asPem(v: unknown): string | Buffer | undefined {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return v;
  return undefined;
}

async function readOrFail(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `cannot read the ${what} at ${path}`);
  }
}

function cached(now: () => number, load: () => Promise<string | undefined>): () => Promise<string | undefined> {
  let value: string | undefined;
  let at = -Infinity;
  let pending: Promise<string | undefined> | undefined;
  return async () => {
    if (now() - at < TOKEN_CACHE_MS) return value;
    pending ??= load().then(
      (v) => {
        value = v;
        at = now();
        pending = undefined;
        return v;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}
