/**
 * Typed access to the nodes of a parsed YAML document, for editing pod specs in place
 * (so untouched keys keep their order, comments and scalar styles). Every accessor
 * knows where it is, and a node of the wrong type is SP_INJECT_INPUT_INVALID naming the
 * object and field, never quoting a value.
 */
import type { YAMLMap} from 'yaml';
import { isMap, isScalar, isSeq, Scalar, YAMLSeq, type Document, type Node } from 'yaml';
import { ShadowplaneError } from '../errors.ts';

export function inputError(where: string, message: string): never {
  throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${where}: ${message}`);
}

/** The node under `key`, or undefined when absent or null. */
function nodeAt(map: YAMLMap, key: string): unknown {
  const value = map.get(key, true) as unknown;
  if (value === null || value === undefined) return undefined;
  if (isScalar(value) && value.value === null) return undefined;
  return value;
}

export function mapAt(map: YAMLMap, key: string, where: string): YAMLMap | undefined {
  const value = nodeAt(map, key);
  if (value === undefined) return undefined;
  if (!isMap(value)) inputError(where, `${key} must be a mapping`);
  return value;
}

export function seqAt(map: YAMLMap, key: string, where: string): YAMLSeq | undefined {
  const value = nodeAt(map, key);
  if (value === undefined) return undefined;
  if (!isSeq(value)) inputError(where, `${key} must be a sequence`);
  return value;
}

export function stringAt(map: YAMLMap, key: string, where: string): string | undefined {
  const value = nodeAt(map, key);
  if (value === undefined) return undefined;
  if (!isScalar(value) || typeof value.value !== 'string') inputError(where, `${key} must be a string`);
  return value.value;
}

export function booleanAt(map: YAMLMap, key: string, where: string): boolean {
  const value = nodeAt(map, key);
  if (value === undefined) return false;
  if (!isScalar(value) || typeof value.value !== 'boolean') inputError(where, `${key} must be a boolean`);
  return value.value;
}

/** The items of a sequence of strings. */
export function stringsOf(seq: YAMLSeq, where: string, key: string): string[] {
  return seq.items.map((item, i) => {
    if (!isScalar(item) || typeof item.value !== 'string') inputError(where, `${key}[${i}] must be a string`);
    return item.value;
  });
}

/** The mappings of a sequence (containers, volumes, env, mounts, ports). */
export function mapsOf(seq: YAMLSeq, where: string, key: string): YAMLMap[] {
  return seq.items.map((item, i) => {
    if (!isMap(item)) inputError(where, `${key}[${i}] must be a mapping`);
    return item;
  });
}

/** A block-style node for plain values. */
export function blockNode(doc: Document, value: unknown): Node {
  const node = doc.createNode(value) as Node;
  if (isMap(node) || isSeq(node)) node.flow = false;
  return node;
}

/** A sequence of strings, block style, each string as the YAML library chooses to quote it. */
export function stringSeq(doc: Document, values: readonly string[]): YAMLSeq {
  const seq = new YAMLSeq(doc.schema);
  for (const v of values) seq.items.push(new Scalar(v));
  return seq;
}

/** A multi-line string printed as a literal block (`|`), readable in review. */
export function literalScalar(text: string): Scalar {
  const s = new Scalar(text);
  s.type = Scalar.BLOCK_LITERAL;
  return s;
}

/** Plain JSON of a node, for comparisons (bounded: the document was size-checked). */
export function plain(node: unknown): unknown {
  if (node !== null && typeof node === 'object' && 'toJSON' in node && typeof node.toJSON === 'function') {
    return (node as { toJSON(): unknown }).toJSON();
  }
  return node;
}

/** Finds the mapping whose `name` is `name`. */
export function indexByName(items: readonly YAMLMap[], name: string): number {
  return items.findIndex((m) => {
    const n = m.get('name');
    return typeof n === 'string' && n === name;
  });
}
