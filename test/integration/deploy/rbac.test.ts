/**
 * The proxy's own RBAC, as shipped, against what its code reads with its own credential.
 *
 * A stand-in API server (real TLS, HTTP/2) authorizes every request with the ClusterRoles
 * that `kubectl kustomize overlays/sev-snp` binds to the proxy's service account, using
 * the API server's request-to-verb mapping (GET of a collection: list, with watch=1:
 * watch, of a named object: get), and answers 403 otherwise. The real pod directory and
 * services/proxy resolver then do what they do in the proxy: LIST+WATCH the pods of a
 * confidential namespace, GET a pod, GET a Service and LIST the pods it selects.
 */
import http2, { type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseManifestText } from '../../../src/config/manifest.ts';
import { silentLogger } from '../../../src/log.ts';
import { PodDirectory } from '../../../src/proxy/confidential/pod-directory.ts';
import { resolveService } from '../../../src/proxy/confidential/service-resolver.ts';
import { Upstream } from '../../../src/proxy/upstream.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { REPO } from '../../support/bed.ts';
import { DEPLOY, kustomize, type Obj } from './support/kustomize.ts';

const PROXY_ACCOUNT = 'system:serviceaccount:shadowplane:shadowplane-proxy';
const TOKEN = 'proxy-token-for-the-rbac-test';
const NS = 'payments';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The rules of every ClusterRole a ClusterRoleBinding gives the proxy's service account. */
function proxyRules(objs: readonly Obj[]): Rule[] {
  type Binding = { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace?: string }[] };
  const bound = (objs.filter((o) => o.kind === 'ClusterRoleBinding') as unknown as Binding[])
    .filter((b) => b.roleRef.kind === 'ClusterRole' && b.subjects.some((s) => s.kind === 'ServiceAccount' && `system:serviceaccount:${s.namespace}:${s.name}` === PROXY_ACCOUNT))
    .map((b) => b.roleRef.name);
  return objs.filter((o) => o.kind === 'ClusterRole' && bound.includes(o.metadata.name)).flatMap((o) => (o as unknown as { rules: Rule[] }).rules);
}

interface Seen {
  verb: string;
  resource: string;
  namespace: string;
  name: string;
  allowed: boolean;
}

/** kube-apiserver's RequestInfo for the core-group paths the proxy uses; anything else is unknown (and denied). */
function requestInfo(method: string, target: string): Omit<Seen, 'allowed'> | undefined {
  const url = new URL(target, 'https://x');
  const m = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/([a-z]+)(?:\/([a-z0-9.-]+))?$/.exec(url.pathname);
  if (method !== 'GET' || m === null) return undefined;
  const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
  const verb = watch ? 'watch' : m[3] === undefined ? 'list' : 'get';
  return { verb, resource: m[2]!, namespace: m[1]!, name: m[3] ?? '' };
}

function allows(rules: readonly Rule[], r: Omit<Seen, 'allowed'>): boolean {
  const has = (list: readonly string[], v: string): boolean => list.includes('*') || list.includes(v);
  return rules.some((rule) => has(rule.apiGroups, '') && has(rule.resources, r.resource) && has(rule.verbs, r.verb) && (rule.resourceNames === undefined || (r.name !== '' && rule.resourceNames.includes(r.name))));
}

const POD = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: 'api-0', namespace: NS, labels: { app: 'web' }, resourceVersion: '7' },
  spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: '10.0.0.7', conditions: [{ type: 'Ready', status: 'True' }] },
};
const SERVICE = { kind: 'Service', apiVersion: 'v1', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } };

