/**
 * port-forward over SPDY/3.1 (`portforward.k8s.io`), directly after an HTTP upgrade or
 * inside the WebSocket tunnel of KEP-4006 (the same SPDY either way).
 *
 * For every local connection kubectl opens two streams with the same `port` and
 * `requestid` headers (PROTOCOLS.md B): an `error` stream, which it half-closes at once,
 * then a `data` stream. They are paired by `requestid`; clients too old to send one are
 * paired the kubelet's way (error stream id, data stream id − 2). A pair that does not
 * complete in time is answered with an error and dropped.
 *
 * kubectl ends a forwarded connection only after the data stream reached EOF *and* the
 * error stream did: `close()` FINs both. An error message written on the error stream
 * (then FIN) is what kubectl prints as `an error occurred forwarding L -> R: <message>`;
 * it reads that message only once the data stream ended, so `fail()` FINs both too.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { SpdyConnection } from '../../kube-streams/spdy-connection.ts';
import { RstStatus } from '../../kube-streams/spdy-frame.ts';
import type { SpdyStream } from '../../kube-streams/spdy-stream.ts';
import { AsyncQueue } from './async-queue.ts';
import { within, type SessionTimeouts } from './session-timing.ts';
import type { ForwardedConnection, PortForwardSession, StreamProtocol } from './types.ts';

/** Longest message `fail()` sends; longer ones are cut (they are shadowplane's own text). */
const MAX_FAIL_MESSAGE = 1024;

interface PendingPair {
  error?: SpdyStream;
  data?: SpdyStream;
  readonly timer: NodeJS.Timeout;
}

export interface PortForwardSpdyContext {
  readonly socket: Duplex;
  readonly protocol: StreamProtocol;
  readonly timeouts: SessionTimeouts;
  readonly logger: Logger;
  /** Most forwarded connections open at once (each uses two streams). @default 256 */
  readonly maxConnections?: number;
}

/** Parses a `port` header: a decimal 1–65535, or null. */
export function parsePort(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9]{1,5}$/.test(value)) return null;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : null;
}

function requestIdOf(stream: SpdyStream, type: 'error' | 'data'): string {
  const id = stream.header('requestid');
  if (id !== undefined && id.length > 0) return id;
  return String(type === 'error' ? stream.id : stream.id - 2);
}

function forwardedConnection(error: SpdyStream, data: SpdyStream, port: number, requestId: string): ForwardedConnection {
  return {
    port,
    requestId,
    data,
    fail(message: string) {
      const text = Buffer.from(message.slice(0, MAX_FAIL_MESSAGE), 'utf8');
      if (!error.writableEnded && !error.destroyed) error.end(text);
      if (!data.writableEnded && !data.destroyed) data.end();
    },
    close() {
      if (!data.writableEnded && !data.destroyed) data.end();
      if (!error.writableEnded && !error.destroyed) error.end();
    },
  };
}

export function servePortForwardSpdy(context: PortForwardSpdyContext): PortForwardSession {
  const { socket, protocol, timeouts, logger } = context;
  const maxConnections = context.maxConnections ?? 256;
  const queue = new AsyncQueue<ForwardedConnection>();
  const pending = new Map<string, PendingPair>();
  const abort = new AbortController();
  const live = new Set<SpdyStream>();
  let retiredIn = 0;
  let retiredOut = 0;
  let closing = false;

  const dropPair = (requestId: string, message: string): void => {
    const pair = pending.get(requestId);
    if (pair === undefined) return;
    pending.delete(requestId);
    clearTimeout(pair.timer);
    if (pair.error && !pair.error.writableEnded) pair.error.end(Buffer.from(message, 'utf8'));
    pair.data?.reset(RstStatus.CANCEL);
  };

  const onStream = (stream: SpdyStream): void => {
    const type = stream.header('streamtype');
    if (type !== 'error' && type !== 'data') {
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    const requestId = requestIdOf(stream, type);
    let pair = pending.get(requestId);
    if (pair === undefined) {
      if (pending.size >= maxConnections) {
        stream.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      const timer = setTimeout(() => dropPair(requestId, 'SP_SESSION_TIMEOUT: the other stream of this connection did not arrive in time'), timeouts.streamTimeoutMs);
      timer.unref();
      pair = { timer };
      pending.set(requestId, pair);
    }
    if (pair[type] !== undefined) {
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[type] = stream;
    if (type === 'error') stream.resume(); // the client writes nothing on it; never let it block
    if (pair.error === undefined || pair.data === undefined) return;

    pending.delete(requestId);
    clearTimeout(pair.timer);
    const { error, data } = pair;
    const port = parsePort(data.header('port'));
    if (port === null || port !== parsePort(error.header('port'))) {
      error.end(Buffer.from('SP_BAD_REQUEST: the port header is missing or invalid', 'utf8'));
      data.end();
      return;
    }
    live.add(data);
    data.once('close', () => {
      live.delete(data);
      retiredIn += data.bytesIn;
      retiredOut += data.bytesOut;
    });
    queue.push(forwardedConnection(error, data, port, requestId));
  };

  const connection = new SpdyConnection(socket, {
    role: 'server',
    logger,
    maxStreams: maxConnections * 2 + 2,
    onStream,
  });
  connection.signal.addEventListener('abort', () => {
    for (const requestId of [...pending.keys()]) dropPair(requestId, '');
    queue.end();
    if (!closing) abort.abort(connection.signal.reason);
  });

  const close = (): void => {
    if (closing) return;
    closing = true;
    queue.end();
    void (async () => {
      await within(connection.end(), timeouts.flushTimeoutMs);
      if (!(await within(connection.closed, timeouts.closeGraceMs))) connection.destroy();
    })();
  };

  return {
    protocol,
    aborted: abort.signal,
    get counters() {
      let bytesIn = retiredIn;
      let bytesOut = retiredOut;
      for (const stream of live) {
        bytesIn += stream.bytesIn;
        bytesOut += stream.bytesOut;
      }
      return { bytesIn, bytesOut };
    },
    connections: () => queue,
    close,
  };
}
