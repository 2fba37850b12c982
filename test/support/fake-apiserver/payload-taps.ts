/**
 * Taps for the recorder's payload view: the de-framed bytes of each request and stream
 * session (decoded headers as text, bodies, stdin/stdout/stderr). They observe, and never
 * change what flows or how fast: writes are forwarded as they come and honour the inner
 * stream's backpressure.
 *
 * Like the streams they wrap (src/kube-streams/spdy-stream.ts, ws-channel-mux.ts), every
 * tap stage keeps an 'error' listener: a client's reset or a lost connection destroys the
 * stage with an error, and one nobody consumes (the data of a connection the pod refused,
 * a TTY session's stdin read with 'data' events) must not become an uncaught exception
 * in the process that runs the stand-in. The failure still ends both sides.
 */
import { Duplex, Transform, Writable, pipeline, type Readable } from 'node:stream';
import type { CommandResult, ForwardedConnection, RemoteCommandSession } from '../../../src/proxy/streams/types.ts';
import type { RecorderTap } from './recorder.ts';
import type { ResponseLike } from './respond.ts';

/** Raw header pairs as `Name: value` lines (what a server sees after HPACK or HTTP/1.1 parsing). */
export function headerText(rawHeaders: readonly string[], firstLine: string): Buffer {
  const lines = [firstLine];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i] ?? ''}: ${rawHeaders[i + 1] ?? ''}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8');
}

function ignoreError(): void {}

const toBuffer = (chunk: string | Buffer): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);

/** A response that reports its status line, headers and body to `tap` as they are written. */
export function tapResponse(res: ResponseLike, tap: RecorderTap): ResponseLike {
  return {
    writeHead(status, headers) {
      const lines = Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`));
      tap.record('sent', Buffer.from([`${status}`, ...lines].join('\r\n') + '\r\n\r\n', 'utf8'));
      return res.writeHead(status, headers);
    },
    write(chunk) {
      tap.record('sent', toBuffer(chunk));
      return res.write(chunk);
    },
    end(chunk) {
      if (chunk !== undefined) tap.record('sent', toBuffer(chunk));
      return res.end(chunk);
    },
    once: (event, listener) => res.once(event, listener),
    off: (event, listener) => res.off(event, listener),
    flushHeaders: () => res.flushHeaders?.(),
    get headersSent() {
      return res.headersSent;
    },
    get writableEnded() {
      return res.writableEnded;
    },
    get destroyed() {
      return res.destroyed;
    },
  };
}

/** A readable that passes `source` through unchanged and reports each chunk. */
export function tapReadable(source: Readable, record: (chunk: Buffer) => void): Readable {
  const tapped = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      record(chunk);
      callback(null, chunk);
    },
  });
  tapped.on('error', ignoreError);
  // A failure of either stage destroys both.
  pipeline(source, tapped, () => undefined);
  return tapped;
}

/** A writable that reports each chunk and forwards it to `inner`, waiting for its 'drain'. */
class TapWritable extends Writable {
  readonly #inner: Writable;
  readonly #record: (chunk: Buffer) => void;
  constructor(inner: Writable, record: (chunk: Buffer) => void) {
    super();
    this.#inner = inner;
    this.#record = record;
    this.on('error', ignoreError);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Failed (not just finished): the inner stream goes with it.
    if (error !== null && !this.#inner.destroyed) this.#inner.destroy();
    callback(error);
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end(() => callback());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // A zero-length write is flushed()'s marker: it completes once everything before it did.
    if (chunk.length === 0) return callback();
    this.#record(chunk);
    if (this.#inner.write(chunk)) callback();
    else this.#inner.once('drain', () => callback());
  }

  /** Resolves when every chunk written so far reached the inner stream (or the session aborted). */
  flushed(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.write(Buffer.alloc(0), done);
    });
  }
}

/**
 * A session identical to `session` whose stdin, stdout and stderr are reported to `tap`
 * (stdin as received, output as sent). `finish` waits until tapped output reached the
 * real streams, so nothing is reordered behind the end sequence.
 */
export function tapSession(session: RemoteCommandSession, tap: RecorderTap): RemoteCommandSession {
  const stdin = session.stdin === null ? null : tapReadable(session.stdin, (c) => tap.record('received', c));
  const stdout = session.stdout === null ? null : new TapWritable(session.stdout, (c) => tap.record('sent', c));
  const stderr = session.stderr === null ? null : new TapWritable(session.stderr, (c) => tap.record('sent', c));
  return {
    protocol: session.protocol,
    options: session.options,
    stdin,
    stdout,
    stderr,
    resizes: session.resizes,
    aborted: session.aborted,
    get counters() {
      return session.counters;
    },
    async finish(result: CommandResult): Promise<void> {
      await Promise.all([stdout?.flushed(session.aborted), stderr?.flushed(session.aborted)]);
      return session.finish(result);
    },
  };
}

/**
 * A forwarded connection identical to `connection` whose data is reported to `tap` in both
 * directions. Reading goes through a tap stage that buffers (never drops) what arrives
 * before the consumer starts reading; writing honours the inner stream's backpressure.
 */
export function tapForwardedConnection(connection: ForwardedConnection, tap: RecorderTap): ForwardedConnection {
  const readable = tapReadable(connection.data, (c) => tap.record('received', c));
  const writable = new TapWritable(connection.data, (c) => tap.record('sent', c));
  const data = Duplex.from({ readable, writable });
  // Nobody consumes `data` of a connection the pod refused; a client reset then errors it.
  data.on('error', () => connection.data.destroy());
  data.once('close', () => {
    if (!connection.data.destroyed && (readable.destroyed || writable.destroyed)) connection.data.destroy();
  });
  return {
    port: connection.port,
    requestId: connection.requestId,
    data,
    fail: (message) => connection.fail(message),
    close: () => connection.close(),
  };
}
