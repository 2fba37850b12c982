/**
 * SPDY/3.1 framing: a push decoder (bytes in, frames out, any chunking) and encoders.
 *
 * Control frame: `u16 0x8000|version, u16 type, u8 flags, u24 length, payload`.
 * Data frame:    `u32 streamId (top bit 0), u8 flags, u24 length, data`.
 *
 * Limits are checked against the length field before any payload is buffered. Data
 * frames are never buffered at all: their payload is handed on in pieces as it arrives
 * (slices of the input chunks, no copy), so a large frame costs no memory here. Control
 * payloads are copied once into a buffer of exactly their announced length.
 *
 * Every header block goes through this decoder's single decompression context in wire
 * order (see spdy-headers.ts), including blocks of frames the connection then ignores.
 *
 * Errors are ShadowplaneError SP_FRAME_INVALID or SP_FRAME_TOO_LARGE. After the first
 * error the decoder stays failed: SPDY has no way to resynchronise a byte stream.
 */
import { ShadowplaneError } from '../errors.ts';
import {
  DEFAULT_HEADER_LIMITS,
  HeaderBlockCompressor,
  HeaderBlockDecompressor,
  type HeaderBlockLimits,
  type SpdyHeaders,
} from './spdy-headers.ts';

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** Largest length a 24-bit length field can carry. */
export const MAX_FRAME_LENGTH = 0xffffff;

/**
 * A piece of a data frame. A frame whose payload arrives in several input chunks is
 * delivered as several pieces; `endOfFrame` marks the last one, and only that one can
 * carry `fin`. An empty frame is delivered as one empty piece.
 */
export interface DataFrame {
  readonly type: 'data';
  readonly streamId: number;
  readonly data: Buffer;
  readonly endOfFrame: boolean;
  readonly fin: boolean;
}
export interface SynStreamFrame {
  readonly type: 'syn_stream';
  readonly streamId: number;
  readonly associatedId: number;
  readonly priority: number;
  readonly slot: number;
  readonly fin: boolean;
  readonly unidirectional: boolean;
  readonly headers: SpdyHeaders;
}
export interface SynReplyFrame { readonly type: 'syn_reply'; readonly streamId: number; readonly fin: boolean; readonly headers: SpdyHeaders }
export interface RstStreamFrame { readonly type: 'rst_stream'; readonly streamId: number; readonly status: number }
export interface SettingsFrame {
  readonly type: 'settings';
  readonly clear: boolean;
  readonly entries: ReadonlyArray<{ readonly id: number; readonly flags: number; readonly value: number }>;
}
export interface PingFrame { readonly type: 'ping'; readonly id: number }
export interface GoAwayFrame { readonly type: 'goaway'; readonly lastGoodStreamId: number; readonly status: number }
export interface HeadersFrame { readonly type: 'headers'; readonly streamId: number; readonly fin: boolean; readonly headers: SpdyHeaders }
export interface WindowUpdateFrame { readonly type: 'window_update'; readonly streamId: number; readonly delta: number }
/** A control frame of a type SPDY/3.1 does not define; its payload was skipped. */
export interface UnknownControlFrame { readonly type: 'unknown'; readonly controlType: number; readonly length: number }

export type SpdyFrame =
  | DataFrame
  | SynStreamFrame
  | SynReplyFrame
  | RstStreamFrame
  | SettingsFrame
  | PingFrame
  | GoAwayFrame
  | HeadersFrame
  | WindowUpdateFrame
  | UnknownControlFrame;

export interface SpdyFrameLimits {
  /** Largest control frame payload (the compressed header block is part of it). */
  readonly maxControlPayload: number;
  /** Largest data frame payload accepted from the peer. */
  readonly maxDataPayload: number;
  readonly headers: HeaderBlockLimits;
}

/**
 * kubectl's data frames carry at most one io.Copy buffer (32 KiB) and its control frames
 * a few hundred bytes; the defaults leave a wide margin without allowing 16 MiB frames.
 */
export const DEFAULT_FRAME_LIMITS: SpdyFrameLimits = Object.freeze({
  maxControlPayload: 64 * 1024,
  maxDataPayload: 1024 * 1024,
  headers: DEFAULT_HEADER_LIMITS,
});

const HEADER_BYTES = 8;
const EMPTY = Buffer.alloc(0);

const State = { HEADER: 0, CONTROL: 1, DATA: 2, SKIP: 3 } as const;
type State = (typeof State)[keyof typeof State];

