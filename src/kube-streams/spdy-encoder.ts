/**
 * SPDY/3.1 frame encoders (the layouts are described in spdy-frame.ts).
 *
 * Data frames are encoded as an 8-byte header followed by the caller's payload buffer,
 * so large payloads are never copied. Frames that carry header blocks go through one
 * SpdyFrameEncoder per connection, which owns the sending side's zlib context: those
 * frames must reach the wire in the order they were encoded.
 */
import { ShadowplaneError } from '../errors.ts';
import { HeaderBlockCompressor } from './spdy-headers.ts';
import { FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameType, MAX_FRAME_LENGTH, SPDY_VERSION } from './spdy-constants.ts';

const HEADER_BYTES = 8;

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
