/**
 * Where a confidential pod can be reached: its IP, learned from the upstream API server.
 *
 * The API server is untrusted, so the answer is only an address: the channel then proves,
 * by attestation, that whatever answers there is the agent of exactly the pod asked for.
 * A wrong address costs availability, never confidentiality.
 *
 * With its own upstream credential the proxy keeps one LIST+WATCH per confidential
 * namespace and answers from that cache (a miss falls back to a GET). Without one
 * (forward-token mode with no credential) it GETs the pod with the caller's own token.
 * Every answer is size-bounded before it is parsed.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ClientHttp2Stream } from 'node:http2';
import { ShadowplaneError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Upstream } from '../upstream.ts';
import { checkLookupStatus, getUpstreamJson } from './upstream-json.ts';

const MAX_OBJECT_BYTES = 1024 * 1024;
const MAX_LIST_BYTES = 256 * 1024 * 1024;
const RELIST_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000] as const;
/** A LIST asked for one request (federation without an own credential, service endpoints). */
const MAX_REQUEST_LIST_BYTES = 64 * 1024 * 1024;
const LIST_TIMEOUT_MS = 10_000;

/** A pod as a LIST names it: an address book entry, nothing more. */
export interface PodAddress {
  readonly name: string;
  readonly ip: string;
}

/** A pod that may back a service: its address, phase, readiness and named container ports. */
export interface PodEndpoint extends PodAddress {
  readonly running: boolean;
  /** The Ready condition is True and the pod is not terminating: what makes it a ready endpoint. */
  readonly ready: boolean;
  /** Container port names → numbers, for a service's named targetPort. */
  readonly ports: ReadonlyMap<string, number>;
}

export interface PodDirectoryOptions {
  readonly upstream: Upstream;
  readonly namespaces: readonly string[];
  /** Headers that authenticate the proxy itself upstream; undefined: no own credential (GET per request). */
  readonly ownAuth: (() => Promise<OutgoingHttpHeaders>) | undefined;
  readonly logger: Logger;
}

interface Entry {
  readonly ip: string | undefined;
}

export class PodDirectory {
  readonly #opts: PodDirectoryOptions;
  readonly #cache = new Map<string, Entry>();
  readonly #watching = new Set<ClientHttp2Stream>();
  /** Namespaces whose LIST has been applied at least once (the cache can answer for them). */
  readonly #synced = new Set<string>();
  #closed = false;

  constructor(opts: PodDirectoryOptions) {
    this.#opts = opts;
    if (opts.ownAuth !== undefined) for (const ns of opts.namespaces) void this.#listAndWatch(ns, 0);
  }

  /**
   * The pod's IP. `callerAuth` authenticates the GET when the proxy has no credential of
   * its own. `fresh` skips the cache (after a failed dial to a cached address).
   */
  async lookup(namespace: string, pod: string, callerAuth: OutgoingHttpHeaders, fresh = false): Promise<string> {
    const key = `${namespace}/${pod}`;
    const cached = fresh ? undefined : this.#cache.get(key);
    if (cached?.ip !== undefined) return cached.ip;
    const { status, body } = await this.#getPod(namespace, pod, callerAuth);
    if (status === 404) throw new ShadowplaneError('SP_POD_NOT_FOUND', `${namespace}/${pod}`);
    if (status === 401 || status === 403) throw new ShadowplaneError('SP_FORBIDDEN', `the API server refused to look up ${namespace}/${pod}`);
    if (status !== 200) throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `pod lookup answered HTTP ${status}`);
    const ip = podIpOf(parseJson(body));
    if (ip === undefined) throw new ShadowplaneError('SP_POD_NOT_FOUND', `${namespace}/${pod} has no IP address yet`);
    if (this.#opts.ownAuth !== undefined) this.#cache.set(key, { ip });
    return ip;
  }