function invalid(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_FRAME_INVALID', detail);
}

/** Smallest and largest payload per control type; `exact` when only one length is valid. */
const CONTROL_LENGTHS: Readonly<Record<number, { readonly min: number; readonly exact?: boolean }>> = {
  [FrameType.SYN_STREAM]: { min: 10 },
  [FrameType.SYN_REPLY]: { min: 4 },
  [FrameType.RST_STREAM]: { min: 8, exact: true },
  [FrameType.SETTINGS]: { min: 4 },
  [FrameType.PING]: { min: 4, exact: true },
  [FrameType.GOAWAY]: { min: 8, exact: true },
  [FrameType.HEADERS]: { min: 4 },
  [FrameType.WINDOW_UPDATE]: { min: 8, exact: true },
};

export class SpdyFrameDecoder {
  readonly #onFrame: (frame: SpdyFrame) => void;
  readonly #limits: SpdyFrameLimits;
  readonly #headers: HeaderBlockDecompressor;
  #state: State = State.HEADER;
  readonly #head = Buffer.alloc(HEADER_BYTES);
  #headFill = 0;
  // current frame
  #type = 0;
  #flags = 0;
  #streamId = 0;
  #remaining = 0;
  #length = 0;
  #payload: Buffer = EMPTY;
  #payloadFill = 0;
  #failed: ShadowplaneError | null = null;

  constructor(onFrame: (frame: SpdyFrame) => void, limits: Partial<SpdyFrameLimits> = {}) {
    this.#onFrame = onFrame;
    this.#limits = { ...DEFAULT_FRAME_LIMITS, ...limits };
    this.#headers = new HeaderBlockDecompressor(this.#limits.headers);
  }

  /** True when no partial frame is buffered (the input ended on a frame boundary). */
  get idle(): boolean {
    return this.#state === State.HEADER && this.#headFill === 0;
  }

