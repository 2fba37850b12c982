/**
 * The Namespace resource: the `kubernetes` finalizer, phase Active, the
 * `kubernetes.io/metadata.name` label the API server adds, and the NAME STATUS AGE
 * columns of `kubectl get ns`.
 */
import { age } from './age.ts';
import { isObject } from './json.ts';
import { patchSchemaFor } from './patch-schema.ts';
import { metadataFields, validateName, type ResourceType } from './resource-type.ts';
import type { JsonObject } from './store.ts';

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const namespaceType: ResourceType = {
  resource: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  shortNames: ['ns'],
  categories: [],
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: [
    { name: 'finalize', kind: 'Namespace', verbs: ['update'] },
    { name: 'status', kind: 'Namespace', verbs: ['get', 'patch', 'update'] },
  ],
  patchSchema: patchSchemaFor('Namespace'),
  fields: metadataFields([['status.phase', (o) => str(obj(obj(o)['status'])['phase'])]]),
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Status', type: 'string', format: '', description: 'The status of the namespace', priority: 0 },
    { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  cells(ns, nowMs) {
    return [str(ns.metadata.name), str(obj(ns['status'])['phase']), age(ns.metadata['creationTimestamp'], nowMs)];
  },
  prepareForCreate(ns) {
    const labels = obj(ns.metadata['labels']);
    labels['kubernetes.io/metadata.name'] = str(ns.metadata.name);
    ns.metadata['labels'] = labels;
    ns['spec'] = { finalizers: ['kubernetes'] };
    ns['status'] = { phase: 'Active' };
    return ns;
  },
  prepareForUpdate(updated, old) {
    updated['status'] = structuredClone(old['status']);
    updated['spec'] = structuredClone(old['spec']);
    const labels = obj(updated.metadata['labels']);
    labels['kubernetes.io/metadata.name'] = str(updated.metadata.name);
    updated.metadata['labels'] = labels;
    return updated;
  },
  validateCreate(ns) {
    return validateName(ns.metadata.name, 'label');
  },
  validateUpdate() {
    return [];
  },
};
