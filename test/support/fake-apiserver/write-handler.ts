/**
 * CREATE, UPDATE and PATCH (JSON patch, JSON merge patch, strategic merge patch,
 * server-side apply) with kube-apiserver's answers: 201 for a create, 200 for the rest,
 * 404/409/422 Status errors shaped like the real ones, `dryRun=All`, `fieldManager`
 * bookkeeping in `metadata.managedFields`, resourceVersion preconditions. Deletes are in
 * delete-handler.ts.
 */
import { randomBytes } from 'node:crypto';
import { sendObject, sendStored, type ApiCall } from './api-call.ts';
import { rfc3339 } from './age.ts';
import { decodeBody, readBody } from './body.ts';
import { applyJsonPatch } from './json-patch.ts';
import { isObject } from './json.ts';
import { ownershipAfterUpdate, readManagedFields } from './managed-fields.ts';
import { applyMergePatch } from './merge-patch.ts';
import { bodyMediaType } from './negotiate.ts';
import { parseBool } from './request-info.ts';
import { serverSideApply } from './server-side-apply.ts';
import { Errors } from './status.ts';
import type { JsonObject, KubeObject, StoredObject } from './store.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function generateSuffix(): string {
  return [...randomBytes(5)].map((b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

export function isDryRun(call: ApiCall): boolean {
  const v = call.query.getAll('dryRun');
  if (v.some((x) => x !== 'All')) throw Errors.badRequest('dryRun: Unsupported value');
  return v.length > 0;
}

/** The field manager of this write: `fieldManager`, else the User-Agent's first word, as the API server defaults it. */
function fieldManager(call: ApiCall, required: boolean): string {
  const m = call.query.get('fieldManager');
  if (m !== null && m !== '') {
    if (m.length > 128) throw Errors.invalid('PatchOptions', '', [{ reason: 'FieldValueTooLong', message: 'Too long: must have at most 128 bytes', field: 'fieldManager' }]);
    return m;
  }
  if (required) throw Errors.badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  return (call.userAgent.split('/')[0] ?? '').slice(0, 128) || 'unknown';
}

async function readObject(call: ApiCall): Promise<unknown> {
  const media = bodyMediaType(call.contentType);
  return decodeBody(await readBody(call.body), media === '' ? 'application/json' : media);
}

/** Checks kind/apiVersion/namespace/name of a body against the request (400/422 like the real server). */
function checkIdentity(call: ApiCall, object: unknown): KubeObject {
  if (!isObject(object) || !isObject(object['metadata'])) {
    if (isObject(object) && object['metadata'] === undefined) object['metadata'] = {};
    else throw Errors.badRequest(`the object provided is unrecognized (must be of type ${call.type.kind})`);
  }
  const o = object as KubeObject;
  if (o.kind !== undefined && o.kind !== call.type.kind) throw Errors.badRequest(`the object provided is unrecognized (must be of type ${call.type.kind}): kind mismatch`);
  if (o.apiVersion !== undefined && o.apiVersion !== 'v1') throw Errors.badRequest('the API version in the data does not match the expected API version v1');
  o.kind = call.type.kind;
  o.apiVersion = 'v1';
  if (call.type.namespaced) {
    const ns = o.metadata.namespace;
    if (ns !== undefined && ns !== '' && ns !== call.info.namespace) {
      throw Errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    o.metadata.namespace = call.info.namespace;
  } else {
    delete o.metadata.namespace;
  }
  return o;
}

function failIfInvalid(call: ApiCall, name: string, causes: ReturnType<ApiCall['type']['validateCreate']>): void {
  if (causes.length > 0) throw Errors.invalid(call.type.kind, name, causes);
}

function requireNamespace(call: ApiCall): void {
  if (call.type.namespaced && call.cluster.store.get('namespaces', '', call.info.namespace) === undefined) {
    throw Errors.notFound('namespaces', call.info.namespace);
  }
}

function creating(call: ApiCall, object: KubeObject, manager: string): KubeObject {
  const c = call.cluster;
  c.stampNew(object);
  call.type.prepareForCreate(object, c.strategyContext());
  object.metadata['managedFields'] = ownershipAfterUpdate([], null, object, manager, call.type.patchSchema, { apiVersion: 'v1', time: rfc3339(c.now()) });
  return object;
}

function afterCreate(call: ApiCall, stored: StoredObject): void {
  if (call.type.resource === 'pods' && call.cluster.autoStartPods) {
    setImmediate(() => call.cluster.startPod(stored.namespace, stored.name));
  }
}

export async function handleCreate(call: ApiCall): Promise<void> {
  const dryRun = isDryRun(call);
  const manager = fieldManager(call, false);
  const object = checkIdentity(call, await readObject(call));
  const generateName = object.metadata['generateName'];
  if ((object.metadata.name === undefined || object.metadata.name === '') && typeof generateName === 'string' && generateName !== '') {
    object.metadata.name = generateName + generateSuffix();
  }
  for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'managedFields']) delete object.metadata[k];
  failIfInvalid(call, String(object.metadata.name ?? ''), call.type.validateCreate(object));
  const name = String(object.metadata.name);
  requireNamespace(call);
  if (call.cluster.store.get(call.type.resource, call.info.namespace, name) !== undefined) throw Errors.alreadyExists(call.type.resource, name);
  creating(call, object, manager);
  if (dryRun) {
    sendObject(call, 201, object);
    return;
  }
  const stored = call.cluster.store.create(call.type.resource, object);
  afterCreate(call, stored);
  sendStored(call, 201, stored);
}

/** Common tail of update and patch: identity, strategy, validation, ownership, store. */
function commit(call: ApiCall, live: StoredObject, next: KubeObject, manager: string | null, dryRun: boolean, status = 200): void {
  const name = live.name;
  next.kind = call.type.kind;
  next.apiVersion = 'v1';
  if (next.metadata.name !== undefined && next.metadata.name !== name) {
    throw Errors.badRequest(`the name of the object (${String(next.metadata.name).slice(0, 253)}) does not match the name on the URL (${name})`);
  }
  const wantRv = next.metadata.resourceVersion;
  if (wantRv !== undefined && wantRv !== '' && wantRv !== String(live.rv)) {
    throw Errors.conflict(call.type.resource, name, 'the object has been modified; please apply your changes to the latest version and try again');
  }
  for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp']) {
    if (live.object.metadata[k] === undefined) delete next.metadata[k];
    else next.metadata[k] = live.object.metadata[k];
  }
  next.metadata.name = name;
  if (call.type.namespaced) next.metadata.namespace = live.namespace;
  if (call.info.subresource === 'status') {
    const merged = structuredClone(live.object) as KubeObject;
    merged['status'] = next['status'];
    next = merged;
  } else {
    call.type.prepareForUpdate(next, live.object);
    failIfInvalid(call, name, call.type.validateUpdate(next, live.object));
  }
  if (manager !== null) {
    next.metadata['managedFields'] = ownershipAfterUpdate(readManagedFields(live.object.metadata), live.object, next, manager, call.type.patchSchema, {
      apiVersion: 'v1',
      time: rfc3339(call.cluster.now()),
    });
  }
  if (dryRun) {
    sendObject(call, status, next);
    return;
  }
  sendStored(call, status, call.cluster.store.update(call.type.resource, next));
}

