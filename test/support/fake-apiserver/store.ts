/**
 * The stand-in's etcd: objects per resource, one global resourceVersion counter, and a
 * bounded history of change events that watches replay from a resourceVersion.
 *
 * Invariants:
 * - every write gets a new, strictly increasing resourceVersion shared by all resources
 *   (like etcd's revision), written into `metadata.resourceVersion`;
 * - a stored object is a snapshot: its JSON text is produced once at write time and is
 *   what lists, gets and watch events send (so a 5,000-pod list is a join of cached
 *   strings); callers never mutate `object` (they clone it first);
 * - history keeps the last `historyLimit` events; a watch from an older resourceVersion is
 *   answered "410 Gone / Expired" exactly like a compacted etcd.
 */

export type JsonObject = { [key: string]: unknown };

export interface KubeObject extends JsonObject {
  apiVersion?: string;
  kind?: string;
  metadata: JsonObject & { name?: string; namespace?: string; resourceVersion?: string };
}

export interface StoredObject {
  readonly resource: string;
  /** '' for cluster-scoped objects. */
  readonly namespace: string;
  readonly name: string;
  readonly rv: number;
  readonly object: Readonly<KubeObject>;
  readonly json: string;
}

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: StoreEventType;
  readonly rv: number;
  readonly resource: string;
  /** The object after the change (for DELETED: the last state, carrying the delete's rv). */
  readonly current: StoredObject;
  /** The object before the change (null for ADDED). */
  readonly previous: StoredObject | null;
}

export type StoreListener = (event: StoreEvent) => void;

export class ObjectStore {
  #rv: number;
  #compactedRv: number;
  readonly #historyLimit: number;
  readonly #objects = new Map<string, Map<string, StoredObject>>();
  readonly #sorted = new Map<string, StoredObject[] | null>();
  readonly #history: StoreEvent[] = [];
  readonly #listeners = new Set<StoreListener>();

  constructor(options: { initialResourceVersion?: number; historyLimit?: number } = {}) {
    this.#rv = options.initialResourceVersion ?? 1000;
    this.#compactedRv = this.#rv;
    this.#historyLimit = options.historyLimit ?? 10_000;
  }

  /** The latest resourceVersion (etcd revision). */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Events at or below this resourceVersion are no longer replayable. */
  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  static key(namespace: string, name: string): string {
    return namespace === '' ? name : `${namespace}/${name}`;
  }

  get(resource: string, namespace: string, name: string): StoredObject | undefined {
    return this.#objects.get(resource)?.get(ObjectStore.key(namespace, name));
  }

  /** Objects of a resource sorted by key (etcd order), optionally in one namespace. */
  list(resource: string, namespace = ''): readonly StoredObject[] {
    let all = this.#sorted.get(resource);
    if (all === undefined || all === null) {
      const m = this.#objects.get(resource);
      all = m === undefined ? [] : [...m.values()].sort((a, b) => compareKeys(a, b));
      this.#sorted.set(resource, all);
    }
    return namespace === '' ? all : all.filter((o) => o.namespace === namespace);
  }

  count(resource: string): number {
    return this.#objects.get(resource)?.size ?? 0;
  }

  /** Stores a new object; the caller has checked that it does not exist. */
  create(resource: string, object: KubeObject): StoredObject {
    return this.#write(resource, object, 'ADDED');
  }

  /** Replaces an existing object; the caller has checked that it exists. */
  update(resource: string, object: KubeObject): StoredObject {
    return this.#write(resource, object, 'MODIFIED');
  }

  /** Removes an object; returns its final state stamped with the delete's resourceVersion. */
  delete(resource: string, namespace: string, name: string): StoredObject | undefined {
    const map = this.#objects.get(resource);
    const key = ObjectStore.key(namespace, name);
    const previous = map?.get(key);
    if (map === undefined || previous === undefined) return undefined;
    const rv = ++this.#rv;
    const object = withResourceVersion(previous.object, rv);
    const final = snapshot(resource, namespace, name, rv, object);
    map.delete(key);
    this.#sorted.set(resource, null);
    this.#emit({ type: 'DELETED', rv, resource, current: final, previous });
    return final;
  }

  /**
   * Events after `rv` (exclusive), or 'expired' when that part of history is gone.
   * `rv` above the current resourceVersion simply yields nothing yet.
   */
  eventsSince(rv: number): readonly StoreEvent[] | 'expired' {
    if (rv < this.#compactedRv) return 'expired';
    // History is ordered by rv; binary search for the first event after rv.
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#history[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  /** Forgets all history, as an etcd compaction at the current revision would. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedRv = this.#rv;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #write(resource: string, object: KubeObject, type: 'ADDED' | 'MODIFIED'): StoredObject {
    const name = object.metadata.name ?? '';
    const namespace = object.metadata.namespace ?? '';
    let map = this.#objects.get(resource);
    if (map === undefined) {
      map = new Map();
      this.#objects.set(resource, map);
    }
    const key = ObjectStore.key(namespace, name);
    const previous = map.get(key) ?? null;
    const rv = ++this.#rv;
    const stored = snapshot(resource, namespace, name, rv, withResourceVersion(object, rv));
    map.set(key, stored);
    if (previous === null) this.#sorted.set(resource, null);
    else {
      const sorted = this.#sorted.get(resource);
      if (sorted !== undefined && sorted !== null) {
        const i = sorted.indexOf(previous);
        if (i >= 0) sorted[i] = stored;
        else this.#sorted.set(resource, null);
      }
    }
    this.#emit({ type, rv, resource, current: stored, previous });
    return stored;
  }

  #emit(event: StoreEvent): void {
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      this.#compactedRv = dropped[dropped.length - 1]?.rv ?? this.#compactedRv;
    }
    for (const l of [...this.#listeners]) l(event);
  }
}

/** etcd orders by the full key string (`<namespace>/<name>`), not by (namespace, name). */
function compareKeys(a: StoredObject, b: StoredObject): number {
  const ka = ObjectStore.key(a.namespace, a.name);
  const kb = ObjectStore.key(b.namespace, b.name);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function withResourceVersion(object: Readonly<KubeObject>, rv: number): KubeObject {
  return { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } };
}

function snapshot(resource: string, namespace: string, name: string, rv: number, object: KubeObject): StoredObject {
  return { resource, namespace, name, rv, object, json: JSON.stringify(object) };
}
