/**
 * The ConfigMap resource, as far as shadowplane uses one through the API (`crl fetch
 * --configmap` reads and replaces one): names and keys validated as the API server does,
 * the 1 MiB size limit, and the NAME DATA AGE columns of `kubectl get configmaps`.
 */
import { age } from './age.ts';
import { isObject } from './json.ts';
import { patchSchemaFor } from './patch-schema.ts';
import { metadataFields, validateName, type ResourceType } from './resource-type.ts';
import type { KubeObject } from './store.ts';
import type { StatusCause } from './status.ts';

/** The API server's limit on a ConfigMap's data and binaryData together. */
const MAX_BYTES = 1024 * 1024;
const KEY = /^[-._a-zA-Z0-9]+$/;

function entries(o: Readonly<KubeObject>, field: 'data' | 'binaryData'): [string, unknown][] {
  const v = o[field];
  return isObject(v) ? Object.entries(v) : [];
}

function validate(o: Readonly<KubeObject>): StatusCause[] {
  const causes: StatusCause[] = [];
  let size = 0;
  const seen = new Set<string>();
  for (const field of ['data', 'binaryData'] as const) {
    for (const [key, value] of entries(o, field)) {
      if (key.length > 253 || !KEY.test(key)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, field: `${field}[${key}]` });
      if (seen.has(key)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": duplicate of key present in ${field === 'data' ? 'binaryData' : 'data'}`, field: `${field}[${key}]` });
      seen.add(key);
      if (typeof value !== 'string') causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must be a string', field: `${field}[${key}]` });
      else if (field === 'binaryData' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: illegal base64 data', field: `${field}[${key}]` });
      else size += field === 'binaryData' ? Buffer.from(value, 'base64').length : Buffer.byteLength(value);
    }
  }
  if (size > MAX_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_BYTES} bytes`, field: '' });
  return causes;
}

export const configMapType: ResourceType = {
  resource: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  namespaced: true,
  shortNames: ['cm'],
  categories: [],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: [],
  patchSchema: patchSchemaFor('ConfigMap'),
  fields: metadataFields(),
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Data', type: 'string', format: '', description: 'Number of keys in data and binaryData.', priority: 0 },
    { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  cells(cm, nowMs) {
    return [String(cm.metadata.name ?? ''), entries(cm, 'data').length + entries(cm, 'binaryData').length, age(cm.metadata['creationTimestamp'], nowMs)];
  },
  prepareForCreate(cm) {
    return cm;
  },
  prepareForUpdate(updated) {
    return updated;
  },
  validateCreate(cm) {
    return [...validateName(cm.metadata.name, 'subdomain'), ...validate(cm)];
  },
  validateUpdate(updated) {
    return validate(updated);
  },
};