  /**
   * Feeds bytes; calls `onFrame` synchronously for every complete control frame and every
   * data piece. Throws ShadowplaneError on malformed input (and on every later call).
   * An exception thrown by `onFrame` propagates and also fails the decoder.
   */
  push(chunk: Buffer): void {
    if (this.#failed) throw this.#failed;
    try {
      this.#consume(chunk);
    } catch (err) {
      this.#failed = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_INTERNAL', 'frame handler failed', { cause: err });
      throw err;
    }
  }

  #consume(chunk: Buffer): void {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.#state) {
        case State.HEADER: {
          if (this.#headFill === 0 && length - offset >= HEADER_BYTES) {
            this.#startFrame(chunk, offset);
            offset += HEADER_BYTES;
          } else {
            const take = Math.min(HEADER_BYTES - this.#headFill, length - offset);
            chunk.copy(this.#head, this.#headFill, offset, offset + take);
            this.#headFill += take;
            offset += take;
            if (this.#headFill === HEADER_BYTES) {
              this.#headFill = 0;
              this.#startFrame(this.#head, 0);
            }
          }
          break;
        }
        case State.DATA: {
          const take = Math.min(this.#remaining, length - offset);
          this.#remaining -= take;
          const end = this.#remaining === 0;
          if (end) this.#state = State.HEADER;
          this.#onFrame({
            type: 'data',
            streamId: this.#streamId,
            data: chunk.subarray(offset, offset + take),
            endOfFrame: end,
            fin: end && (this.#flags & FLAG_FIN) !== 0,
          });
          offset += take;
          break;
        }
        case State.CONTROL: {
          const take = Math.min(this.#payload.length - this.#payloadFill, length - offset);
          chunk.copy(this.#payload, this.#payloadFill, offset, offset + take);
          this.#payloadFill += take;
          offset += take;
          if (this.#payloadFill === this.#payload.length) {
            const payload = this.#payload;
            this.#payload = EMPTY;
            this.#state = State.HEADER;
            this.#onFrame(this.#control(payload));
          }
          break;
        }
        case State.SKIP: {
          const take = Math.min(this.#remaining, length - offset);
          this.#remaining -= take;
          offset += take;
          if (this.#remaining === 0) {
            this.#state = State.HEADER;
            this.#onFrame({ type: 'unknown', controlType: this.#type, length: this.#length });
          }
          break;
        }
      }
    }
  }

  #startFrame(buf: Buffer, at: number): void {
    const word = buf.readUInt32BE(at);
    const flags = buf[at + 4]!;
    const length = buf.readUIntBE(at + 5, 3);
    this.#flags = flags;
    this.#length = length;
    if ((word & 0x80000000) !== 0) {
      const version = (word >>> 16) & 0x7fff;
      const type = word & 0xffff;
      if (version !== SPDY_VERSION) throw invalid('unsupported SPDY version');
      if (length > this.#limits.maxControlPayload) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'control frame exceeds the limit');
      this.#type = type;
      const bounds = CONTROL_LENGTHS[type];
      if (bounds === undefined) {
        // Unknown control types are skipped (SPDY/3 §2.2.1), within the same size limit.
        this.#remaining = length;
        this.#payload = EMPTY;
        if (length === 0) this.#onFrame({ type: 'unknown', controlType: type, length: 0 });
        else this.#state = State.SKIP;
        return;
      }
      if (length < bounds.min || (bounds.exact === true && length !== bounds.min)) throw invalid('control frame has a wrong length');
      this.#payload = Buffer.allocUnsafe(length);
      this.#payloadFill = 0;
      this.#state = State.CONTROL;
      return;
    }
    const streamId = word & 0x7fffffff;
    if (streamId === 0) throw invalid('data frame for stream 0');
    if (length > this.#limits.maxDataPayload) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'data frame exceeds the limit');
    this.#streamId = streamId;
    if (length === 0) {
      this.#onFrame({ type: 'data', streamId, data: EMPTY, endOfFrame: true, fin: (flags & FLAG_FIN) !== 0 });
      return;
    }
    this.#remaining = length;
    this.#state = State.DATA;
  }

  #control(p: Buffer): SpdyFrame {
    const flags = this.#flags;
    const fin = (flags & FLAG_FIN) !== 0;
    switch (this.#type) {
      case FrameType.SYN_STREAM: {
        const streamId = p.readUInt32BE(0) & 0x7fffffff;
        const associatedId = p.readUInt32BE(4) & 0x7fffffff;
        const headers = this.#headers.decode(p.subarray(10));
        if (streamId === 0) throw invalid('SYN_STREAM for stream 0');
        return {
          type: 'syn_stream',
          streamId,
          associatedId,
          priority: p[8]! >>> 5,
          slot: p[9]!,
          fin,
          unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
          headers,
        };
      }
      case FrameType.SYN_REPLY:
      case FrameType.HEADERS: {
        const streamId = p.readUInt32BE(0) & 0x7fffffff;
        const headers = this.#headers.decode(p.subarray(4));
        if (streamId === 0) throw invalid('header frame for stream 0');
        return this.#type === FrameType.SYN_REPLY ? { type: 'syn_reply', streamId, fin, headers } : { type: 'headers', streamId, fin, headers };
      }
      case FrameType.RST_STREAM: {
        const streamId = p.readUInt32BE(0) & 0x7fffffff;
        const status = p.readUInt32BE(4);
        if (streamId === 0 || status === 0) throw invalid('RST_STREAM without stream or status');
        return { type: 'rst_stream', streamId, status };
      }
      case FrameType.SETTINGS: {
        const count = p.readUInt32BE(0);
        if (p.length !== 4 + count * 8) throw invalid('SETTINGS length does not match its entry count');
        const entries: Array<{ id: number; flags: number; value: number }> = [];
        for (let off = 4; off < p.length; off += 8) {
          entries.push({ flags: p[off]!, id: p.readUIntBE(off + 1, 3), value: p.readUInt32BE(off + 4) });
        }
        return { type: 'settings', clear: (flags & 0x01) !== 0, entries };
      }
      case FrameType.PING:
        return { type: 'ping', id: p.readUInt32BE(0) };
      case FrameType.GOAWAY:
        return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
      case FrameType.WINDOW_UPDATE:
        return { type: 'window_update', streamId: p.readUInt32BE(0) & 0x7fffffff, delta: p.readUInt32BE(4) & 0x7fffffff };
      default:
        throw invalid('unexpected control frame type');
    }
  }
}

function controlHeader(out: Buffer, type: number, flags: number, length: number): void {
  if (length > MAX_FRAME_LENGTH) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'control frame exceeds 2^24-1 bytes');
  out.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  out.writeUInt16BE(type, 2);
  out[4] = flags;
  out.writeUIntBE(length, 5, 3);
}

function checkStreamId(streamId: number): void {
  if (!Number.isInteger(streamId) || streamId <= 0 || streamId > 0x7fffffff) throw new ShadowplaneError('SP_INTERNAL', 'stream id out of range');
}

/** The 8-byte header of a data frame; the payload follows separately (no copy). */
export function encodeDataFrameHeader(streamId: number, length: number, fin: boolean): Buffer {
  checkStreamId(streamId);
  if (length > MAX_FRAME_LENGTH) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'data frame exceeds 2^24-1 bytes');
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out.writeUInt32BE(streamId, 0);
  out[4] = fin ? FLAG_FIN : 0;
  out.writeUIntBE(length, 5, 3);
  return out;
}

/** A whole data frame in one buffer (copies the payload; for small frames and tests). */
export function encodeDataFrame(streamId: number, data: Uint8Array, fin: boolean): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length);
  encodeDataFrameHeader(streamId, data.length, fin).copy(out, 0);
  out.set(data, HEADER_BYTES);
  return out;
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  checkStreamId(streamId);
  const out = Buffer.allocUnsafe(16);
  controlHeader(out, FrameType.RST_STREAM, 0, 8);
  out.writeUInt32BE(streamId, 8);
  out.writeUInt32BE(status, 12);
  return out;
}

