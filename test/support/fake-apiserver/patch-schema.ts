/**
 * The strategic-merge metadata (`patchStrategy` / `patchMergeKey` struct tags of
 * k8s.io/api core/v1) for the fields of the kinds the stand-in serves. Lists not listed
 * here are atomic: a patch replaces them whole, as for a list without a patch strategy.
 *
 * Paths use `[]` for "any element of this list", e.g. `spec.containers[].ports`.
 */

export interface ListStrategy {
  /** Merge key of a list of objects; absent for a merged list of primitives. */
  readonly mergeKey?: string;
  /** `merge,retainKeys` lists honour `$retainKeys` inside their elements. */
  readonly retainKeys?: boolean;
}

const CONTAINER_LISTS: Record<string, ListStrategy> = {
  ports: { mergeKey: 'containerPort' },
  env: { mergeKey: 'name' },
  volumeMounts: { mergeKey: 'mountPath' },
  volumeDevices: { mergeKey: 'devicePath' },
};

function containerEntries(prefix: string): Array<[string, ListStrategy]> {
  return [[prefix, { mergeKey: 'name' }], ...Object.entries(CONTAINER_LISTS).map(([k, v]): [string, ListStrategy] => [`${prefix}[].${k}`, v])];
}

const COMMON: Array<[string, ListStrategy]> = [
  ['metadata.finalizers', {}],
  ['metadata.ownerReferences', { mergeKey: 'uid' }],
];

const POD: ReadonlyMap<string, ListStrategy> = new Map<string, ListStrategy>([
  ...COMMON,
  ...containerEntries('spec.containers'),
  ...containerEntries('spec.initContainers'),
  ...containerEntries('spec.ephemeralContainers'),
  ['spec.volumes', { mergeKey: 'name', retainKeys: true }],
  ['spec.imagePullSecrets', { mergeKey: 'name' }],
  ['spec.hostAliases', { mergeKey: 'ip' }],
  ['spec.topologySpreadConstraints', { mergeKey: 'topologyKey' }],
  ['spec.schedulingGates', { mergeKey: 'name' }],
  ['spec.resourceClaims', { mergeKey: 'name', retainKeys: true }],
  ['status.conditions', { mergeKey: 'type' }],
  ['status.podIPs', { mergeKey: 'ip' }],
  ['status.hostIPs', { mergeKey: 'ip' }],
]);

const NAMESPACE: ReadonlyMap<string, ListStrategy> = new Map<string, ListStrategy>([...COMMON, ['status.conditions', { mergeKey: 'type' }]]);

const GENERIC: ReadonlyMap<string, ListStrategy> = new Map<string, ListStrategy>(COMMON);

export type PatchSchema = ReadonlyMap<string, ListStrategy>;

export function patchSchemaFor(kind: string): PatchSchema {
  if (kind === 'Pod') return POD;
  if (kind === 'Namespace') return NAMESPACE;
  return GENERIC;
}

/** The schema path of a field: names joined with '.', list elements as '[]'. */
export function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

export function elementPath(listPath: string): string {
  return `${listPath}[]`;
}
