import { describe, expect, it } from 'vitest';
import { ApiError } from '../../support/fake-apiserver/status.ts';
import { fieldSetOf, fromFieldsV1, ownershipAfterUpdate, toFieldsV1, type ManagedFieldsEntry } from '../../support/fake-apiserver/managed-fields.ts';
import { patchSchemaFor } from '../../support/fake-apiserver/patch-schema.ts';
import { serverSideApply } from '../../support/fake-apiserver/server-side-apply.ts';
import type { JsonObject } from '../../support/fake-apiserver/store.ts';

const schema = patchSchemaFor('Pod');
const base = { schema, kind: 'Pod', name: 'web', apiVersion: 'v1', time: '2025-01-01T00:00:00Z' } as const;

function config(image: string, labels: Record<string, string> = { app: 'web' }): JsonObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels }, spec: { containers: [{ name: 'c1', image }] } };
}

function managers(o: JsonObject): string[] {
  const mf = (o['metadata'] as { managedFields?: ManagedFieldsEntry[] }).managedFields ?? [];
  return mf.map((e) => `${e.manager}/${e.operation}`);
}

function conflictOf(f: () => unknown): ApiError | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  return undefined;
}

describe('server-side apply', () => {
  it('creates an object and records the applier as owner in FieldsV1 form', () => {
    const out = serverSideApply({ ...base, live: null, applied: config('nginx:1'), manager: 'kubectl', force: false });
    const mf = (out['metadata'] as { managedFields: ManagedFieldsEntry[] }).managedFields;
    expect(mf).toHaveLength(1);
    expect(mf[0]?.fieldsV1).toEqual({
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': { 'f:containers': { 'k:{"name":"c1"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
    });
  });

  it('removes a field the same manager stops applying', () => {
    const first = serverSideApply({ ...base, live: null, applied: config('nginx:1', { app: 'web', tier: 'x' }), manager: 'kubectl', force: false });
    const second = serverSideApply({ ...base, live: first, applied: config('nginx:2'), manager: 'kubectl', force: false });
    expect((second['metadata'] as { labels: unknown }).labels).toEqual({ app: 'web' });
    expect((second['spec'] as { containers: Array<{ image: string }> }).containers[0]?.image).toBe('nginx:2');
  });

  it('keeps a field another manager still owns', () => {
    const first = serverSideApply({ ...base, live: null, applied: config('nginx:1', { app: 'web', tier: 'x' }), manager: 'a', force: false });
    const shared = serverSideApply({ ...base, live: first, applied: config('nginx:1', { app: 'web', tier: 'x' }), manager: 'b', force: false });
    const dropped = serverSideApply({ ...base, live: shared, applied: config('nginx:1'), manager: 'a', force: false });
    expect((dropped['metadata'] as { labels: unknown }).labels).toEqual({ app: 'web', tier: 'x' });
    expect(managers(dropped).sort()).toEqual(['a/Apply', 'b/Apply']);
  });

  it('refuses to change a field another manager owns with 409 naming manager and path', () => {
    const first = serverSideApply({ ...base, live: null, applied: config('nginx:1'), manager: 'owner', force: false });
    const err = conflictOf(() => serverSideApply({ ...base, live: first, applied: config('nginx:2'), manager: 'intruder', force: false }));
    expect(err?.code).toBe(409);
    expect(err?.status.reason).toBe('Conflict');
    expect(err?.status.message).toBe('Apply failed with 1 conflict: conflict with "owner": .spec.containers[name="c1"].image');
    expect(err?.status.details?.causes?.[0]).toEqual({ reason: 'FieldManagerConflict', message: 'conflict with "owner"', field: '.spec.containers[name="c1"].image' });
  });

  it('takes the field over with force', () => {
    const first = serverSideApply({ ...base, live: null, applied: config('nginx:1'), manager: 'owner', force: false });
    const forced = serverSideApply({ ...base, live: first, applied: config('nginx:2'), manager: 'intruder', force: true });
    expect((forced['spec'] as { containers: Array<{ image: string }> }).containers[0]?.image).toBe('nginx:2');
    const owner = (forced['metadata'] as { managedFields: ManagedFieldsEntry[] }).managedFields.find((e) => e.manager === 'owner');
    expect(fromFieldsV1(owner?.fieldsV1).has('f:spec\nf:containers\nk:{"name":"c1"}\nf:image')).toBe(false);
  });

  it('names an Update manager with its apiVersion in a conflict, as kubectl shows for client-side apply', () => {
    const live = config('nginx:1');
    (live['metadata'] as JsonObject)['managedFields'] = ownershipAfterUpdate([], null, live, 'kubectl-client-side-apply', schema, { apiVersion: 'v1', time: base.time });
    const err = conflictOf(() => serverSideApply({ ...base, live, applied: config('nginx:2'), manager: 'kubectl', force: false }));
    expect(err?.status.message).toBe('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.containers[name="c1"].image');
  });
});

describe('managed fields', () => {
  it('round-trips a field set through FieldsV1', () => {
    const set = fieldSetOf(config('x'), schema);
    expect(fromFieldsV1(toFieldsV1(set))).toEqual(set);
  });

  it('moves ownership of changed fields to the updater and drops removed fields', () => {
    const before = config('nginx:1', { app: 'web', tier: 'x' });
    const entries = ownershipAfterUpdate([], null, before, 'creator', schema, { apiVersion: 'v1', time: base.time });
    const after = config('nginx:2');
    const next = ownershipAfterUpdate(entries, before, after, 'editor', schema, { apiVersion: 'v1', time: base.time });
    const creator = fromFieldsV1(next.find((e) => e.manager === 'creator')?.fieldsV1);
    const editor = fromFieldsV1(next.find((e) => e.manager === 'editor')?.fieldsV1);
    expect(editor.has('f:spec\nf:containers\nk:{"name":"c1"}\nf:image')).toBe(true);
    expect(creator.has('f:spec\nf:containers\nk:{"name":"c1"}\nf:image')).toBe(false);
    expect(creator.has('f:metadata\nf:labels\nf:tier')).toBe(false);
    expect(creator.has('f:metadata\nf:labels\nf:app')).toBe(true);
  });
});
