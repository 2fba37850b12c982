import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ApiCall } from '../../support/fake-apiserver/api-call.ts';
import { Cluster } from '../../support/fake-apiserver/cluster.ts';
import { podType } from '../../support/fake-apiserver/pods.ts';
import { requestInfo, type ResourceRequestInfo } from '../../support/fake-apiserver/request-info.ts';
import type { ResponseLike } from '../../support/fake-apiserver/respond.ts';
import { ApiError } from '../../support/fake-apiserver/status.ts';
import { handleWatch } from '../../support/fake-apiserver/watch-handler.ts';

/** A ResponseLike that keeps what was written. */
class CapturedResponse extends EventEmitter implements ResponseLike {
  status = 0;
  headers: Record<string, string | string[]> = {};
  chunks: string[] = [];
  headersSent = false;
  writableEnded = false;
  writeHead(status: number, headers: Record<string, string | string[]>): this {
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }
  write(chunk: string | Buffer): boolean {
    this.chunks.push(chunk.toString());
    this.emit('wrote');
    return true;
  }
  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.chunks.push(chunk.toString());
    this.writableEnded = true;
    this.emit('ended');
    return this;
  }
  events(): Array<{ type: string; object: { metadata: Record<string, unknown>; code?: number; reason?: string; [k: string]: unknown } }> {
    return this.chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as ReturnType<CapturedResponse['events']>[number]);
  }
}

function cluster(historyLimit = 100): Cluster {
  return new Cluster({ clock: () => Date.parse('2025-01-01T00:00:00Z'), autoStartPods: false, nodeName: 'n', nodeIP: '127.0.0.1', podNetworkPrefix: '127.0.1', historyLimit, maxLogLinesPerContainer: 10 });
}

function watch(c: Cluster, query: string, path = '/api/v1/namespaces/default/pods'): { res: CapturedResponse; done: Promise<void>; stop: () => void } {
  const res = new CapturedResponse();
  const q = new URLSearchParams(`watch=true&${query}`);
  const abort = new AbortController();
  const call: ApiCall = {
    info: requestInfo('GET', path, q) as ResourceRequestInfo,
    type: podType,
    query: q,
    accept: 'application/json',
    contentType: undefined,
    userAgent: 'test',
    user: { user: 'admin', groups: [] },
    body: Readable.from([]),
    res,
    auditId: 'a',
    cluster: c,
    signal: abort.signal,
    gzip: false,
  };
  const done = handleWatch(call, { bookmarkIntervalMs: 20, defaultTimeoutSeconds: 5, maxQueuedEvents: 100 });
  return { res, done, stop: () => abort.abort() };
}

