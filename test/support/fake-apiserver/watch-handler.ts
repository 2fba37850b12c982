/**
 * WATCH with kube-apiserver's resourceVersion semantics:
 *
 * - no resourceVersion or "0": synthetic ADDED events for the current matching objects,
 *   then changes (with `sendInitialEvents=false`: only the changes);
 * - a resourceVersion beyond the current one: 504 "Too large resource version";
 * - resourceVersion=N: every change after N, replayed from history; N older than the
 *   compacted history gives a 200 stream with one ERROR event (410 Expired) and the end;
 * - `sendInitialEvents=true` (with `resourceVersionMatch=NotOlderThan` and bookmarks):
 *   initial ADDED events, then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`;
 * - `allowWatchBookmarks=true`: periodic BOOKMARK events carrying only the current
 *   resourceVersion;
 * - `timeoutSeconds`: the server ends the stream; otherwise the configured default;
 * - selectors: an object moving into the selection is ADDED, out of it DELETED.
 *
 * Events are encoded as JSON lines, Table rows (column definitions only in the first
 * event) or length-prefixed protobuf frames, and flushed one by one. A client too slow
 * to take `maxQueuedEvents` events is cut off, as the watch cache does.
 */
import { representationFor, type ApiCall } from './api-call.ts';
import { parseBool } from './request-info.ts';
import { drained, standardHeaders, startStream } from './respond.ts';
import { selectorFor } from './read-handler.ts';
import { encodeWatchFrame, PROTOBUF_MEDIA_TYPE } from './protobuf.ts';
import { Errors } from './status.ts';
import type { KubeObject, StoreEvent, StoredObject } from './store.ts';
import { parseIncludeObject, tableJson, type TableOptions } from './table.ts';

export interface WatchSettings {
  readonly bookmarkIntervalMs: number;
  readonly defaultTimeoutSeconds: number;
  readonly maxQueuedEvents: number;
}

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

function invalidWatch(field: string, message: string): Error {
  return Errors.invalid('ListOptions', '', [{ reason: 'FieldValueForbidden', message: `Forbidden: ${message}`, field }]);
}