export function encodePing(id: number): Buffer {
  const out = Buffer.allocUnsafe(12);
  controlHeader(out, FrameType.PING, 0, 4);
  out.writeUInt32BE(id >>> 0, 8);
  return out;
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const out = Buffer.allocUnsafe(16);
  controlHeader(out, FrameType.GOAWAY, 0, 8);
  out.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 8);
  out.writeUInt32BE(status, 12);
  return out;
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  const out = Buffer.allocUnsafe(16);
  controlHeader(out, FrameType.WINDOW_UPDATE, 0, 8);
  out.writeUInt32BE(streamId & 0x7fffffff, 8);
  out.writeUInt32BE(delta & 0x7fffffff, 12);
  return out;
}

export function encodeSettings(entries: ReadonlyArray<{ id: number; value: number; flags?: number }>): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + 4 + entries.length * 8);
  controlHeader(out, FrameType.SETTINGS, 0, 4 + entries.length * 8);
  out.writeUInt32BE(entries.length, 8);
  let off = 12;
  for (const e of entries) {
    out[off] = e.flags ?? 0;
    out.writeUIntBE(e.id & 0xffffff, off + 1, 3);
    out.writeUInt32BE(e.value >>> 0, off + 4);
    off += 8;
  }
  return out;
}

/**
 * Encodes the frames that carry header blocks. Owns the sending side's compression
 * context, so frames must be written to the wire in the order they were encoded.
 */
export class SpdyFrameEncoder {
  readonly #headers = new HeaderBlockCompressor();

  synStream(
    streamId: number,
    headers: Iterable<readonly [string, string]>,
    options: { fin?: boolean; unidirectional?: boolean; associatedId?: number; priority?: number } = {},
  ): Buffer {
    checkStreamId(streamId);
    const block = this.#headers.encode(headers);
    const out = Buffer.allocUnsafe(HEADER_BYTES + 10 + block.length);
    const flags = (options.fin === true ? FLAG_FIN : 0) | (options.unidirectional === true ? FLAG_UNIDIRECTIONAL : 0);
    controlHeader(out, FrameType.SYN_STREAM, flags, 10 + block.length);
    out.writeUInt32BE(streamId, 8);
    out.writeUInt32BE((options.associatedId ?? 0) & 0x7fffffff, 12);
    out[16] = ((options.priority ?? 0) & 0x7) << 5;
    out[17] = 0;
    block.copy(out, 18);
    return out;
  }

  synReply(streamId: number, headers: Iterable<readonly [string, string]> = [], fin = false): Buffer {
    return this.#streamHeaders(FrameType.SYN_REPLY, streamId, headers, fin);
  }

  headers(streamId: number, headers: Iterable<readonly [string, string]>, fin = false): Buffer {
    return this.#streamHeaders(FrameType.HEADERS, streamId, headers, fin);
  }

  #streamHeaders(type: number, streamId: number, headers: Iterable<readonly [string, string]>, fin: boolean): Buffer {
    checkStreamId(streamId);
    const block = this.#headers.encode(headers);
    const out = Buffer.allocUnsafe(HEADER_BYTES + 4 + block.length);
    controlHeader(out, type, fin ? FLAG_FIN : 0, 4 + block.length);
    out.writeUInt32BE(streamId, 8);
    block.copy(out, 12);
    return out;
  }
}