async function until(res: CapturedResponse, n: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (res.events().length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} watch events`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const podOf = (name: string, labels?: Record<string, string>) => ({ namespace: 'default', name, containers: [{ name: 'c' }], ...(labels ? { labels } : {}) });

describe('watch resourceVersion semantics', () => {
  it('starts with ADDED events for current objects when no resourceVersion is given, then streams changes', async () => {
    const c = cluster();
    c.addPod(podOf('a'));
    c.addPod(podOf('b'));
    const w = watch(c, '');
    await until(w.res, 2);
    c.setPodIP('default', 'a', '127.0.1.9');
    c.deletePod('default', 'b');
    await until(w.res, 4);
    w.stop();
    await w.done;
    expect(w.res.events().map((e) => `${e.type}:${String(e.object.metadata['name'])}`)).toEqual(['ADDED:a', 'ADDED:b', 'MODIFIED:a', 'DELETED:b']);
    expect(w.res.writableEnded).toBe(true);
  });

  it('replays exactly the changes after a given resourceVersion, each with its own increasing resourceVersion', async () => {
    const c = cluster();
    const a = c.addPod(podOf('a'));
    c.addPod(podOf('b'));
    c.deletePod('default', 'a');
    const w = watch(c, `resourceVersion=${a.rv}`);
    await until(w.res, 2);
    w.stop();
    await w.done;
    const events = w.res.events();
    expect(events.map((e) => `${e.type}:${String(e.object.metadata['name'])}`)).toEqual(['ADDED:b', 'DELETED:a']);
    const rvs = events.map((e) => Number(e.object.metadata['resourceVersion']));
    expect(rvs[0]).toBeGreaterThan(a.rv);
    expect(rvs[1]).toBeGreaterThan(rvs[0] ?? 0);
    expect(rvs[1]).toBe(c.store.resourceVersion);
  });

  it('answers a resourceVersion older than the kept history with one ERROR event (410 Expired) and ends', async () => {
    const c = cluster(2);
    const a = c.addPod(podOf('a'));
    for (const n of ['b', 'c', 'd']) c.addPod(podOf(n));
    const w = watch(c, `resourceVersion=${a.rv - 1}`);
    await w.done;
    expect(w.res.status).toBe(200);
    const events = w.res.events();
    expect(events).toHaveLength(1);
    expect(events[0]?.type).toBe('ERROR');
    expect(events[0]?.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    expect(String(events[0]?.object['message'])).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('sends initial events and an initial-events-end bookmark for sendInitialEvents', async () => {
    const c = cluster();
    c.addPod(podOf('a'));
    const w = watch(c, 'sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true');
    await until(w.res, 2);
    w.stop();
    await w.done;
    const [added, bookmark] = w.res.events();
    expect(added?.type).toBe('ADDED');
    expect(bookmark?.type).toBe('BOOKMARK');
    expect(bookmark?.object.metadata['annotations']).toEqual({ 'k8s.io/initial-events-end': 'true' });
    expect(bookmark?.object.metadata['resourceVersion']).toBe(String(c.store.resourceVersion));
  });

  it('sends periodic bookmarks only when allowed', async () => {
    const c = cluster();
    const rv = c.store.resourceVersion;
    const w = watch(c, `resourceVersion=${rv}&allowWatchBookmarks=true`);
    await until(w.res, 2);
    w.stop();
    await w.done;
    expect(w.res.events().every((e) => e.type === 'BOOKMARK' && e.object.metadata['resourceVersion'] === String(rv))).toBe(true);
    const quiet = watch(c, `resourceVersion=${rv}`);
    await new Promise((r) => setTimeout(r, 80));
    quiet.stop();
    await quiet.done;
    expect(quiet.res.events()).toEqual([]);
  });

  it('ends the stream by itself after timeoutSeconds', async () => {
    const c = cluster();
    const started = Date.now();
    const w = watch(c, `resourceVersion=${c.store.resourceVersion}&timeoutSeconds=1`);
    await w.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(w.res.writableEnded).toBe(true);
  });

  it('turns a change into the selection into ADDED and out of it into DELETED', async () => {
    const c = cluster();
    c.addPod(podOf('a', { app: 'x' }));
    const w = watch(c, `resourceVersion=${c.store.resourceVersion}&fieldSelector=status.podIP%3D127.0.1.50`);
    c.setPodIP('default', 'a', '127.0.1.50');
    c.setPodIP('default', 'a', '127.0.1.51');
    await until(w.res, 2);
    w.stop();
    await w.done;
    expect(w.res.events().map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
  });

  it('refuses resourceVersionMatch without sendInitialEvents and sendInitialEvents without NotOlderThan (422)', async () => {
    const c = cluster();
    for (const q of ['resourceVersionMatch=NotOlderThan&resourceVersion=1', 'sendInitialEvents=true&allowWatchBookmarks=true']) {
      const err = await watch(c, q).done.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe(422);
    }
  });

  it('answers a resourceVersion from the future with 504 Too large resource version', async () => {
    const c = cluster();
    const err = await watch(c, `resourceVersion=${c.store.resourceVersion + 10}`).done.then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as ApiError).code).toBe(504);
    expect((err as ApiError).status.message).toBe(`Too large resource version: ${c.store.resourceVersion + 10}, current: ${c.store.resourceVersion}`);
  });

  it('skips the current state when sendInitialEvents=false', async () => {
    const c = cluster();
    c.addPod(podOf('a'));
    const w = watch(c, 'sendInitialEvents=false&resourceVersionMatch=NotOlderThan');
    c.addPod(podOf('b'));
    await until(w.res, 1);
    w.stop();
    await w.done;
    expect(w.res.events().map((e) => e.object.metadata['name'])).toEqual(['b']);
  });

  it('watches one object when the path names it', async () => {
    const c = cluster();
    c.addPod(podOf('a'));
    c.addPod(podOf('b'));
    const w = watch(c, '', '/api/v1/namespaces/default/pods/b');
    await until(w.res, 1);
    w.stop();
    await w.done;
    expect(w.res.events().map((e) => e.object.metadata['name'])).toEqual(['b']);
  });
});

describe('object store', () => {
  it('gives every write a new resourceVersion shared across resources', () => {
    const c = cluster();
    const before = c.store.resourceVersion;
    const ns = c.createNamespace('x');
    const pod = c.addPod({ namespace: 'x', name: 'p', containers: [{ name: 'c' }] });
    expect(ns.rv).toBe(before + 1);
    expect(pod.rv).toBe(before + 2);
    expect(pod.object.metadata.resourceVersion).toBe(String(pod.rv));
  });

  it('lists in etcd key order', () => {
    const c = cluster();
    for (const [ns, name] of [['b', 'x'], ['a-b', 'x'], ['a', 'y'], ['a', 'x']] as const) c.addPod({ namespace: ns, name, containers: [{ name: 'c' }] });
    expect(c.store.list('pods').map((o) => `${o.namespace}/${o.name}`)).toEqual(['a-b/x', 'a/x', 'a/y', 'b/x']);
  });

  it('reports history older than a compaction as expired', () => {
    const c = cluster();
    const rv = c.store.resourceVersion;
    c.addPod(podOf('a'));
    c.store.compact();
    expect(c.store.eventsSince(rv)).toBe('expired');
    expect(c.store.eventsSince(c.store.resourceVersion)).toEqual([]);
  });
});
