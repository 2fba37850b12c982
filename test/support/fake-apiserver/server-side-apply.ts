/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`): merges an applied
 * configuration into the live object and tracks which manager owns which field.
 *
 * - A field the applier sets that another manager owns with a different value is a
 *   conflict (409, `Apply failed with N conflicts: conflict with "<manager>": <path>`)
 *   unless `force=true`, which takes the field over.
 * - A field the applier owned in its previous apply and no longer sets is removed, unless
 *   another manager still owns it.
 * - Keyed lists merge element by element, merged primitive lists by value, everything
 *   else is replaced.
 */
import { isObject } from './json.ts';
import { Errors, type StatusCause } from './status.ts';
import type { JsonObject } from './store.ts';
import { childPath, elementPath, type PatchSchema } from './patch-schema.ts';
import {
  describePath,
  fieldValues,
  fromFieldsV1,
  readManagedFields,
  toFieldsV1,
  type FieldPath,
  type FieldSet,
  type ManagedFieldsEntry,
} from './managed-fields.ts';

export interface ApplyRequest {
  /** The live object, or null when apply creates it. */
  readonly live: JsonObject | null;
  readonly applied: JsonObject;
  readonly manager: string;
  readonly force: boolean;
  readonly schema: PatchSchema;
  readonly kind: string;
  readonly name: string;
  readonly apiVersion: string;
  readonly time: string;
}

/** Returns the merged object with updated `metadata.managedFields`, or throws 409. */
export function serverSideApply(req: ApplyRequest): JsonObject {
  const live: JsonObject = req.live === null ? {} : structuredClone(req.live);
  const liveMeta = isObject(live['metadata']) ? live['metadata'] : {};
  const entries = readManagedFields(liveMeta);
  const appliedValues = fieldValues(req.applied, req.schema);
  const liveValues = fieldValues(live, req.schema);
  const applied: FieldSet = new Set(appliedValues.keys());

  const isMine = (e: ManagedFieldsEntry): boolean => e.manager === req.manager && e.operation === 'Apply' && e.subresource === undefined;
  const others = entries.filter((e) => !isMine(e)).map((e) => ({ entry: e, set: fromFieldsV1(e.fieldsV1) }));
  const previous: FieldSet = fromFieldsV1(entries.find(isMine)?.fieldsV1 ?? {});

  // Fields whose applied value differs from the live value.
  const changing = new Set([...appliedValues].filter(([p, v]) => v !== '' && liveValues.get(p) !== v).map(([p]) => p));

  if (!req.force) {
    const causes: StatusCause[] = [];
    for (const { entry, set } of others) {
      for (const p of changing) {
        if (set.has(p) && liveValues.has(p)) {
          causes.push({ reason: 'FieldManagerConflict', message: `conflict with "${entry.manager}"${entry.operation === 'Update' ? ` using ${entry.apiVersion}` : ''}`, field: describePath(p) });
        }
      }
    }
    if (causes.length > 0) throw Errors.applyConflict(req.kind, req.name, causes);
  }

  // Fields this manager stops applying and nobody else owns go away.
  const ownedByOthers = (p: FieldPath): boolean => others.some(({ set }) => [...set].some((q) => q === p || q.startsWith(p + '\n')));
  const dropped = [...previous].filter((p) => !applied.has(p) && !ownedByOthers(p));
  // Remove deeper paths first so that an element goes after its fields.
  dropped.sort((a, b) => b.split('\n').length - a.split('\n').length);
  for (const p of dropped) removePath(live, p.split('\n'), req.schema);

  const merged = mergeApplied(live, req.applied, req.schema, '');

  // Others lose what this apply changed (only possible with force); this manager owns what it applied.
  const result: ManagedFieldsEntry[] = [];
  for (const { entry, set } of others) {
    for (const p of changing) set.delete(p);
    if (set.size > 0) result.push({ ...entry, fieldsV1: toFieldsV1(set) });
  }
  if (applied.size > 0) {
    result.push({ manager: req.manager, operation: 'Apply', apiVersion: req.apiVersion, time: req.time, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(applied) });
  }
  const metadata = isObject(merged['metadata']) ? merged['metadata'] : (merged['metadata'] = {});
  metadata['managedFields'] = result;
  return merged;
}

function mergeApplied(live: JsonObject, applied: JsonObject, schema: PatchSchema, path: string): JsonObject {
  for (const [key, value] of Object.entries(applied)) {
    const p = childPath(path, key);
    const cur = live[key];
    if (value === null) {
      delete live[key];
    } else if (isObject(value) && isObject(cur)) {
      live[key] = mergeApplied(cur, value, schema, p);
    } else if (Array.isArray(value) && Array.isArray(cur) && schema.has(p)) {
      const curList = cur as unknown[];
      const valueList = value as unknown[];
      const mergeKey = schema.get(p)?.mergeKey;
      if (mergeKey === undefined) {
        live[key] = [...curList, ...valueList.filter((v) => !curList.some((c) => JSON.stringify(c) === JSON.stringify(v)))];
      } else {
        const out = [...curList];
        for (const el of valueList) {
          if (!isObject(el)) continue;
          const at = out.findIndex((x) => isObject(x) && JSON.stringify(x[mergeKey]) === JSON.stringify(el[mergeKey]));
          if (at >= 0) out[at] = mergeApplied(out[at] as JsonObject, el, schema, elementPath(p));
          else out.push(structuredClone(el));
        }
        live[key] = out;
      }
    } else {
      live[key] = structuredClone(value);
    }
  }
  return live;
}

function removePath(node: unknown, keys: readonly string[], schema: PatchSchema): void {
  const [head, ...rest] = keys;
  if (head === undefined) return;
  if (head.startsWith('f:') && isObject(node)) {
    const field = head.slice(2);
    if (rest.length === 0) delete node[field];
    else removePath(node[field], rest, schema);
    return;
  }
  if (!Array.isArray(node)) return;
  if (head.startsWith('k:')) {
    const key = JSON.parse(head.slice(2)) as Record<string, unknown>;
    const [[name, value] = ['', undefined]] = Object.entries(key);
    const at = node.findIndex((x) => isObject(x) && JSON.stringify(x[name]) === JSON.stringify(value));
    if (at < 0) return;
    if (rest.length === 0) node.splice(at, 1);
    else removePath(node[at], rest, schema);
  } else if (head.startsWith('v:') && rest.length === 0) {
    const at = node.findIndex((x) => JSON.stringify(x) === head.slice(2));
    if (at >= 0) node.splice(at, 1);
  }
}