interface StandIn {
  readonly url: string;
  readonly caPem: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

async function startRbacApiServer(rules: readonly Rule[]): Promise<StandIn> {
  const cert = await createSelfSigned({ commonName: 'rbac-stand-in', ipAddresses: ['127.0.0.1'], validityMs: 3_600_000, usage: 'server' });
  const seen: Seen[] = [];
  const open = new Set<ServerHttp2Stream>();
  const server: Http2SecureServer = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem });
  const json = (stream: ServerHttp2Stream, status: number, body: unknown): void => {
    stream.respond({ ':status': status, 'content-type': 'application/json' });
    stream.end(JSON.stringify(body));
  };
  server.on('stream', (stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    if (headers.authorization !== `Bearer ${TOKEN}`) return json(stream, 401, { kind: 'Status', code: 401, reason: 'Unauthorized' });
    const info = requestInfo(String(headers[':method']), String(headers[':path']));
    const allowed = info !== undefined && allows(rules, info);
    seen.push({ ...(info ?? { verb: String(headers[':method']), resource: String(headers[':path']), namespace: '', name: '' }), allowed });
    if (info === undefined || !allowed) {
      return json(stream, 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: `User "${PROXY_ACCOUNT}" cannot ${info?.verb ?? 'request'} resource "${info?.resource ?? '?'}"` });
    }
    const selector = new URL(String(headers[':path']), 'https://x').searchParams.get('labelSelector');
    if (info.namespace !== NS) return json(stream, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
    if (info.resource === 'services' && info.verb === 'get') return info.name === 'web' ? json(stream, 200, SERVICE) : json(stream, 404, { kind: 'Status', code: 404 });
    if (info.resource === 'pods' && info.verb === 'get') return info.name === 'api-0' ? json(stream, 200, POD) : json(stream, 404, { kind: 'Status', code: 404 });
    if (info.resource === 'pods' && info.verb === 'list') {
      const items = selector === null || selector === 'app=web' ? [POD] : [];
      return json(stream, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items });
    }
    if (info.resource === 'pods' && info.verb === 'watch') {
      // Held open, as a watch is, until the test ends.
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      open.add(stream);
      stream.on('close', () => open.delete(stream));
      return undefined;
    }
    return json(stream, 405, { kind: 'Status', code: 405 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caPem: cert.certPem,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.close();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the proxy\'s shipped RBAC', () => {
  // Bug (docs-vs-deployment review): base/rbac.yaml granted only pods get/list/watch, but
  // services/proxy GETs the Service with the proxy's own service account, so every
  // services/proxy request of a confidential pod failed with SP_FORBIDDEN.
  it('lets the proxy find pods and resolve services/proxy with its own credential, and grants no right the code does not use', async () => {
    const rules = proxyRules(kustomize('overlays/sev-snp'));
    const api = await startRbacApiServer(rules);
    cleanups.push(() => api.close());
    const manifest = parseManifestText(readFileSync(join(DEPLOY, 'kustomize/base/manifest.yaml'), 'utf8'), 'manifest.yaml');
    const logger = silentLogger();
    const upstream = new Upstream({
      server: api.url,
      credentials: { tls: { ca: api.caPem, cert: undefined, key: undefined, servername: undefined }, authorization: () => Promise.resolve(`Bearer ${TOKEN}`) },
      logger,
    });
    cleanups.push(() => upstream.close());
    // As src/proxy/confidential/stack.ts builds it for an in-cluster credential.
    const ownAuth = async (): Promise<{ authorization?: string }> => {
      const authorization = await upstream.credentials.authorization();
      return authorization === undefined ? {} : { authorization };
    };
    const pods = new PodDirectory({ upstream, namespaces: manifest.confidential.map((c) => c.namespace), ownAuth, logger });
    cleanups.push(() => pods.close());

    // The LIST+WATCH it keeps per confidential namespace.
    for (let i = 0; i < 100 && !api.seen.some((s) => s.verb === 'watch'); i++) await new Promise((r) => setTimeout(r, 20));
    // A pod lookup that skips the cache (after a failed dial): a GET.
    expect(await pods.lookup(NS, 'api-0', {}, true)).toBe('10.0.0.7');
    // services/proxy: the Service, then the pods it selects.
    const candidates = await resolveService({ manifest, upstream, pods, ownAuth }, NS, 'web', undefined, {});
    expect(candidates.map((c) => ({ pod: c.pod.name, ip: c.pod.ip, port: c.port }))).toEqual([{ pod: 'api-0', ip: '10.0.0.7', port: 8080 }]);

    expect(api.seen.filter((s) => !s.allowed)).toEqual([]);
    const used = new Set(api.seen.map((s) => `${s.resource}:${s.verb}`));
    const granted = new Set(rules.filter((r) => r.apiGroups.includes('')).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${res}:${v}`))).filter((p) => !p.endsWith(':impersonate')));
    expect(used).toEqual(new Set(['pods:list', 'pods:watch', 'pods:get', 'services:get']));
    expect(granted).toEqual(used);
  });

  it('is checked against every resource the proxy\'s confidential code reads from the API server', () => {
    // The own-credential lookups live in src/proxy/confidential/; each names its path as a
    // template literal. A new resource there needs a rule in base/rbac.yaml and a case above.
    const dir = join(REPO, 'src/proxy/confidential');
    const resources = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/['"`]\/apis\//);
      for (const m of text.matchAll(/\/api\/v1\/namespaces\/\$\{[^}]*\}\/([a-z]+)/g)) resources.add(m[1]!);
    }
    expect(resources).toEqual(new Set(['pods', 'services']));
  });
});