  /**
   * Whether any container of the pod runs, as the API server says (a fresh GET): only to
   * tell a user why its agent does not answer. It decides no access, since an untrusted
   * answer here can only choose between two refusals.
   */
  async anyContainerRunning(namespace: string, pod: string, callerAuth: OutgoingHttpHeaders): Promise<boolean> {
    const { status, body } = await this.#getPod(namespace, pod, callerAuth);
    if (status !== 200) throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `pod lookup answered HTTP ${status}`);
    const statuses = (parseJson(body) as { status?: { containerStatuses?: unknown } } | null)?.status?.containerStatuses;
    if (!Array.isArray(statuses)) return true;
    return statuses.some((c) => typeof c === 'object' && c !== null && typeof (c as { state?: { running?: unknown } }).state?.running === 'object');
  }

  /**
   * The pods of a namespace that have an address: from the watched cache once it is
   * synced, else by one LIST (authenticated by `callerAuth` without an own credential).
   */
  async list(namespace: string, callerAuth: OutgoingHttpHeaders): Promise<PodAddress[]> {
    if (this.#opts.ownAuth !== undefined && this.#synced.has(namespace)) {
      const out: PodAddress[] = [];
      for (const [key, entry] of this.#cache) {
        if (entry.ip !== undefined && key.startsWith(`${namespace}/`)) out.push({ name: key.slice(namespace.length + 1), ip: entry.ip });
      }
      return out;
    }
    return (await this.#listItems(namespace, undefined, callerAuth)).flatMap((item) => {
      const name = nameOf(item);
      const ip = podIpOf(item);
      return name === undefined || ip === undefined ? [] : [{ name, ip }];
    });
  }

  /** The pods a label selector picks (one LIST), with what a service needs to pick a port. */
  async select(namespace: string, labelSelector: string, callerAuth: OutgoingHttpHeaders): Promise<PodEndpoint[]> {
    return (await this.#listItems(namespace, labelSelector, callerAuth)).flatMap((item) => {
      const name = nameOf(item);
      const ip = podIpOf(item);
      if (name === undefined || ip === undefined) return [];
      const running = (item as { status?: { phase?: unknown } }).status?.phase === 'Running';
      return [{ name, ip, running, ready: isReady(item), ports: namedPortsOf(item) }];
    });
  }

  async #listItems(namespace: string, labelSelector: string | undefined, callerAuth: OutgoingHttpHeaders): Promise<unknown[]> {
    const auth = this.#opts.ownAuth === undefined ? callerAuth : await this.#opts.ownAuth();
    const query = labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    const what = `pods of ${namespace}`;
    const { status, value } = await getUpstreamJson(this.#opts.upstream, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods${query}`, auth, { maxBytes: MAX_REQUEST_LIST_BYTES, timeoutMs: LIST_TIMEOUT_MS, what });
    checkLookupStatus(status, what);
    const items = (value as { items?: unknown } | null)?.items;
    return Array.isArray(items) ? (items as unknown[]) : [];
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#watching) s.close();
    this.#watching.clear();
  }

  /** One pod, as the API server has it now: with the proxy's own credential, else the caller's. */
  async #getPod(namespace: string, pod: string, callerAuth: OutgoingHttpHeaders): Promise<{ status: number; body: Buffer }> {
    const auth = this.#opts.ownAuth === undefined ? callerAuth : await this.#opts.ownAuth();
    return this.#get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`, auth);
  }

  async #get(path: string, auth: OutgoingHttpHeaders): Promise<{ status: number; body: Buffer }> {
    const stream = await this.#opts.upstream.request('GET', path, { ...auth, accept: 'application/json' }, { endStream: true });
    return new Promise((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => {
        stream.close();
        reject(new ShadowplaneError('SP_UPSTREAM_TIMEOUT', 'pod lookup'));
      }, 10_000);
      stream.on('response', (h: IncomingHttpHeaders & { ':status'?: number }) => (status = h[':status'] ?? 0));
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_OBJECT_BYTES) {
          stream.close();
          clearTimeout(timer);
          reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'pod lookup answer too large'));
          return;
        }
        chunks.push(c);
      });
      stream.on('end', () => {
        clearTimeout(timer);
        resolve({ status, body: Buffer.concat(chunks) });
      });
      stream.on('error', () => {
        clearTimeout(timer);
        reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'pod lookup'));
      });
    });
  }

  async #listAndWatch(namespace: string, attempt: number): Promise<void> {
    if (this.#closed || this.#opts.ownAuth === undefined) return;
    try {
      const auth = await this.#opts.ownAuth();
      const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
      const list = await this.#getLarge(base, auth);
      const doc = parseJson(list) as { metadata?: { resourceVersion?: unknown }; items?: unknown };
      const rv = typeof doc.metadata?.resourceVersion === 'string' ? doc.metadata.resourceVersion : '';
      for (const key of [...this.#cache.keys()]) if (key.startsWith(`${namespace}/`)) this.#cache.delete(key);
      if (Array.isArray(doc.items)) for (const item of doc.items) this.#apply(namespace, 'ADDED', item);
      this.#synced.add(namespace);
      await this.#watch(namespace, `${base}?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`, auth);
      attempt = 0;
    } catch (err) {
      this.#opts.logger.debug({ namespace, code: err instanceof ShadowplaneError ? err.code : 'SP_UPSTREAM_UNAVAILABLE' }, 'pod watch interrupted');
      attempt++;
    }
    if (this.#closed) return;
    const delay = RELIST_BACKOFF_MS[Math.min(attempt, RELIST_BACKOFF_MS.length - 1)]!;
    setTimeout(() => void this.#listAndWatch(namespace, attempt), attempt === 0 ? 0 : delay).unref();
  }

  async #getLarge(path: string, auth: OutgoingHttpHeaders): Promise<Buffer> {
    const stream = await this.#opts.upstream.request('GET', path, { ...auth, accept: 'application/json' }, { endStream: true });
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let status = 0;
      stream.on('response', (h: IncomingHttpHeaders & { ':status'?: number }) => (status = h[':status'] ?? 0));
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_LIST_BYTES) {
          stream.close();
          reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'pod list too large'));
        } else chunks.push(c);
      });
      stream.on('end', () => (status === 200 ? resolve(Buffer.concat(chunks)) : reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `pod list answered HTTP ${status}`))));
      stream.on('error', () => reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'pod list')));
    });
  }

  /** Follows a watch until it ends; each event is one JSON line, bounded. */
  async #watch(namespace: string, path: string, auth: OutgoingHttpHeaders): Promise<void> {
    const stream = await this.#opts.upstream.request('GET', path, { ...auth, accept: 'application/json' }, { endStream: true });
    this.#watching.add(stream);
    try {
      await new Promise<void>((resolve, reject) => {
        let pending: Buffer = Buffer.alloc(0);
        stream.on('data', (c: Buffer) => {
          pending = pending.length === 0 ? c : Buffer.concat([pending, c]);
          let nl: number;
          try {
            while ((nl = pending.indexOf(10)) !== -1) {
              const line = pending.subarray(0, nl);
              pending = pending.subarray(nl + 1);
              if (line.length > 0) this.#event(namespace, line);
            }
          } catch (err) {
            // Never throw out of an event handler: end this watch and relist.
            stream.close();
            reject(err instanceof Error ? err : new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'watch stream'));
            return;
          }
          if (pending.length > MAX_OBJECT_BYTES) {
            stream.close();
            reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'watch event too large'));
          }
        });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', 'pod watch')));
      });
    } finally {
      this.#watching.delete(stream);
    }
  }

  #event(namespace: string, line: Buffer): void {
    const e = parseJson(line) as { type?: unknown; object?: unknown };
    if (e.type === 'ERROR') throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'watch expired');
    if (typeof e.type === 'string') this.#apply(namespace, e.type, e.object);
  }

  #apply(namespace: string, type: string, obj: unknown): void {
    const name = (obj as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    if (typeof name !== 'string') return;
    const key = `${namespace}/${name}`;
    if (type === 'DELETED') this.#cache.delete(key);
    else if (type === 'ADDED' || type === 'MODIFIED') this.#cache.set(key, { ip: podIpOf(obj) });
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', 'the API server answered something that is not JSON');
  }
}

