/**
 * Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the
 * way `kubectl get` asks for it. Rows carry the object as PartialObjectMetadata by
 * default (`includeObject=Metadata`), the full object with `includeObject=Object`, or
 * nothing with `None`.
 *
 * Built as a string from cached pieces: a 5,000-row table is a join, not a deep
 * JSON.stringify of a tree.
 */
import type { ResourceType } from './resource-type.ts';
import type { StoredObject } from './store.ts';
import { Errors } from './status.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  readonly version: 'v1' | 'v1beta1';
  readonly includeObject: IncludeObject;
  readonly noHeaders: boolean;
}

export function parseIncludeObject(value: string | null): IncludeObject {
  if (value === null || value === '' || value === 'Metadata') return 'Metadata';
  if (value === 'None' || value === 'Object') return value;
  throw Errors.badRequest(`unrecognized includeObject value: "${value}"`);
}

const metadataJson = new WeakMap<StoredObject, string>();

function partialMetadata(o: StoredObject, version: string): string {
  let meta = metadataJson.get(o);
  if (meta === undefined) {
    meta = JSON.stringify(o.object.metadata);
    metadataJson.set(o, meta);
  }
  return `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/${version}","metadata":${meta}}`;
}

function row(type: ResourceType, o: StoredObject, opts: TableOptions, nowMs: number): string {
  const cells = JSON.stringify(type.cells(o.object, nowMs));
  switch (opts.includeObject) {
    case 'None':
      return `{"cells":${cells},"object":null}`;
    case 'Object':
      return `{"cells":${cells},"object":${o.json}}`;
    case 'Metadata':
      return `{"cells":${cells},"object":${partialMetadata(o, opts.version)}}`;
  }
}

/** The head of a Table up to and including `"rows":[`. */
export function tableHead(type: ResourceType, opts: TableOptions, listMeta: Record<string, unknown>): string {
  const columns = opts.noHeaders ? 'null' : JSON.stringify(type.columns);
  return `{"kind":"Table","apiVersion":"meta.k8s.io/${opts.version}","metadata":${JSON.stringify(listMeta)},"columnDefinitions":${columns},"rows":[`;
}

/** Table rows, comma-separated, for streaming after `tableHead`. */
export function* tableRows(type: ResourceType, objects: Iterable<StoredObject>, opts: TableOptions, nowMs: number): Generator<string> {
  let first = true;
  for (const o of objects) {
    yield (first ? '' : ',') + row(type, o, opts, nowMs);
    first = false;
  }
}

/** A complete Table of the given objects. */
export function tableJson(type: ResourceType, objects: Iterable<StoredObject>, opts: TableOptions, listMeta: Record<string, unknown>, nowMs: number): string {
  return tableHead(type, opts, listMeta) + [...tableRows(type, objects, opts, nowMs)].join('') + ']}';
}
