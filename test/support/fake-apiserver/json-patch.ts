/**
 * JSON patch (RFC 6902, `application/json-patch+json`) with JSON pointers (RFC 6901).
 * Operations apply in order to a copy; any failure leaves the input untouched and throws
 * `SP_BAD_REQUEST` naming the operation index and kind (never the values).
 */
import { ShadowplaneError } from '../../../src/errors.ts';
import { deepEqual, isObject } from './json.ts';

/** Most operations accepted in one patch (kube-apiserver caps at 10,000). */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

type Container = Record<string, unknown> | unknown[];

function fail(index: number, what: string): ShadowplaneError {
  return new ShadowplaneError('SP_BAD_REQUEST', `json patch operation ${index}: ${what}`);
}

function parsePointer(pointer: unknown, index: number): string[] {
  if (typeof pointer !== 'string') throw fail(index, 'path is not a string');
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw fail(index, 'path does not start with /');
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, allowEnd: boolean, index: number): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw fail(index, 'array index is not a number');
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw fail(index, 'array index out of range');
  return i;
}

/** Walks to the parent of the pointer's last token. */
function parentOf(doc: unknown, tokens: readonly string[], index: number): { parent: Container; last: string } {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, index)];
    else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw fail(index, 'path does not exist');
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw fail(index, 'path does not exist');
  return { parent: cur, last: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: unknown, tokens: readonly string[], index: number): unknown {
  if (tokens.length === 0) return doc;
  const { parent, last } = parentOf(doc, tokens, index);
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, index)];
  if (!Object.prototype.hasOwnProperty.call(parent, last)) throw fail(index, 'path does not exist');
  return parent[last];
}

function removeAt(doc: unknown, tokens: readonly string[], index: number): unknown {
  if (tokens.length === 0) throw fail(index, 'cannot remove the document root');
  const { parent, last } = parentOf(doc, tokens, index);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(last, parent.length, false, index), 1)[0];
  if (!Object.prototype.hasOwnProperty.call(parent, last)) throw fail(index, 'path does not exist');
  const old = parent[last];
  delete parent[last];
  return old;
}

/** Returns the new document (the root can be replaced by 'add'/'replace' at ''). */
function addAt(doc: unknown, tokens: readonly string[], value: unknown, index: number): unknown {
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, index);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true, index), 0, value);
  else parent[last] = value;
  return doc;
}

export function applyJsonPatch(document: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new ShadowplaneError('SP_BAD_REQUEST', 'json patch is not an array');
  if (patch.length > MAX_JSON_PATCH_OPERATIONS) throw new ShadowplaneError('SP_BAD_REQUEST', 'json patch has too many operations');
  let doc: unknown = structuredClone(document);
  patch.forEach((op: unknown, index) => {
    if (!isObject(op)) throw fail(index, 'operation is not an object');
    const path = parsePointer(op.path, index);
    const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(op, k);
    switch (op.op) {
      case 'add':
        if (!has('value')) throw fail(index, 'missing value');
        doc = addAt(doc, path, structuredClone(op.value), index);
        break;
      case 'remove':
        removeAt(doc, path, index);
        break;
      case 'replace':
        if (!has('value')) throw fail(index, 'missing value');
        if (path.length === 0) doc = structuredClone(op.value);
        else {
          removeAt(doc, path, index);
          doc = addAt(doc, path, structuredClone(op.value), index);
        }
        break;
      case 'move': {
        const from = parsePointer(op.from, index);
        if (path.length > from.length && from.every((t, i) => path[i] === t)) throw fail(index, 'cannot move a value into itself');
        const value = removeAt(doc, from, index);
        doc = addAt(doc, path, value, index);
        break;
      }
      case 'copy': {
        const value = structuredClone(getAt(doc, parsePointer(op.from, index), index));
        doc = addAt(doc, path, value, index);
        break;
      }
      case 'test':
        if (!deepEqual(getAt(doc, path, index), op.value)) throw fail(index, 'test failed');
        break;
      default:
        throw fail(index, 'unknown operation');
    }
  });
  return doc;
}
