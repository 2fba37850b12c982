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

const MAX_OBJECT_BYTES = 1024 * 1024;
const MAX_LIST_BYTES = 256 * 1024 * 1024;
const RELIST_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000] as const;

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
    const auth = this.#opts.ownAuth === undefined ? callerAuth : await this.#opts.ownAuth();
    const { status, body } = await this.#get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`, auth);
    if (status === 404) throw new ShadowplaneError('SP_POD_NOT_FOUND', `${namespace}/${pod}`);
    if (status === 401 || status === 403) throw new ShadowplaneError('SP_FORBIDDEN', `the API server refused to look up ${namespace}/${pod}`);
    if (status !== 200) throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `pod lookup answered HTTP ${status}`);
    const ip = podIpOf(parseJson(body));
    if (ip === undefined) throw new ShadowplaneError('SP_POD_NOT_FOUND', `${namespace}/${pod} has no IP address yet`);
    if (this.#opts.ownAuth !== undefined) this.#cache.set(key, { ip });
    return ip;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#watching) s.close();
    this.#watching.clear();
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

function podIpOf(obj: unknown): string | undefined {
  const ip = (obj as { status?: { podIP?: unknown } } | null)?.status?.podIP;
  return typeof ip === 'string' && /^[0-9a-fA-F:.]{2,45}$/.test(ip) ? ip : undefined;
}