export async function handleWatch(call: ApiCall, settings: WatchSettings): Promise<void> {
  const q = call.query;
  const store = call.cluster.store;
  const rvParam = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const bookmarks = parseBool(q.get('allowWatchBookmarks')) === true;
  const initialEvents = parseBool(q.get('sendInitialEvents'));
  if (initialEvents !== undefined) {
    if (match !== 'NotOlderThan') throw invalidWatch('sendInitialEvents', 'sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan');
    if (!bookmarks && initialEvents) throw invalidWatch('allowWatchBookmarks', 'allowWatchBookmarks must be set to true when sendInitialEvents is true');
  } else if (match !== '') {
    throw invalidWatch('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
  }
  if (rvParam !== '' && !/^\d+$/.test(rvParam)) throw Errors.badRequest('invalid resource version');
  const timeoutParam = q.get('timeoutSeconds');
  if (timeoutParam !== null && !/^\d+$/.test(timeoutParam)) throw Errors.badRequest('invalid timeoutSeconds');
  const timeoutSeconds = timeoutParam === null || timeoutParam === '0' ? settings.defaultTimeoutSeconds : Number(timeoutParam);

  const matches = selectorFor(call);
  const rep = representationFor(call, call.type.kind);
  const tableOpts: TableOptions | null =
    rep.kind === 'table' ? { version: rep.version, includeObject: parseIncludeObject(q.get('includeObject')), noHeaders: false } : null;
  let headersSent = false;

  const encode = (type: WatchType, object: Readonly<KubeObject>, json: string): string | Buffer => {
    if (rep.kind === 'protobuf' && type !== 'ERROR' && type !== 'BOOKMARK') return encodeWatchFrame(type, object);
    if (tableOpts !== null && type !== 'ERROR' && type !== 'BOOKMARK') {
      const row: StoredObject = { resource: call.type.resource, namespace: '', name: '', rv: 0, object, json };
      const opts = { ...tableOpts, noHeaders: headersSent };
      headersSent = true;
      const table = tableJson(call.type, [row], opts, { resourceVersion: String(object.metadata.resourceVersion ?? '') }, call.cluster.now());
      return `{"type":"${type}","object":${table}}\n`;
    }
    return `{"type":"${type}","object":${json}}\n`;
  };

  // Decide the starting point synchronously, then subscribe in the same tick: no change
  // can slip between the replayed history and the live events.
  const queue: Array<string | Buffer> = [];
  let expired: string | null = null;
  // sendInitialEvents decides on its own when given; otherwise "" and "0" mean "the current state first".
  const synthetic = initialEvents ?? (rvParam === '' || rvParam === '0');
  let lastRv = store.resourceVersion;
  if (!synthetic && rvParam !== '' && Number(rvParam) > store.resourceVersion) {
    throw Errors.timeout(`Too large resource version: ${rvParam}, current: ${store.resourceVersion}`);
  }
  if (synthetic) {
    const current = store.list(call.type.resource, call.info.namespace).filter(matches);
    for (const o of current) queue.push(encode('ADDED', o.object, o.json));
    if (initialEvents === true) {
      const bm = bookmarkObject(call, store.resourceVersion, true);
      queue.push(encode('BOOKMARK', bm, JSON.stringify(bm)));
    }
  } else if (rvParam !== '' && rvParam !== '0') {
    const since = Number(rvParam);
    const history = store.eventsSince(since);
    if (history === 'expired') {
      expired = `too old resource version: ${since} (${store.compactedResourceVersion})`;
    } else {
      for (const e of history) pushEvent(e);
      lastRv = Math.max(since, store.resourceVersion);
    }
  }

  function pushEvent(e: StoreEvent): void {
    if (e.resource !== call.type.resource) return;
    if (call.info.namespace !== '' && e.current.namespace !== call.info.namespace) return;
    const now = e.type !== 'DELETED' && matches(e.current);
    const before = e.previous !== null && matches(e.previous);
    let type: WatchType | null = null;
    if (e.type === 'ADDED') type = now ? 'ADDED' : null;
    else if (e.type === 'DELETED') type = before || matches(e.current) ? 'DELETED' : null;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    if (type !== null) queue.push(encode(type, e.current.object, e.current.json));
    lastRv = e.rv;
  }

  const res = call.res;
  startStream(res, 200, standardHeaders(call.auditId, rep.kind === 'protobuf' ? `${PROTOBUF_MEDIA_TYPE};stream=watch` : 'application/json'));
  if (expired !== null) {
    const status = Errors.gone(expired).status;
    res.end(`{"type":"ERROR","object":${JSON.stringify(status)}}\n`);
    return;
  }

  let wake: (() => void) | null = null;
  let ended = false;
  const end = (): void => {
    ended = true;
    wake?.();
  };
  const unsubscribe = store.subscribe((e) => {
    pushEvent(e);
    if (queue.length > settings.maxQueuedEvents) end();
    wake?.();
  });
  const timer = setTimeout(end, timeoutSeconds * 1000);
  const bookmarkTimer = bookmarks
    ? setInterval(() => {
        if (queue.length > 0) return;
        const bm = bookmarkObject(call, Math.max(lastRv, store.resourceVersion), false);
        queue.push(encode('BOOKMARK', bm, JSON.stringify(bm)));
        wake?.();
      }, settings.bookmarkIntervalMs)
    : undefined;
  call.signal.addEventListener('abort', end, { once: true });
  res.once('close', end);

  try {
    while (!ended) {
      while (queue.length > 0 && !ended) {
        const chunk = queue.shift() as string | Buffer;
        if (!res.write(chunk)) await drained(res);
        if (res.writableEnded || res.destroyed === true) ended = true;
      }
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    clearTimeout(timer);
    if (bookmarkTimer !== undefined) clearInterval(bookmarkTimer);
    call.signal.removeEventListener('abort', end);
    if (!res.writableEnded) res.end();
  }
}

function bookmarkObject(call: ApiCall, rv: number, initialEventsEnd: boolean): KubeObject {
  return {
    kind: call.type.kind,
    apiVersion: 'v1',
    metadata: {
      resourceVersion: String(rv),
      creationTimestamp: null,
      ...(initialEventsEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}),
    },
  };
}