export function mustGet(call: ApiCall): StoredObject {
  const live = call.cluster.store.get(call.type.resource, call.info.namespace, call.info.name);
  if (live === undefined) throw Errors.notFound(call.type.resource, call.info.name);
  return live;
}

export async function handleUpdate(call: ApiCall): Promise<void> {
  const dryRun = isDryRun(call);
  const manager = fieldManager(call, false);
  const object = checkIdentity(call, await readObject(call));
  const live = mustGet(call);
  commit(call, live, object, manager, dryRun);
}

/** A patch that cannot be applied is 422 Invalid, naming what failed (never the values). */
function asPatchError(call: ApiCall, err: unknown): unknown {
  if (isShadowplaneError(err)) {
    return Errors.invalid(call.type.kind, call.info.name, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${err.detail ?? err.code}`, field: 'patch' }]);
  }
  return err;
}

export async function handlePatch(call: ApiCall): Promise<void> {
  const dryRun = isDryRun(call);
  const media = bodyMediaType(call.contentType);
  const patch = decodeBody(await readBody(call.body), media);
  const live = call.cluster.store.get(call.type.resource, call.info.namespace, call.info.name);

  if (media === 'application/apply-patch+yaml') {
    const manager = fieldManager(call, true);
    const force = parseBool(call.query.get('force')) === true;
    const applied = checkIdentity(call, patch);
    if (applied.metadata.name !== undefined && applied.metadata.name !== call.info.name) {
      throw Errors.badRequest('the name of the object does not match the name on the URL');
    }
    applied.metadata.name = call.info.name;
    if (live === undefined) requireNamespace(call);
    const base: JsonObject | null = live === undefined ? null : structuredClone(live.object);
    const merged = serverSideApply({
      live: base,
      applied: stripServerFields(applied),
      manager,
      force,
      schema: call.type.patchSchema,
      kind: call.type.kind,
      name: call.info.name,
      apiVersion: 'v1',
      time: rfc3339(call.cluster.now()),
    }) as KubeObject;
    if (live === undefined) {
      merged.kind = call.type.kind;
      merged.apiVersion = 'v1';
      const managed = merged.metadata['managedFields'];
      call.cluster.stampNew(merged);
      call.type.prepareForCreate(merged, call.cluster.strategyContext());
      merged.metadata['managedFields'] = managed;
      failIfInvalid(call, call.info.name, call.type.validateCreate(merged));
      if (dryRun) {
        sendObject(call, 201, merged);
        return;
      }
      const stored = call.cluster.store.create(call.type.resource, merged);
      afterCreate(call, stored);
      sendStored(call, 201, stored);
      return;
    }
    delete merged.metadata.resourceVersion;
    commit(call, live, merged, null, dryRun);
    return;
  }

  if (live === undefined) throw Errors.notFound(call.type.resource, call.info.name);
  const manager = fieldManager(call, false);
  let next: unknown;
  try {
    switch (media) {
      case 'application/json-patch+json':
        next = applyJsonPatch(live.object, patch);
        break;
      case 'application/merge-patch+json':
        next = applyMergePatch(live.object, patch);
        break;
      case 'application/strategic-merge-patch+json':
        next = applyStrategicMergePatch(structuredClone(live.object), patch, call.type.patchSchema);
        break;
      default:
        throw Errors.unsupportedMediaType(media === '' ? '<none>' : media);
    }
  } catch (err) {
    throw asPatchError(call, err);
  }
  if (!isObject(next) || !isObject(next['metadata'])) throw Errors.badRequest('the patch removed the object metadata');
  const patched = next as KubeObject;
  // A patch precondition is a resourceVersion the patch itself sets.
  const patchRv = isObject(patch) && isObject(patch['metadata']) ? patch['metadata']['resourceVersion'] : undefined;
  if (typeof patchRv !== 'string') delete patched.metadata.resourceVersion;
  commit(call, live, patched, manager, dryRun);
}

function stripServerFields(o: KubeObject): KubeObject {
  for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation']) delete o.metadata[k];
  return o;
}
