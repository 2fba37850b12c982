/**
 * Discovery documents: `/version`, `/api`, `/apis`, `/api/v1`, in the legacy shapes
 * (APIVersions, APIGroupList, APIResourceList) and in the aggregated shape
 * (APIGroupDiscoveryList, `apidiscovery.k8s.io/v2` and `v2beta1`) that client-go 1.27+
 * asks for first and recognises only by the response Content-Type
 * (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
 */
import { createHash } from 'node:crypto';
import type { ResourceType } from './resource-type.ts';

export interface ServerVersion {
  readonly major: string;
  readonly minor: string;
  readonly gitVersion: string;
}

export function parseServerVersion(gitVersion: string): ServerVersion {
  const m = /^v(\d+)\.(\d+)\./.exec(gitVersion);
  if (m === null) throw new RangeError('server version must look like v1.30.0');
  return { major: m[1] ?? '1', minor: m[2] ?? '0', gitVersion };
}

export function versionJson(v: ServerVersion): string {
  return JSON.stringify(
    {
      major: v.major,
      minor: v.minor,
      gitVersion: v.gitVersion,
      gitCommit: createHash('sha1').update(v.gitVersion).digest('hex'),
      gitTreeState: 'clean',
      buildDate: '2025-01-01T00:00:00Z',
      goVersion: 'go1.23.4',
      compiler: 'gc',
      platform: 'linux/amd64',
    },
    null,
    2,
  );
}

export function apiVersionsJson(serverAddress: string): string {
  return JSON.stringify({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] });
}

export function apiGroupListJson(): string {
  return JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
}

function storageVersionHash(type: ResourceType): string {
  return createHash('sha256').update(`v1/${type.kind}`).digest().subarray(0, 8).toString('base64');
}

export function apiResourceListJson(types: readonly ResourceType[]): string {
  const resources: unknown[] = [];
  for (const t of types) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
      ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length > 0 ? { categories: t.categories } : {}),
      storageVersionHash: storageVersionHash(t),
    });
    for (const s of t.subresources) {
      resources.push({ name: `${t.resource}/${s.name}`, singularName: '', namespaced: t.namespaced, kind: s.kind, verbs: s.verbs });
    }
  }
  return JSON.stringify({ kind: 'APIResourceList', groupVersion: 'v1', resources });
}

export function aggregatedContentType(version: 'v2' | 'v2beta1'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/** `/api` (core group) or `/apis` (no other groups are served) as APIGroupDiscoveryList. */
export function aggregatedJson(version: 'v2' | 'v2beta1', types: readonly ResourceType[] | null): string {
  const items =
    types === null
      ? []
      : [
          {
            metadata: { creationTimestamp: null },
            versions: [
              {
                version: 'v1',
                resources: types.map((t) => ({
                  resource: t.resource,
                  responseKind: { group: '', version: 'v1', kind: t.kind },
                  scope: t.namespaced ? 'Namespaced' : 'Cluster',
                  singularResource: t.singular,
                  verbs: t.verbs,
                  ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
                  ...(t.categories.length > 0 ? { categories: t.categories } : {}),
                  subresources: t.subresources.map((s) => ({ subresource: s.name, responseKind: { group: '', version: 'v1', kind: s.kind }, verbs: s.verbs })),
                })),
                freshness: 'Current',
              },
            ],
          },
        ];
  return JSON.stringify({ kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items });
}
