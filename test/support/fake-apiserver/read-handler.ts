/**
 * GET of one object and LIST of a collection, with kube-apiserver's list semantics:
 * label/field selectors, `limit`/`continue` pagination (opaque continue token carrying
 * the list's resourceVersion and the last key), `resourceVersion` / `resourceVersionMatch`
 * validation, and answers as JSON (streamed in chunks), YAML, Table or protobuf.
 */
import { stringify as toYaml } from 'yaml';
import { representationFor, sendStored, type ApiCall } from './api-call.ts';
import { encodeList, PROTOBUF_MEDIA_TYPE } from './protobuf.ts';
import { sendBody, sendStreamed } from './respond.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { Errors } from './status.ts';
import { ObjectStore, type StoredObject } from './store.ts';
import { parseIncludeObject, tableHead, tableRows } from './table.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { isObject } from './json.ts';

export function handleGet(call: ApiCall): void {
  const { namespace, name } = call.info;
  const stored = call.cluster.store.get(call.type.resource, namespace, name);
  if (stored === undefined) throw Errors.notFound(call.type.resource, name);
  sendStored(call, 200, stored);
}

/** Builds the object predicate from labelSelector and fieldSelector (400 when malformed). */
export function selectorFor(call: ApiCall): (o: StoredObject) => boolean {
  try {
    const labels = parseLabelSelector(call.query.get('labelSelector'));
    let fieldSel = call.query.get('fieldSelector');
    if (call.info.name !== '') fieldSel = [fieldSel, `metadata.name=${call.info.name}`].filter((s) => s !== null && s !== '').join(',');
    const fields = parseFieldSelector(fieldSel === '' ? null : fieldSel, call.type.fields);
    return (o) => {
      const l = o.object.metadata['labels'];
      return labels(isObject(l) ? (l as Record<string, string>) : {}) && fields(o.object);
    };
  } catch (err) {
    if (isShadowplaneError(err)) throw Errors.badRequest(err.detail ?? err.message);
    throw err;
  }
}

interface ContinueToken {
  readonly rv: number;
  readonly start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (isObject(parsed) && typeof parsed['rv'] === 'number' && typeof parsed['start'] === 'string') return { rv: parsed['rv'], start: parsed['start'] };
  } catch {
    // fall through to the error below
  }
  throw Errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

function parseNonNegative(value: string | null, what: string): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw Errors.badRequest(`invalid ${what}: ${value.slice(0, 32)}`);
  return Number(value);
}

/** Applies the list's resourceVersion rules; returns the RV the list is served at. */
function listResourceVersion(call: ApiCall, token: ContinueToken | null): number {
  const store = call.cluster.store;
  const rv = call.query.get('resourceVersion');
  const match = call.query.get('resourceVersionMatch');
  if (token !== null) {
    if (rv !== null && rv !== '') throw Errors.badRequest('specifying resource version is not allowed when using continue');
    if (token.rv < store.compactedResourceVersion) {
      throw Errors.gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
    }
    return token.rv;
  }
  if (match !== null && match !== '') {
    if (rv === null || rv === '') {
      throw Errors.invalid('ListOptions', '', [{ reason: 'FieldValueForbidden', message: 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided', field: 'resourceVersionMatch' }]);
    }
    if (match !== 'NotOlderThan' && match !== 'Exact') {
      throw Errors.invalid('ListOptions', '', [{ reason: 'FieldValueNotSupported', message: `Unsupported value: "${match.slice(0, 32)}"`, field: 'resourceVersionMatch' }]);
    }
    if (match === 'Exact' && rv === '0') {
      throw Errors.invalid('ListOptions', '', [{ reason: 'FieldValueForbidden', message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"', field: 'resourceVersionMatch' }]);
    }
  }
  const requested = parseNonNegative(rv, 'resource version');
  if (requested !== undefined && requested > store.resourceVersion) {
    throw Errors.timeout(`Too large resource version: ${requested}, current: ${store.resourceVersion}`);
  }
  // The stand-in keeps no historical snapshots: an exact list is served only at the current revision.
  if (match === 'Exact' && requested !== undefined && requested !== store.resourceVersion) {
    throw Errors.gone(`too old resource version: ${requested} (${store.resourceVersion})`);
  }
  return store.resourceVersion;
}

export async function handleList(call: ApiCall): Promise<void> {
  const token = call.query.get('continue') ? decodeContinue(call.query.get('continue') ?? '') : null;
  const limit = parseNonNegative(call.query.get('limit'), 'limit');
  const rv = listResourceVersion(call, token);
  const matches = selectorFor(call);
  const rep = representationFor(call, call.type.listKind);

  let items = call.cluster.store.list(call.type.resource, call.info.namespace);
  if (token !== null) items = items.filter((o) => ObjectStore.key(o.namespace, o.name) > token.start);
  items = items.filter(matches);
  // resourceVersion=0 is served from the watch cache, which ignores limit.
  const paginate = limit !== undefined && limit > 0 && call.query.get('resourceVersion') !== '0';
  const page = paginate ? items.slice(0, limit) : items;
  const listMeta: Record<string, unknown> = { resourceVersion: String(rv) };
  if (paginate && items.length > page.length) {
    const last = page[page.length - 1];
    if (last !== undefined) {
      listMeta['continue'] = encodeContinue({ rv, start: ObjectStore.key(last.namespace, last.name) });
      listMeta['remainingItemCount'] = items.length - page.length;
    }
  }

  switch (rep.kind) {
    case 'json':
    case 'discovery': {
      const head = `{"kind":"${call.type.listKind}","apiVersion":"v1","metadata":${JSON.stringify(listMeta)},"items":[`;
      const sizeHint = page.reduce((n, o) => n + o.json.length + 1, head.length);
      await sendStreamed(call.res, 200, call.auditId, 'application/json', pieces(head, page, ']}\n'), { gzip: call.gzip, sizeHint });
      return;
    }
    case 'table': {
      const opts = { version: rep.version, includeObject: parseIncludeObject(call.query.get('includeObject')), noHeaders: false };
      const rows = tableRows(call.type, page, opts, call.cluster.now());
      // A table row is a few hundred bytes (more with includeObject=Object).
      const sizeHint = page.length * (opts.includeObject === 'Object' ? 1024 : 256);
      await sendStreamed(call.res, 200, call.auditId, 'application/json', concat([tableHead(call.type, opts, listMeta)], rows, [']}\n']), { gzip: call.gzip, sizeHint });
      return;
    }
    case 'yaml': {
      const list = { kind: call.type.listKind, apiVersion: 'v1', metadata: listMeta, items: page.map((o) => o.object) };
      sendBody(call.res, 200, call.auditId, 'application/yaml', toYaml(list), call.gzip);
      return;
    }
    case 'protobuf':
      sendBody(call.res, 200, call.auditId, PROTOBUF_MEDIA_TYPE, encodeList(call.type.kind, 'v1', listMeta, page.map((o) => o.object)), call.gzip);
      return;
  }
}

function* pieces(head: string, items: readonly StoredObject[], tail: string): Generator<string> {
  yield head;
  let first = true;
  for (const o of items) {
    yield first ? o.json : ',' + o.json;
    first = false;
  }
  yield tail;
}

function* concat(...parts: Iterable<string>[]): Generator<string> {
  for (const p of parts) yield* p;
}