function nameOf(obj: unknown): string | undefined {
  const name = (obj as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name === 'string' && /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name) ? name : undefined;
}

function namedPortsOf(obj: unknown): Map<string, number> {
  const ports = new Map<string, number>();
  const containers = (obj as { spec?: { containers?: unknown } } | null)?.spec?.containers;
  if (!Array.isArray(containers)) return ports;
  for (const c of containers.slice(0, 64)) {
    const list = (c as { ports?: unknown } | null)?.ports;
    if (!Array.isArray(list)) continue;
    for (const p of list.slice(0, 256)) {
      const { name, containerPort } = (p ?? {}) as { name?: unknown; containerPort?: unknown };
      if (typeof name === 'string' && Number.isInteger(containerPort) && (containerPort as number) >= 1 && (containerPort as number) <= 65_535 && !ports.has(name)) ports.set(name, containerPort as number);
    }
  }
  return ports;
}

function podIpOf(obj: unknown): string | undefined {
  const ip = (obj as { status?: { podIP?: unknown } } | null)?.status?.podIP;
  return typeof ip === 'string' && /^[0-9a-fA-F:.]{2,45}$/.test(ip) ? ip : undefined;
}

/** As the endpoints controller judges it: condition Ready is True, and no deletion has begun. */
function isReady(item: unknown): boolean {
  const pod = item as { metadata?: { deletionTimestamp?: unknown }; status?: { conditions?: unknown } } | null;
  if (pod?.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return false;
  const conditions = pod?.status?.conditions;
  if (!Array.isArray(conditions)) return false;
  return conditions.some((c: unknown) => (c as { type?: unknown; status?: unknown } | null)?.type === 'Ready' && (c as { status?: unknown }).status === 'True');
}
