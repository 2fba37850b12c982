/**
 * Field ownership for server-side apply, in the `metadata.managedFields` / FieldsV1 shape
 * kube-apiserver uses (sigs.k8s.io/structured-merge-diff), reduced to what kubectl
 * relies on:
 *
 * - a field set is a set of paths; path elements are FieldsV1 keys: `f:<field>`,
 *   `k:{"<mergeKey>":<value>}` for an element of a keyed list, `v:<json>` for a value of a
 *   merged primitive list. Atomic lists and scalars are leaves.
 * - identity and server-owned fields (apiVersion, kind, metadata name/namespace/uid/
 *   resourceVersion/generation/creationTimestamp/managedFields, and status) are never
 *   owned, as for the main resource of a real server.
 */
import { isObject } from './json.ts';
import type { JsonObject } from './store.ts';
import { childPath, elementPath, type PatchSchema } from './patch-schema.ts';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

/** A path of FieldsV1 keys, joined with '\n' to be a Set member. */
export type FieldPath = string;
export type FieldSet = Set<FieldPath>;

const SEP = '\n';

const UNOWNED_TOP = new Set(['apiVersion', 'kind', 'status']);
const UNOWNED_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

function elementKey(mergeKey: string, value: unknown): string {
  return `k:${JSON.stringify({ [mergeKey]: value })}`;
}

/**
 * Every owned path of `object`, with the JSON of the value at each leaf (elements and
 * primitive-list values map to '' since they carry no value of their own).
 */
export function fieldValues(object: JsonObject, schema: PatchSchema): Map<FieldPath, string> {
  const out = new Map<FieldPath, string>();
  const walkMap = (value: JsonObject, keys: string[], schemaPath: string): void => {
    for (const [field, v] of Object.entries(value)) {
      if (keys.length === 0 && UNOWNED_TOP.has(field)) continue;
      if (keys.length === 1 && keys[0] === 'f:metadata' && UNOWNED_METADATA.has(field)) continue;
      walkValue(v, [...keys, `f:${field}`], childPath(schemaPath, field));
    }
  };
  const walkValue = (v: unknown, keys: string[], schemaPath: string): void => {
    if (isObject(v) && Object.keys(v).length > 0) {
      walkMap(v, keys, schemaPath);
      return;
    }
    const strategy = Array.isArray(v) ? schema.get(schemaPath) : undefined;
    if (Array.isArray(v) && strategy !== undefined) {
      for (const element of v) {
        if (strategy.mergeKey === undefined) {
          out.set([...keys, `v:${JSON.stringify(element)}`].join(SEP), '');
        } else if (isObject(element) && element[strategy.mergeKey] !== undefined) {
          const ek = [...keys, elementKey(strategy.mergeKey, element[strategy.mergeKey])];
          out.set(ek.join(SEP), '');
          walkMap(element, ek, elementPath(schemaPath));
        }
      }
      return;
    }
    out.set(keys.join(SEP), JSON.stringify(v));
  };
  walkMap(object, [], '');
  return out;
}

export function fieldSetOf(object: JsonObject, schema: PatchSchema): FieldSet {
  return new Set(fieldValues(object, schema).keys());
}

/** Encodes a field set as a FieldsV1 tree (`{}` leaves, `.` marks an owned inner node). */
export function toFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {};
  const paths = [...set].map((p) => p.split(SEP));
  const prefixes = new Set<string>();
  for (const p of paths) for (let i = 1; i < p.length; i++) prefixes.add(p.slice(0, i).join(SEP));
  for (const p of paths) {
    let node = root;
    for (const key of p) {
      const next = node[key];
      node = isObject(next) ? next : (node[key] = {});
    }
    if (prefixes.has(p.join(SEP))) node['.'] = {};
  }
  return sortTree(root);
}

function sortTree(tree: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(tree).sort()) {
    const v = tree[key];
    out[key] = isObject(v) ? sortTree(v) : v;
  }
  return out;
}

/** Decodes a FieldsV1 tree into a field set (inverse of toFieldsV1). */
export function fromFieldsV1(tree: unknown): FieldSet {
  const out: FieldSet = new Set();
  const walk = (node: unknown, keys: string[]): void => {
    if (!isObject(node)) return;
    const children = Object.keys(node).filter((k) => k !== '.');
    if (keys.length > 0 && (children.length === 0 || Object.prototype.hasOwnProperty.call(node, '.'))) out.add(keys.join(SEP));
    for (const k of children) walk(node[k], [...keys, k]);
  };
  walk(tree, []);
  return out;
}

/** Human-readable path as kube-apiserver prints it in conflicts: `.spec.containers[name="c1"].image`. */
export function describePath(path: FieldPath): string {
  return path
    .split(SEP)
    .map((k) => {
      if (k.startsWith('f:')) return `.${k.slice(2)}`;
      if (k.startsWith('k:')) {
        const parsed = JSON.parse(k.slice(2)) as Record<string, unknown>;
        return `[${Object.entries(parsed)
          .map(([n, v]) => `${n}=${JSON.stringify(v)}`)
          .join(',')}]`;
      }
      if (k.startsWith('v:')) return `[=${k.slice(2)}]`;
      return k;
    })
    .join('');
}

export function readManagedFields(metadata: JsonObject): ManagedFieldsEntry[] {
  const mf = metadata['managedFields'];
  if (!Array.isArray(mf)) return [];
  return mf.filter((e): e is ManagedFieldsEntry => isObject(e) && typeof e['manager'] === 'string' && (e['operation'] === 'Apply' || e['operation'] === 'Update'));
}

export function entryKey(e: { manager: string; operation: string; subresource?: string | undefined }): string {
  return `${e.manager}\u0000${e.operation}\u0000${e.subresource ?? ''}`;
}

/**
 * Ownership after a non-apply write by `manager`: it gains every field it changed or
 * added; every manager loses fields that disappeared, and other managers lose the fields
 * that changed value.
 */
export function ownershipAfterUpdate(
  entries: readonly ManagedFieldsEntry[],
  before: JsonObject | null,
  after: JsonObject,
  manager: string,
  schema: PatchSchema,
  meta: { apiVersion: string; time: string },
): ManagedFieldsEntry[] {
  const oldValues = before === null ? new Map<FieldPath, string>() : fieldValues(before, schema);
  const newValues = fieldValues(after, schema);
  const changed = new Set([...newValues].filter(([p, v]) => oldValues.get(p) !== v).map(([p]) => p));
  const removed = new Set([...oldValues.keys()].filter((p) => !newValues.has(p)));
  const result: ManagedFieldsEntry[] = [];
  let mine: FieldSet | null = null;
  for (const e of entries) {
    const set = fromFieldsV1(e.fieldsV1);
    for (const p of removed) set.delete(p);
    if (e.manager === manager && e.operation === 'Update' && e.subresource === undefined) {
      for (const p of changed) set.add(p);
      mine = set;
      if (set.size > 0) result.push({ ...e, time: changed.size > 0 ? meta.time : e.time, fieldsV1: toFieldsV1(set) });
      continue;
    }
    for (const p of changed) set.delete(p);
    if (set.size > 0) result.push({ ...e, fieldsV1: toFieldsV1(set) });
  }
  if (mine === null && changed.size > 0) {
    result.push({ manager, operation: 'Update', apiVersion: meta.apiVersion, time: meta.time, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(changed) });
  }
  return result;
}

