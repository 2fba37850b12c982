/**
 * DELETE and DELETECOLLECTION: uid/resourceVersion preconditions, `dryRun=All`, the
 * deleted object as the answer (a namespace reported Terminating), and a namespace's pods
 * deleted with it (the namespace controller, done at once).
 */
import { sendObject, sendStored, type ApiCall } from './api-call.ts';
import { rfc3339 } from './age.ts';
import { decodeBody, readBody } from './body.ts';
import { isObject } from './json.ts';
import { bodyMediaType } from './negotiate.ts';
import { selectorFor } from './read-handler.ts';
import { sendStreamed } from './respond.ts';
import { Errors } from './status.ts';
import type { KubeObject, StoredObject } from './store.ts';
import { isDryRun, mustGet } from './write-handler.ts';

interface DeleteOptions {
  readonly preconditionUid?: string;
  readonly preconditionRv?: string;
}

async function readDeleteOptions(call: ApiCall): Promise<DeleteOptions> {
  const raw = await readBody(call.body);
  if (raw.length === 0) return {};
  const media = bodyMediaType(call.contentType);
  const body = decodeBody(raw, media === '' ? 'application/json' : media);
  if (!isObject(body)) throw Errors.badRequest('the request body is not DeleteOptions');
  const pre = isObject(body['preconditions']) ? body['preconditions'] : {};
  return {
    ...(typeof pre['uid'] === 'string' ? { preconditionUid: pre['uid'] } : {}),
    ...(typeof pre['resourceVersion'] === 'string' ? { preconditionRv: pre['resourceVersion'] } : {}),
  };
}

function deleteOne(call: ApiCall, live: StoredObject): StoredObject | undefined {
  const c = call.cluster;
  if (call.type.resource === 'namespaces') {
    const ns = structuredClone(live.object) as KubeObject;
    ns.metadata['deletionTimestamp'] = rfc3339(c.now());
    ns['status'] = { phase: 'Terminating' };
    const gone = c.deleteNamespace(live.name);
    return gone === undefined ? undefined : { ...gone, object: { ...ns, metadata: { ...ns.metadata, resourceVersion: String(gone.rv) } }, json: '' };
  }
  if (call.type.resource === 'pods') return c.deletePod(live.namespace, live.name);
  return c.store.delete(call.type.resource, live.namespace, live.name);
}

export async function handleDelete(call: ApiCall): Promise<void> {
  const dryRun = isDryRun(call);
  const opts = await readDeleteOptions(call);
  const live = mustGet(call);
  if (opts.preconditionUid !== undefined && opts.preconditionUid !== live.object.metadata['uid']) {
    throw Errors.conflict(call.type.resource, live.name, `Precondition failed: UID in precondition: ${opts.preconditionUid}, UID in object meta: ${String(live.object.metadata['uid'])}`);
  }
  if (opts.preconditionRv !== undefined && opts.preconditionRv !== String(live.rv)) {
    throw Errors.conflict(call.type.resource, live.name, `Precondition failed: ResourceVersion in precondition: ${opts.preconditionRv}, ResourceVersion in meta: ${live.rv}`);
  }
  if (dryRun) {
    sendStored(call, 200, live);
    return;
  }
  const gone = deleteOne(call, live);
  if (gone === undefined) throw Errors.notFound(call.type.resource, call.info.name);
  sendObject(call, 200, gone.object);
}

export async function handleDeleteCollection(call: ApiCall): Promise<void> {
  const dryRun = isDryRun(call);
  await readDeleteOptions(call);
  const matches = selectorFor(call);
  const victims = call.cluster.store.list(call.type.resource, call.info.namespace).filter(matches);
  const deleted = dryRun ? [...victims] : victims.map((v) => deleteOne(call, v)).filter((v): v is StoredObject => v !== undefined);
  const items = deleted.map((d) => (d.json === '' ? JSON.stringify(d.object) : d.json));
  const head = `{"kind":"${call.type.listKind}","apiVersion":"v1","metadata":{"resourceVersion":"${call.cluster.store.resourceVersion}"},"items":[`;
  await sendStreamed(call.res, 200, call.auditId, 'application/json', [head, items.join(','), ']}\n']);
}
