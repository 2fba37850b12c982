/**
 * The small frames that exec and attach carry inside one HTTP/2 stream of the
 * proxy ↔ agent channel (docs/channel-protocol.md): `[u8 kind][u32 length][payload]`.
 *
 * Proxy → agent: stdin bytes, stdin end, terminal resize (JSON).
 * Agent → proxy: stdout bytes, stderr bytes, the final status (JSON).
 *
 * Pure: bytes in, values out. The decoder bounds every frame before it buffers it, so a
 * peer can never make it hold more than one maximal frame plus one network chunk.
 * Errors never quote payload bytes.
 */
import { ShadowplaneError } from '../errors.ts';

export const FrameKind = {
  stdin: 0x01,
  stdinEnd: 0x02,
  resize: 0x03,
  stdout: 0x11,
  stderr: 0x12,
  status: 0x13,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const FRAME_HEADER_BYTES = 5;
/** Largest payload of a stdin/stdout/stderr frame; bigger chunks are split. */
export const MAX_DATA_PAYLOAD = 256 * 1024;
/** Largest payload of a resize or status frame (both are short JSON objects). */
export const MAX_CONTROL_PAYLOAD = 4096;

/** Kinds the agent accepts from the proxy, and kinds the proxy accepts from the agent. */
export const TO_AGENT_KINDS: ReadonlySet<number> = new Set([FrameKind.stdin, FrameKind.stdinEnd, FrameKind.resize]);
export const FROM_AGENT_KINDS: ReadonlySet<number> = new Set([FrameKind.stdout, FrameKind.stderr, FrameKind.status]);

export interface Frame {
  readonly kind: FrameKind;
  /** A view into the received bytes when the frame arrived whole; do not mutate. */
  readonly payload: Buffer;
}

function maxPayload(kind: number): number {
  return kind === FrameKind.stdin || kind === FrameKind.stdout || kind === FrameKind.stderr ? MAX_DATA_PAYLOAD : MAX_CONTROL_PAYLOAD;
}

/** One frame as a single buffer. Throws SP_FRAME_TOO_LARGE past the kind's limit. */
export function encodeFrame(kind: FrameKind, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > maxPayload(kind)) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', `payload of ${payload.length} bytes`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out[0] = kind;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A data chunk of any size as one or more frames of at most MAX_DATA_PAYLOAD bytes. */
export function encodeDataFrames(kind: typeof FrameKind.stdin | typeof FrameKind.stdout | typeof FrameKind.stderr, chunk: Uint8Array): Buffer[] {
  if (chunk.length <= MAX_DATA_PAYLOAD) return [encodeFrame(kind, chunk)];
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_DATA_PAYLOAD) {
    frames.push(encodeFrame(kind, chunk.subarray(at, Math.min(chunk.length, at + MAX_DATA_PAYLOAD))));
  }
  return frames;
}

const EMPTY = new Uint8Array(0);

/**
 * Incremental decoder for one direction. `push` returns every frame completed by the
 * chunk; `end` throws if the stream stopped inside a frame.
 *
 * Invariant: at most one incomplete frame is buffered, and its declared length was
 * checked against the limit of its kind before any of its payload was kept.
 */
export class FrameDecoder {
  readonly #allowed: ReadonlySet<number>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Total size (header + payload) of the frame being assembled, once its header is known. */
  #need = 0;

  constructor(allowed: ReadonlySet<number>) {
    this.#allowed = allowed;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#need === 0 && this.#pendingBytes >= FRAME_HEADER_BYTES) this.#need = this.#frameSize(this.#joined(FRAME_HEADER_BYTES));
      if (this.#need === 0 || this.#pendingBytes < this.#need) return frames;
      buf = this.#joined(this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#need = 0;
    }
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const size = this.#frameSize(buf.subarray(at, at + FRAME_HEADER_BYTES));
      if (buf.length - at < size) break;
      frames.push({ kind: buf[at] as FrameKind, payload: buf.subarray(at + FRAME_HEADER_BYTES, at + size) });
      at += size;
    }
    if (at < buf.length) {
      const rest = buf.subarray(at);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
      this.#need = rest.length >= FRAME_HEADER_BYTES ? this.#frameSize(rest.subarray(0, FRAME_HEADER_BYTES)) : 0;
    }
    return frames;
  }

  /** Call when the byte stream ended; a half-received frame is an error. */
  end(): void {
    if (this.#pendingBytes > 0) throw new ShadowplaneError('SP_FRAME_INVALID', 'stream ended inside a frame');
  }

  /** Validates a header and returns the whole frame's size. */
  #frameSize(header: Buffer): number {
    const kind = header[0] as number;
    if (!this.#allowed.has(kind)) throw new ShadowplaneError('SP_FRAME_INVALID', `unexpected frame kind ${kind}`);
    const length = header.readUInt32BE(1);
    if (length > maxPayload(kind)) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', `declared payload of ${length} bytes`);
    if (kind === FrameKind.stdinEnd && length !== 0) throw new ShadowplaneError('SP_FRAME_INVALID', 'stdin end frame with payload');
    return FRAME_HEADER_BYTES + length;
  }

  #joined(bytes: number): Buffer {
    const all = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
    this.#pending = [all];
    return all.subarray(0, bytes);
  }
}

export interface TerminalSizeFrame {
  readonly width: number;
  readonly height: number;
}

/** Terminal sizes are u16 in the Kubernetes API; anything else is refused. */
function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

export function encodeResize(size: TerminalSizeFrame): Buffer {
  return encodeFrame(FrameKind.resize, Buffer.from(JSON.stringify({ width: size.width, height: size.height })));
}

export function decodeResize(payload: Buffer): TerminalSizeFrame {
  const value = parseJsonObject(payload);
  if (!isDimension(value['width']) || !isDimension(value['height'])) throw new ShadowplaneError('SP_FRAME_INVALID', 'resize frame');
  return { width: value['width'], height: value['height'] };
}

/** How an exec or attach ended, as the agent reports it in its last frame. */
export type StatusFrame =
  | { readonly exitCode: number }
  | { readonly error: { readonly code: string; readonly detail?: string } };

export function encodeStatus(status: StatusFrame): Buffer {
  return encodeFrame(FrameKind.status, Buffer.from(JSON.stringify(status)));
}

export function decodeStatus(payload: Buffer): StatusFrame {
  const value = parseJsonObject(payload);
  const exitCode = value['exitCode'];
  if (typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255) return { exitCode };
  const error = value['error'];
  if (typeof error === 'object' && error !== null && !Array.isArray(error)) {
    const code = (error as Record<string, unknown>)['code'];
    const detail = (error as Record<string, unknown>)['detail'];
    if (typeof code === 'string' && (detail === undefined || typeof detail === 'string')) {
      return detail === undefined ? { error: { code } } : { error: { code, detail } };
    }
  }
  throw new ShadowplaneError('SP_FRAME_INVALID', 'status frame');
}

function parseJsonObject(payload: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ShadowplaneError('SP_FRAME_INVALID', 'control frame is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ShadowplaneError('SP_FRAME_INVALID', 'control frame is not an object');
  return value as Record<string, unknown>;
}
