/**
 * The watch over a response whose client may stop reading: pods/proxy exchanges and the
 * metrics endpoints (per pod, federation, shadowplane's own) end a response whose client
 * has taken none of it for MAX_WRITE_STALL_MS, so that what the response holds (a body in
 * memory, a slot of an endpoint's limit, a stream of an agent's session) goes with it.
 *
 * Progress is counted per response, not per connection: an HTTP/2 client that reads one
 * stream (or answers the watch's own PINGs, which the connection writes) does not keep
 * its other, unread streams alive.
 */
import { constants as http2Constants, type Http2Session } from 'node:http2';
import type { AnyResponse } from './respond.ts';

/**
 * How long a response may wait on its client without the client taking any of it, by
 * default: long enough for any client that reads at all (one 256 KiB metrics slice in
 * 30 s is 9 KB/s), short enough that a non-reading client cannot pile up responses.
 */
export const MAX_WRITE_STALL_MS = 30_000;
/** How often a blocked response is looked at (the client gone, or stalled too long); less for a shorter bound. */
const STALL_CHECK_MS = 5_000;
/** An HTTP/2 client that does not answer a PING within this long, while its response is blocked, is gone. */
const PING_TIMEOUT_MS = 10_000;

/**
 * Calls `abort` when the response is blocked — it holds bytes its connection has not
 * taken, and either cannot take more (its buffer is full) or has been ended — and its
 * client is gone, does not answer a PING (HTTP/2), or has taken nothing of it for
 * `maxStallMs`. A response whose writer still adds to it (below its buffer's limit) is
 * not blocked: a stream that idles is not a stall.
 *
 * Invariant relied on: while a response is blocked nothing is added to it (its writer
 * waits for 'drain', as pipeline() does, or has ended it), so fewer bytes waiting in it,
 * or a 'drain', means its client took some. A write counts once the connection took all
 * of it, so a client must take a whole write (a metrics slice, a chunk from the pod)
 * within the bound. Also needed because an HTTP/2 client that leaves while the response
 * waits on its flow-control window does not always make Node emit 'close'
 * (nodejs/node#56374): the stream or session is destroyed, silently.
 *
 * Returns the function that stops watching.
 */
export function watchWriteStall(res: AnyResponse, abort: () => void, maxStallMs: number = MAX_WRITE_STALL_MS): () => void {
  const checkMs = Math.min(STALL_CHECK_MS, Math.max(10, Math.floor(maxStallMs / 6)));
  const writable = 'stream' in res ? res.stream : res;
  let blockedSince: number | undefined;
  let pending = pendingBytes(res);
  let drained = false;
  const onDrain = (): void => {
    drained = true;
  };
  writable.on('drain', onDrain);
  const stop = (): void => {
    clearInterval(timer);
    writable.off('drain', onDrain);
  };
  const timer = setInterval(() => {
    const nowPending = pendingBytes(res);
    const progressed = drained || nowPending < pending;
    drained = false;
    pending = nowPending;
    // Taking bytes (a slow reader, a slow link), or nothing waiting on the client: not stalled.
    if (!blocked(res, nowPending) || progressed) {
      blockedSince = undefined;
      return;
    }
    const now = Date.now();
    blockedSince ??= now;
    const session = 'stream' in res ? res.stream.session : undefined;
    if (responseGone(res) || now - blockedSince >= maxStallMs || (session !== undefined && unanswered(session, now))) {
      stop();
      abort();
    }
  }, checkMs);
  timer.unref();
  return stop;
}

/** The one PING of an HTTP/2 session that the watches of its responses wait on. */
interface Probe {
  /** When the PING now unanswered was sent. */
  sentAt: number | undefined;
  /** The session failed a PING: its client is gone. */
  failed: boolean;
}

const probes = new WeakMap<Http2Session, Probe>();

/**
 * Whether the session's client is gone by its PINGs: one PING at a time per session,
 * however many of its responses are blocked (Node cancels PINGs past 10 outstanding,
 * which would read as a client gone), sent when none is outstanding. True when one
 * failed, or has gone unanswered for PING_TIMEOUT_MS: an HTTP/2 client answers a PING
 * even while its windows are full; one that left does not (its PING fails, or goes
 * unanswered behind the stuck data).
 */
function unanswered(session: Http2Session, now: number): boolean {
  let probe = probes.get(session);
  if (probe === undefined) {
    probe = { sentAt: undefined, failed: false };
    probes.set(session, probe);
  }
  if (probe.failed) return true;
  if (probe.sentAt !== undefined) return now - probe.sentAt >= PING_TIMEOUT_MS;
  const p = probe;
  p.sentAt = now;
  try {
    session.ping((err) => {
      // Cancelled (not sent, or the session closing): the next look sends another, or finds the session gone.
      if (err !== null && (err as NodeJS.ErrnoException).code !== 'ERR_HTTP2_PING_CANCEL') p.failed = true;
      p.sentAt = undefined;
    });
  } catch {
    // Already closing: the next look finds it gone.
    p.sentAt = undefined;
  }
  return false;
}

/**
 * Bytes written to the response that its connection has not taken yet: the HTTP/2
 * stream's own buffer (not the session's, which other streams share), or for HTTP/1.1
 * the response's and its socket's.
 */
function pendingBytes(res: AnyResponse): number {
  return 'stream' in res ? res.stream.writableLength : res.writableLength;
}

function blocked(res: AnyResponse, pending: number): boolean {
  if (pending === 0) return false;
  const stream = 'stream' in res ? res.stream : undefined;
  return (stream?.writableNeedDrain ?? false) || res.writableNeedDrain || res.writableEnded;
}

/** Whether the response's client is gone: its stream, session or socket destroyed. */
export function responseGone(res: AnyResponse): boolean {
  if ('stream' in res) return res.stream.destroyed || res.stream.session === undefined || res.stream.session.destroyed;
  return res.destroyed || res.socket === null || res.socket.destroyed;
}

/** Ends a response that will not complete: an HTTP/2 stream is reset (CANCEL), an HTTP/1.1 connection destroyed. */
export function abortResponse(res: AnyResponse): void {
  const stream = 'stream' in res ? res.stream : undefined;
  if (stream !== undefined && !stream.destroyed) stream.close(http2Constants.NGHTTP2_CANCEL);
  res.destroy();
}
