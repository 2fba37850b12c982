import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { applyJsonPatch } from '../../support/fake-apiserver/json-patch.ts';
import { applyMergePatch } from '../../support/fake-apiserver/merge-patch.ts';
import { patchSchemaFor } from '../../support/fake-apiserver/patch-schema.ts';
import { applyStrategicMergePatch } from '../../support/fake-apiserver/strategic-merge-patch.ts';

const podSchema = patchSchemaFor('Pod');

function pod(): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: 'p', labels: { app: 'a', tier: 'web' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'c1', image: 'nginx:1', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
        { name: 'c2', image: 'busybox' },
      ],
      tolerations: [{ key: 'k1' }, { key: 'k2' }],
      volumes: [{ name: 'v', emptyDir: {} }],
    },
  };
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isShadowplaneError(err) ? err.code : 'other';
  }
  return undefined;
}

describe('JSON merge patch (RFC 7386)', () => {
  it('merges objects, deletes on null and replaces arrays', () => {
    const out = applyMergePatch(pod(), { metadata: { labels: { tier: null, new: 'y' } }, spec: { tolerations: [{ key: 'only' }] } }) as ReturnType<typeof pod>;
    expect((out['metadata'] as { labels: unknown }).labels).toEqual({ app: 'a', new: 'y' });
    expect((out['spec'] as { tolerations: unknown }).tolerations).toEqual([{ key: 'only' }]);
  });

  it('follows the RFC examples', () => {
    expect(applyMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(applyMergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(applyMergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    expect(applyMergePatch({ a: 'foo' }, 'bar')).toBe('bar');
    expect(applyMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('applies add, remove, replace, move, copy and test in order', () => {
    const doc = { a: { b: [1, 2] }, c: 'x', 'we/ird~': 1 };
    const out = applyJsonPatch(doc, [
      { op: 'test', path: '/c', value: 'x' },
      { op: 'add', path: '/a/b/-', value: 3 },
      { op: 'add', path: '/a/b/0', value: 0 },
      { op: 'replace', path: '/c', value: 'y' },
      { op: 'remove', path: '/we~1ird~0' },
      { op: 'copy', from: '/a/b', path: '/d' },
      { op: 'move', from: '/c', path: '/e' },
    ]);
    expect(out).toEqual({ a: { b: [0, 1, 2, 3] }, d: [0, 1, 2, 3], e: 'y' });
    expect(doc).toEqual({ a: { b: [1, 2] }, c: 'x', 'we/ird~': 1 });
  });

  it('refuses a failed test, a missing path and an unknown op with SP_BAD_REQUEST', () => {
    expect(code(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }]))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyJsonPatch({ a: 1 }, [{ op: 'frobnicate', path: '/a' }]))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyJsonPatch({ a: [] }, [{ op: 'add', path: '/a/5', value: 1 }]))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyJsonPatch({ a: 1 }, { op: 'add' }))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]))).toBe('SP_BAD_REQUEST');
  });

  it('does not put values into error messages', () => {
    try {
      applyJsonPatch({ a: 'secret-value' }, [{ op: 'test', path: '/a', value: 'other-secret' }]);
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('secret');
    }
  });
});

describe('strategic merge patch', () => {
  it('merges containers by name and keeps the others', () => {
    const out = applyStrategicMergePatch(pod(), { spec: { containers: [{ name: 'c1', image: 'nginx:2' }] } }, podSchema);
    const containers = (out['spec'] as { containers: Array<Record<string, unknown>> }).containers;
    expect(containers.map((c) => [c['name'], c['image']])).toEqual([
      ['c1', 'nginx:2'],
      ['c2', 'busybox'],
    ]);
    expect(containers[0]?.['env']).toEqual([{ name: 'A', value: '1' }]);
  });

  it('applies the patch kubectl apply sends for an image change ($setElementOrder)', () => {
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: { '$setElementOrder/containers': [{ name: 'c2' }, { name: 'c1' }], containers: [{ image: 'nginx:3', name: 'c1' }] },
    };
    const out = applyStrategicMergePatch(pod(), patch, podSchema);
    const containers = (out['spec'] as { containers: Array<Record<string, unknown>> }).containers;
    expect(containers.map((c) => c['name'])).toEqual(['c2', 'c1']);
    expect(containers[1]?.['image']).toBe('nginx:3');
  });

  it('deletes list elements with $patch: delete and map keys with null', () => {
    const out = applyStrategicMergePatch(
      pod(),
      { metadata: { labels: { tier: null } }, spec: { containers: [{ name: 'c2', $patch: 'delete' }, { name: 'c1', env: [{ name: 'A', $patch: 'delete' }] }] } },
      podSchema,
    );
    const spec = out['spec'] as { containers: Array<Record<string, unknown>> };
    expect(spec.containers).toHaveLength(1);
    expect(spec.containers[0]?.['env']).toEqual([]);
    expect((out['metadata'] as { labels: unknown }).labels).toEqual({ app: 'a' });
  });

  it('replaces atomic lists and honours $patch: replace inside a merge list', () => {
    const out = applyStrategicMergePatch(pod(), { spec: { tolerations: [{ key: 'k3' }], containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] } }, podSchema);
    const spec = out['spec'] as Record<string, unknown>;
    expect(spec['tolerations']).toEqual([{ key: 'k3' }]);
    expect(spec['containers']).toEqual([{ name: 'only', image: 'x' }]);
  });

  it('merges primitive lists with a strategy and removes with $deleteFromPrimitiveList', () => {
    const out = applyStrategicMergePatch(pod(), { metadata: { finalizers: ['y'], '$deleteFromPrimitiveList/finalizers': ['x'] } }, podSchema);
    expect((out['metadata'] as { finalizers: unknown }).finalizers).toEqual(['y']);
  });

  it('keeps only the listed keys with $retainKeys', () => {
    const out = applyStrategicMergePatch(pod(), { spec: { volumes: [{ name: 'v', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/x' } }] } }, podSchema);
    expect((out['spec'] as { volumes: unknown }).volumes).toEqual([{ name: 'v', hostPath: { path: '/x' } }]);
  });

  it('replaces a whole map with $patch: replace', () => {
    const out = applyStrategicMergePatch(pod(), { metadata: { labels: { $patch: 'replace', only: 'one' } } }, podSchema);
    expect((out['metadata'] as { labels: unknown }).labels).toEqual({ only: 'one' });
  });

  it('refuses malformed directives with SP_BAD_REQUEST', () => {
    expect(code(() => applyStrategicMergePatch(pod(), { spec: { containers: [{ image: 'no-name' }] } }, podSchema))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyStrategicMergePatch(pod(), { metadata: { $patch: 'explode' } }, podSchema))).toBe('SP_BAD_REQUEST');
    expect(code(() => applyStrategicMergePatch(pod(), [1, 2], podSchema))).toBe('SP_BAD_REQUEST');
  });

  it('never mutates the original', () => {
    const original = pod();
    const copy = structuredClone(original);
    applyStrategicMergePatch(original, { spec: { containers: [{ name: 'c1', image: 'z' }] } }, podSchema);
    expect(original).toEqual(copy);
  });
});
