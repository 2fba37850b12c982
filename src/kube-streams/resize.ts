/**
 * Terminal resize messages: a stream of JSON objects `{"Width":W,"Height":H}`.
 *
 * kubectl writes them with Go's json.Encoder (one object per line); the kubelet reads
 * them with json.Decoder, so objects may also arrive back to back, split across frames,
 * or with keys in any letter case (Go matches field names case-insensitively;
 * @kubernetes/client-node sends `{"height":..,"width":..}` without a newline). This
 * decoder accepts exactly that: a sequence of top-level JSON objects separated by
 * optional whitespace. Width and Height are uint16 in Go; a missing key means 0.
 *
 * Bounded: at most `maxPending` bytes of an unfinished object are kept.
 */
import { ShadowplaneError } from '../errors.ts';

export interface TerminalSizeValue {
  readonly width: number;
  readonly height: number;
}

export const DEFAULT_MAX_RESIZE_PENDING = 4096;

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function toSize(value: unknown): TerminalSizeValue {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ShadowplaneError('SP_FRAME_INVALID', 'resize message is not an object');
  }
  let width = 0;
  let height = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const lower = key.toLowerCase();
    if (lower !== 'width' && lower !== 'height') continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) {
      throw new ShadowplaneError('SP_FRAME_INVALID', 'resize dimension is not a uint16');
    }
    if (lower === 'width') width = v;
    else height = v;
  }
  return { width, height };
}

export class TerminalSizeDecoder {
  readonly #maxPending: number;
  #pending: Buffer = Buffer.alloc(0);
  // scanner state over #pending, kept across pushes so bytes are scanned once
  #scanned = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #start = -1;

  constructor(maxPending = DEFAULT_MAX_RESIZE_PENDING) {
    this.#maxPending = maxPending;
  }

  /** Feeds bytes; returns every complete size they finish. Throws ShadowplaneError. */
  push(chunk: Buffer): TerminalSizeValue[] {
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const sizes: TerminalSizeValue[] = [];
    let consumed = 0;
    for (let i = this.#scanned; i < buf.length; i++) {
      const byte = buf[i]!;
      if (this.#depth === 0) {
        if (isSpace(byte)) {
          consumed = i + 1;
          continue;
        }
        if (byte !== OPEN) throw new ShadowplaneError('SP_FRAME_INVALID', 'resize message is not a JSON object');
        this.#start = i;
        this.#depth = 1;
        continue;
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) this.#inString = false;
        continue;
      }
      if (byte === QUOTE) this.#inString = true;
      else if (byte === OPEN) this.#depth++;
      else if (byte === CLOSE && --this.#depth === 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(buf.toString('utf8', this.#start, i + 1));
        } catch {
          throw new ShadowplaneError('SP_FRAME_INVALID', 'resize message is not valid JSON');
        }
        sizes.push(toSize(parsed));
        consumed = i + 1;
        this.#start = -1;
      }
    }
    const rest = buf.length - consumed;
    if (rest > this.#maxPending) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'resize message exceeds the limit');
    this.#pending = rest === 0 ? Buffer.alloc(0) : Buffer.from(buf.subarray(consumed));
    this.#scanned = buf.length - consumed;
    if (this.#start >= 0) this.#start -= consumed;
    return sizes;
  }
}
