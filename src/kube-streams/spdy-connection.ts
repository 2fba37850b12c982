/**
 * A SPDY/3.1 connection over any Duplex (a TLS socket after an HTTP upgrade, or a
 * WebSocket tunnel), in the server role that kubectl needs and the client role that
 * tests and benchmarks use to speak SPDY without kubectl.
 *
 * What it does, and deliberately does not:
 * - Streams are Node Duplex objects (spdy-stream.ts) with their id and headers. The
 *   server replies SYN_REPLY (empty headers) to every stream it accepts before handing it
 *   to `onStream`, so no DATA can overtake the reply; a handler refuses by resetting.
 * - FIN half-closes either way; RST_STREAM destroys; PINGs from the peer are echoed;
 *   GOAWAY stops new streams. SETTINGS, WINDOW_UPDATE and HEADERS are read (their header
 *   blocks must pass through the shared zlib context) and otherwise ignored: spdystream,
 *   which kubectl uses, never enforces windows, so neither side may depend on them.
 * - Backpressure: a stream whose reader is saturated pauses the socket until that reader
 *   asks for more; writes wait for the socket's 'drain' before taking more. A peer that
 *   does not read therefore stalls only its own connection.
 * - Bounds: frame sizes (spdy-frame.ts), open streams (`maxStreams`), and one pending
 *   echo budget so that a PING flood cannot grow the write buffer without limit.
 * - Peer stream ids must be odd (client-initiated) and strictly increasing; a violation,
 *   or any malformed frame, ends the connection with GOAWAY(PROTOCOL_ERROR).
 *
 * Invariant: nothing here logs payload bytes or header values.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ShadowplaneError, asShadowplaneError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import {
  GoAwayStatus,
  RstStatus,
  SpdyFrameDecoder,
  SpdyFrameEncoder,
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  type SpdyFrame,
  type SpdyFrameLimits,
} from './spdy-frame.ts';
import type { SpdyHeaders } from './spdy-headers.ts';
import { SpdyStream, type StreamOwner } from './spdy-stream.ts';

export interface SpdyConnectionOptions {
  readonly role: 'server' | 'client';
  /** Server role: called for every stream the peer opens, after SYN_REPLY was queued. */
  readonly onStream?: (stream: SpdyStream) => void;
  readonly limits?: Partial<SpdyFrameLimits>;
  /** Most streams open at once; further SYN_STREAMs get RST_STREAM(REFUSED_STREAM). @default 1024 */
  readonly maxStreams?: number;
  /** Receive buffer per stream before the socket is paused, in bytes. @default 256 KiB */
  readonly streamHighWaterMark?: number;
  /** Largest data frame this side sends. @default 64 KiB */
  readonly maxDataFrame?: number;
  /** Client role: how long openStream waits for SYN_REPLY. @default 30 s (client-go's value) */
  readonly openTimeoutMs?: number;
  readonly logger?: Logger;
}

const SMALL_FRAME = 1024;
/**
 * Control frames written in answer to the peer (PING echoes, SYN_REPLYs, RSTs) since the
 * socket last drained; above this, reading stops until the socket drains. Stream data is
 * not counted: it has its own backpressure, and counting it could make two peers that
 * both write large amounts stop reading each other.
 */
const CONTROL_BACKLOG_LIMIT = 1024 * 1024;

interface PendingOpen {
  readonly stream: SpdyStream;
  readonly resolve: (stream: SpdyStream) => void;
  readonly reject: (error: ShadowplaneError) => void;
  readonly timer: NodeJS.Timeout;
}

