/**
 * SPDY/3.1 framing: a push decoder (bytes in, frames out, any chunking). The encoders
 * live in spdy-encoder.ts and the constants in spdy-constants.ts; both are re-exported here.
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
import { FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameType, SPDY_VERSION } from './spdy-constants.ts';
import { DEFAULT_HEADER_LIMITS, HeaderBlockDecompressor, type HeaderBlockLimits, type SpdyHeaders } from './spdy-headers.ts';

export { FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameType, GoAwayStatus, MAX_FRAME_LENGTH, RstStatus, SPDY_VERSION } from './spdy-constants.ts';

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

export {
  SpdyFrameEncoder,
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './spdy-encoder.ts';
