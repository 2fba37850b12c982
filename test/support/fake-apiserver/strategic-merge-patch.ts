/**
 * Strategic merge patch (`application/strategic-merge-patch+json`) as apimachinery's
 * `strategicpatch.StrategicMergePatch` applies it, for the directives kubectl emits:
 *
 * - maps merge recursively, `null` deletes a key;
 * - lists with a merge key merge element by element (`$patch: delete` removes one,
 *   `$patch: replace` inside a list replaces the whole list);
 * - merged primitive lists (finalizers) take the union, minus
 *   `$deleteFromPrimitiveList/<field>`;
 * - `$setElementOrder/<field>` orders the merged list;
 * - `$retainKeys` drops the keys of a map that are not listed;
 * - `$patch: replace` / `$patch: delete` on a map;
 * - every other list is atomic and replaced.
 *
 * Malformed directives throw `SP_BAD_REQUEST`.
 */
import { ShadowplaneError } from '../../../src/errors.ts';
import { deepEqual, isObject } from './json.ts';
import type { JsonObject } from './store.ts';
import { childPath, elementPath, type PatchSchema } from './patch-schema.ts';

const DELETE_FROM_PRIMITIVE = '$deleteFromPrimitiveList/';
const SET_ELEMENT_ORDER = '$setElementOrder/';

function bad(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_BAD_REQUEST', `strategic merge patch: ${detail}`);
}

/** Sentinel: the patch deleted this whole map. */
const DELETED = Symbol('deleted');

export function applyStrategicMergePatch(original: JsonObject, patch: unknown, schema: PatchSchema): JsonObject {
  if (!isObject(patch)) throw bad('patch is not an object');
  const result = mergeMap(structuredClone(original), patch, schema, '');
  return result === DELETED ? {} : result;
}

function mergeMap(original: JsonObject, patch: JsonObject, schema: PatchSchema, path: string): JsonObject | typeof DELETED {
  const directive = patch['$patch'];
  if (directive !== undefined) {
    if (directive === 'delete') return DELETED;
    if (directive === 'replace') {
      const rest = { ...patch };
      delete rest['$patch'];
      return stripDirectives(rest);
    }
    if (directive !== 'merge') throw bad('unknown $patch directive');
  }
  const result: JsonObject = original;

  const retain = patch['$retainKeys'];
  if (retain !== undefined) {
    if (!Array.isArray(retain) || !retain.every((k) => typeof k === 'string')) throw bad('$retainKeys is not a list of strings');
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_FROM_PRIMITIVE)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE.length);
      if (!Array.isArray(value)) throw bad('$deleteFromPrimitiveList needs a list');
      const cur = result[field];
      if (Array.isArray(cur)) result[field] = cur.filter((x) => !value.some((v) => deepEqual(v, x)));
    }
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith(DELETE_FROM_PRIMITIVE) || key.startsWith(SET_ELEMENT_ORDER)) continue;
    const fieldPath = childPath(path, key);
    if (value === null) {
      delete result[key];
      continue;
    }
    const cur = result[key];
    if (isObject(value)) {
      const merged = mergeMap(isObject(cur) ? cur : {}, value, schema, fieldPath);
      if (merged === DELETED) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      const strategy = schema.get(fieldPath);
      result[key] = strategy === undefined ? stripDirectives(value) : mergeList(Array.isArray(cur) ? cur : [], value, strategy.mergeKey, schema, fieldPath);
    } else {
      result[key] = value;
    }
  }

  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const field = key.slice(SET_ELEMENT_ORDER.length);
    if (!Array.isArray(order)) throw bad('$setElementOrder needs a list');
    const cur = result[field];
    if (Array.isArray(cur)) result[field] = orderList(cur, order, schema.get(childPath(path, field))?.mergeKey);
  }
  return result;
}

function mergeList(original: unknown[], patch: unknown[], mergeKey: string | undefined, schema: PatchSchema, path: string): unknown[] {
  const replace = patch.findIndex((e) => isObject(e) && e['$patch'] === 'replace');
  if (replace >= 0) return stripDirectives(patch.filter((_, i) => i !== replace));

  if (mergeKey === undefined) {
    // A merged list of primitives: union, keeping the original order first.
    const out = [...original];
    for (const v of patch) {
      if (isObject(v) || Array.isArray(v)) throw bad('a primitive list contains an object');
      if (!out.some((x) => deepEqual(x, v))) out.push(v);
    }
    return out;
  }

  const out = [...original];
  for (const element of patch) {
    if (!isObject(element)) throw bad('a merge-key list contains a non-object');
    const key = element[mergeKey];
    if (key === undefined) throw bad(`a list element lacks its merge key ${mergeKey}`);
    const at = out.findIndex((x) => isObject(x) && deepEqual(x[mergeKey], key));
    if (element['$patch'] === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) {
      const merged = mergeMap(out[at] as JsonObject, element, schema, elementPath(path));
      if (merged === DELETED) out.splice(at, 1);
      else out[at] = merged;
    } else {
      out.push(stripDirectives(element));
    }
  }
  return out;
}

/**
 * Orders `list` by `order` (elements of the order list, matched by merge key or value);
 * elements not named keep their relative order after the named ones.
 */
function orderList(list: unknown[], order: unknown[], mergeKey: string | undefined): unknown[] {
  const keyOf = (x: unknown): unknown => (mergeKey !== undefined && isObject(x) ? x[mergeKey] : x);
  const orderKeys = order.map((o) => keyOf(o));
  const rank = (x: unknown): number => {
    const i = orderKeys.findIndex((k) => deepEqual(k, keyOf(x)));
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return list
    .map((x, i) => ({ x, i, r: rank(x) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((e) => e.x);
}

/** Removes `$`-directives from a value that is inserted as-is. */
function stripDirectives<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => stripDirectives(v)) as T;
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) out[k] = stripDirectives(v);
    return out as T;
  }
  return value;
}