export class SpdyConnection {
  readonly role: 'server' | 'client';
  readonly #socket: Duplex;
  readonly #onStream: ((stream: SpdyStream) => void) | undefined;
  readonly #decoder: SpdyFrameDecoder;
  readonly #encoder = new SpdyFrameEncoder();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #pending = new Map<number, PendingOpen>();
  readonly #blockedReaders = new Set<SpdyStream>();
  readonly #maxStreams: number;
  readonly #highWaterMark: number;
  readonly #maxDataFrame: number;
  readonly #openTimeoutMs: number;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #owner: StreamOwner;
  #drainWaiters: Array<(error?: Error) => void> = [];
  #lastPeerStreamId = 0;
  #nextStreamId: number;
  #goAwaySent = false;
  #goAwayReceived = false;
  #controlBacklog = 0;
  #backlogPaused = false;
  #closed = false;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(socket: Duplex, options: SpdyConnectionOptions) {
    this.role = options.role;
    this.#socket = socket;
    this.#onStream = options.onStream;
    this.#maxStreams = options.maxStreams ?? 1024;
    this.#highWaterMark = options.streamHighWaterMark ?? 256 * 1024;
    this.#maxDataFrame = Math.min(options.maxDataFrame ?? 64 * 1024, 0xffffff);
    this.#openTimeoutMs = options.openTimeoutMs ?? 30_000;
    this.#log = options.logger ?? silentLogger();
    this.#nextStreamId = this.role === 'client' ? 1 : 2;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#decoder = new SpdyFrameDecoder((frame) => this.#onFrame(frame), options.limits);
    this.#owner = {
      writeData: (stream, chunk, fin, done) => this.#writeData(stream, chunk, fin, done),
      readerReady: (stream) => this.#readerReady(stream),
      sendReset: (stream, status) => this.#sendReset(stream.id, status),
      release: (stream) => this.#release(stream),
    };
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err: Error) => this.#terminate(asShadowplaneError(err, 'SP_CLIENT_GONE')));
    socket.on('close', () => this.#terminate(new ShadowplaneError('SP_CLIENT_GONE')));
    socket.on('end', () => {
      // The peer will send nothing more; our side may still have bytes to flush.
      if (!this.#closed) this.#socket.end();
    });
    socket.resume();
  }

  /** Aborted when the connection is gone (reason: a ShadowplaneError). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Streams currently open (not yet closed both ways or reset). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Client role: opens a stream and resolves when the peer's SYN_REPLY arrives. */
  openStream(headers: Iterable<readonly [string, string]>, options: { fin?: boolean; timeoutMs?: number } = {}): Promise<SpdyStream> {
    if (this.role !== 'client') return Promise.reject(new ShadowplaneError('SP_INTERNAL', 'only the client role opens streams'));
    if (this.#closed || this.#goAwaySent || this.#goAwayReceived) return Promise.reject(new ShadowplaneError('SP_CLIENT_GONE', 'connection is closing'));
    if (this.#nextStreamId > 0x7fffffff) return Promise.reject(new ShadowplaneError('SP_INTERNAL', 'stream ids exhausted'));
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const list = [...headers];
    const headerMap: SpdyHeaders = new Map(list.map(([k, v]) => [k.toLowerCase(), v]));
    const stream = new SpdyStream(this.#owner, id, headerMap, {
      highWaterMark: this.#highWaterMark,
      remoteClosed: false,
      localClosed: options.fin === true,
    });
    this.#streams.set(id, stream);
    return new Promise<SpdyStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        stream.reset(RstStatus.CANCEL);
        reject(new ShadowplaneError('SP_SESSION_TIMEOUT', 'no SYN_REPLY in time'));
      }, options.timeoutMs ?? this.#openTimeoutMs);
      this.#pending.set(id, { stream, resolve, reject, timer });
      this.#write(this.#encoder.synStream(id, list, { fin: options.fin === true }));
    });
  }

  /** Sends GOAWAY (once): the peer must open no more streams. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.#goAwaySent || this.#closed) return;
    this.#goAwaySent = true;
    this.#write(encodeGoAway(this.#lastPeerStreamId, status));
  }

  /**
   * Ends the connection gracefully: GOAWAY, then the end of our byte stream. Resolves when
   * the bytes are flushed to the underlying Duplex. Streams still open are not waited for.
   */
  end(status: number = GoAwayStatus.OK): Promise<void> {
    this.goAway(status);
    if (this.#closed || this.#socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  /** Tears the connection down now; open streams are destroyed with `error`. */
  destroy(error: ShadowplaneError = new ShadowplaneError('SP_CLIENT_GONE')): void {
    this.#terminate(error);
    this.#socket.destroy();
  }

  // ---- reading ----

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      this.#protocolError(asShadowplaneError(err, 'SP_FRAME_INVALID'));
      return;
    }
    // Whatever the peer made us send (echoes, replies, resets) sits in the write buffer
    // until it reads; a peer that floods without reading must not grow it without bound.
    if (this.#controlBacklog > CONTROL_BACKLOG_LIMIT && this.#socket.writableNeedDrain) this.#backlogPaused = true;
    if (this.#blockedReaders.size > 0 || this.#backlogPaused) this.#socket.pause();
  }

  #onFrame(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'data': {
        const stream = this.#streams.get(frame.streamId);
        // Data for a stream that is gone (reset, refused, finished) is dropped, as
        // spdystream does: the peer may not have seen our RST yet.
        if (stream === undefined) return;
        if (stream.remoteClosed) {
          stream.reset(RstStatus.STREAM_ALREADY_CLOSED);
          return;
        }
        if (frame.data.length > 0 && !stream.receiveData(frame.data)) this.#blockedReaders.add(stream);
        if (frame.fin) stream.receiveFin();
        return;
      }
      case 'syn_stream':
        this.#onSynStream(frame.streamId, frame.headers, frame.fin, frame.unidirectional);
        return;
      case 'syn_reply': {
        const pending = this.#pending.get(frame.streamId);
        if (pending === undefined) return;
        this.#pending.delete(frame.streamId);
        clearTimeout(pending.timer);
        pending.resolve(pending.stream);
        if (frame.fin) pending.stream.receiveFin();
        return;
      }
      case 'headers': {
        if (frame.fin) this.#streams.get(frame.streamId)?.receiveFin();
        return;
      }
      case 'rst_stream': {
        const pending = this.#pending.get(frame.streamId);
        if (pending !== undefined) {
          this.#pending.delete(frame.streamId);
          clearTimeout(pending.timer);
          pending.reject(new ShadowplaneError('SP_STREAM_RESET', 'stream refused'));
        }
        this.#streams.get(frame.streamId)?.receiveReset();
        return;
      }
      case 'ping': {
        // Echo pings the peer originated: odd ids come from clients, even from servers.
        const peerOriginated = (frame.id % 2 === 1) === (this.role === 'server');
        if (peerOriginated) this.#write(encodePing(frame.id));
        return;
      }
      case 'goaway': {
        this.#goAwayReceived = true;
        for (const [id, pending] of this.#pending) {
          if (id > frame.lastGoodStreamId) {
            this.#pending.delete(id);
            clearTimeout(pending.timer);
            pending.stream.abort(new ShadowplaneError('SP_CLIENT_GONE', 'peer sent GOAWAY'));
            pending.reject(new ShadowplaneError('SP_CLIENT_GONE', 'peer sent GOAWAY'));
          }
        }
        return;
      }
      case 'settings':
      case 'window_update':
      case 'unknown':
        return;
    }
  }

  #onSynStream(id: number, headers: SpdyHeaders, fin: boolean, unidirectional: boolean): void {
    if (this.role !== 'server') {
      // Server push is not used by any kubectl protocol.
      this.#sendReset(id, RstStatus.REFUSED_STREAM);
      return;
    }
    if (id % 2 !== 1 || id <= this.#lastPeerStreamId) {
      this.#protocolError(new ShadowplaneError('SP_FRAME_INVALID', 'stream id not odd and increasing'));
      return;
    }
    this.#lastPeerStreamId = id;
    if (this.#goAwaySent || this.#streams.size >= this.#maxStreams) {
      this.#sendReset(id, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = new SpdyStream(this.#owner, id, headers, {
      highWaterMark: this.#highWaterMark,
      remoteClosed: fin,
      localClosed: unidirectional,
    });
    this.#streams.set(id, stream);
    if (!unidirectional) this.#write(this.#encoder.synReply(id));
    try {
      this.#onStream?.(stream);
    } catch (err) {
      this.#log.warn({ code: asShadowplaneError(err).code, streamId: id }, 'spdy stream handler failed');
      stream.reset(RstStatus.INTERNAL_ERROR);
    }
  }

  #readerReady(stream: SpdyStream): void {
    if (!this.#blockedReaders.delete(stream)) return;
    this.#maybeResume();
  }

  #maybeResume(): void {
    if (this.#blockedReaders.size === 0 && !this.#backlogPaused && !this.#closed) this.#socket.resume();
  }

  // ---- writing ----

  /** Writes a control frame. */
  #write(buf: Buffer): boolean {
    if (this.#closed || this.#socket.writableEnded || this.#socket.destroyed) return false;
    this.#controlBacklog += buf.length;
    return this.#socket.write(buf);
  }

  #writeData(stream: SpdyStream, chunk: Buffer, fin: boolean, done: (error?: Error | null) => void): void {
    if (this.#closed || this.#socket.writableEnded) {
      done(new ShadowplaneError('SP_CLIENT_GONE'));
      return;
    }
    let ok: boolean;
    let offset = 0;
    do {
      const size = Math.min(this.#maxDataFrame, chunk.length - offset);
      const last = offset + size >= chunk.length;
      const piece = chunk.subarray(offset, offset + size);
      if (size <= SMALL_FRAME) {
        ok = this.#socket.write(encodeDataFrame(stream.id, piece, fin && last));
      } else {
        this.#socket.cork();
        this.#socket.write(encodeDataFrameHeader(stream.id, size, fin && last));
        ok = this.#socket.write(piece);
        process.nextTick(() => this.#socket.uncork());
      }
      offset += size;
    } while (offset < chunk.length);
    if (ok) done();
    else this.#drainWaiters.push(done);
  }

  #onDrain(): void {
    this.#controlBacklog = 0;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter();
    if (this.#backlogPaused) {
      this.#backlogPaused = false;
      this.#maybeResume();
    }
  }

  #sendReset(id: number, status: number): void {
    this.#write(encodeRstStream(id, status));
  }

  #release(stream: SpdyStream): void {
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
    if (this.#blockedReaders.delete(stream)) this.#maybeResume();
  }

  // ---- ending ----

  #protocolError(error: ShadowplaneError): void {
    if (this.#closed) return;
    this.#log.info({ code: error.code }, 'spdy connection closed after a protocol error');
    if (!this.#goAwaySent) {
      this.#goAwaySent = true;
      this.#write(encodeGoAway(this.#lastPeerStreamId, GoAwayStatus.PROTOCOL_ERROR));
    }
    this.#terminate(error);
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 1000);
    timer.unref();
  }

  #terminate(error: ShadowplaneError): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
    for (const stream of [...this.#streams.values()]) stream.abort(error);
    this.#streams.clear();
    this.#blockedReaders.clear();
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter(error);
    this.#abort.abort(error);
    this.#resolveClosed();
  }
}
