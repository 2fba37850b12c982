/**
 * SPDY/3 header blocks: the name/value layout and its zlib compression.
 *
 * Layout (uncompressed): `u32 count`, then per entry `u32 nameLength, name, u32
 * valueLength, value`; several values of one name are joined with NUL. Names are
 * lowercase and unique.
 *
 * Compression: one zlib stream per direction for the whole connection, primed with the
 * SPDY/3 dictionary; every block ends with a sync flush so that the peer can inflate it
 * without waiting for more. Both contexts therefore carry state from block to block: a
 * block that is skipped, or inflated out of order, corrupts every later one. That is why
 * each side owns exactly one compressor or decompressor and uses it for every header
 * block in wire order, even for frames it ignores.
 *
 * pako's synchronous Inflate/Deflate keep their context across `push` calls; node:zlib's
 * synchronous API does not (PROTOCOLS.md A.9).
 *
 * Untrusted input is bounded before it is trusted: the inflated size stops at
 * `maxBlockBytes` (a small compressed block can expand a thousandfold), and counts and
 * lengths are checked against their limits before anything is allocated for them.
 */
import { Deflate, Inflate, Z_SYNC_FLUSH } from 'pako';
import { ShadowplaneError } from '../errors.ts';
import { SPDY_DICTIONARY } from './spdy-dictionary.ts';

/** Header name → raw value (several values are joined with NUL, as on the wire). */
export type SpdyHeaders = ReadonlyMap<string, string>;

export interface HeaderBlockLimits {
  /** Largest inflated header block in bytes. */
  readonly maxBlockBytes: number;
  /** Most entries in one block. */
  readonly maxHeaders: number;
  /** Longest header name in bytes. */
  readonly maxNameBytes: number;
  /** Longest header value (all NUL-joined values of one name) in bytes. */
  readonly maxValueBytes: number;
}

/** kubectl sends three or four short headers per stream; these limits leave ample room. */
export const DEFAULT_HEADER_LIMITS: HeaderBlockLimits = Object.freeze({
  maxBlockBytes: 64 * 1024,
  maxHeaders: 128,
  maxNameBytes: 256,
  maxValueBytes: 16 * 1024,
});

/** Output chunk size of both zlib contexts: blocks are small, so keep allocations small. */
const ZLIB_CHUNK = 4096;

const EMPTY_HEADERS: SpdyHeaders = new Map();

function invalid(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_FRAME_INVALID', detail);
}

/** Serialises a header block without compression (exported for tests and tools). */
export function serializeHeaderBlock(headers: Iterable<readonly [string, string]>): Buffer {
  const entries: Array<[Buffer, Buffer]> = [];
  let size = 4;
  const seen = new Set<string>();
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (name.length === 0) throw invalid('empty header name');
    if (seen.has(name)) throw invalid('duplicate header name');
    seen.add(name);
    const entry: [Buffer, Buffer] = [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')];
    entries.push(entry);
    size += 8 + entry[0].length + entry[1].length;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(entries.length, 0);
  let offset = 4;
  for (const [name, value] of entries) {
    out.writeUInt32BE(name.length, offset);
    name.copy(out, offset + 4);
    offset += 4 + name.length;
    out.writeUInt32BE(value.length, offset);
    value.copy(out, offset + 4);
    offset += 4 + value.length;
  }
  return out;
}

/**
 * Parses an inflated header block. The block must be consumed exactly: trailing bytes
 * would mean the two sides disagree about where a block ends.
 */
export function parseHeaderBlock(block: Buffer, limits: HeaderBlockLimits = DEFAULT_HEADER_LIMITS): Map<string, string> {
  if (block.length < 4) throw invalid('truncated header block');
  const count = block.readUInt32BE(0);
  if (count > limits.maxHeaders) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'too many headers');
  // Every entry needs at least 8 bytes of lengths plus a one-byte name.
  if (count * 9 > block.length - 4) throw invalid('header count exceeds block');
  const headers = new Map<string, string>();
  let offset = 4;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > block.length) throw invalid('truncated header block');
    const nameLength = block.readUInt32BE(offset);
    offset += 4;
    if (nameLength === 0) throw invalid('empty header name');
    if (nameLength > limits.maxNameBytes) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'header name too long');
    if (offset + nameLength + 4 > block.length) throw invalid('truncated header block');
    const name = block.toString('latin1', offset, offset + nameLength);
    offset += nameLength;
    if (name !== name.toLowerCase()) throw invalid('header name not lowercase');
    if (headers.has(name)) throw invalid('duplicate header name');
    const valueLength = block.readUInt32BE(offset);
    offset += 4;
    if (valueLength > limits.maxValueBytes) throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'header value too long');
    if (offset + valueLength > block.length) throw invalid('truncated header block');
    headers.set(name, block.toString('latin1', offset, offset + valueLength));
    offset += valueLength;
  }
  if (offset !== block.length) throw invalid('trailing bytes after header block');
  return headers;
}

/** One direction's decompression context. Owned by exactly one frame decoder. */
export class HeaderBlockDecompressor {
  readonly #limits: HeaderBlockLimits;
  readonly #inflate: Inflate;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #failed: ShadowplaneError | null = null;

  constructor(limits: HeaderBlockLimits = DEFAULT_HEADER_LIMITS) {
    this.#limits = limits;
    this.#inflate = new Inflate({ dictionary: SPDY_DICTIONARY, chunkSize: ZLIB_CHUNK });
    this.#inflate.onData = (chunk) => {
      this.#size += chunk.length;
      // Throwing here stops pako mid-block; the context is then unusable, which is
      // fine because a header error ends the whole connection.
      if (this.#size > this.#limits.maxBlockBytes) {
        throw new ShadowplaneError('SP_FRAME_TOO_LARGE', 'header block inflates beyond the limit');
      }
      this.#chunks.push(chunk);
    };
  }

  /** Inflates one compressed block (the rest of a SYN_STREAM/SYN_REPLY/HEADERS payload). */
  decode(compressed: Uint8Array): Map<string, string> {
    if (this.#failed) throw this.#failed;
    if (compressed.length === 0) return new Map(EMPTY_HEADERS);
    this.#chunks = [];
    this.#size = 0;
    try {
      const ok = this.#inflate.push(compressed, Z_SYNC_FLUSH);
      if (!ok || this.#inflate.ended) throw invalid('header block does not inflate');
      const block = this.#chunks.length === 1 ? Buffer.from(this.#chunks[0]!.buffer, this.#chunks[0]!.byteOffset, this.#chunks[0]!.length) : Buffer.concat(this.#chunks, this.#size);
      return parseHeaderBlock(block, this.#limits);
    } catch (err) {
      this.#failed = err instanceof ShadowplaneError ? err : invalid('header block does not inflate');
      throw this.#failed;
    } finally {
      this.#chunks = [];
    }
  }
}

/** One direction's compression context. Owned by exactly one frame encoder. */
export class HeaderBlockCompressor {
  readonly #deflate: Deflate;
  #chunks: Uint8Array[] = [];
  #size = 0;

  constructor() {
    this.#deflate = new Deflate({ dictionary: SPDY_DICTIONARY, chunkSize: ZLIB_CHUNK });
    this.#deflate.onData = (chunk) => {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    };
  }

  /** Compresses one block and sync-flushes, so the peer can inflate it on its own. */
  encode(headers: Iterable<readonly [string, string]>): Buffer {
    const plain = serializeHeaderBlock(headers);
    this.#chunks = [];
    this.#size = 0;
    if (!this.#deflate.push(plain, Z_SYNC_FLUSH)) throw new ShadowplaneError('SP_INTERNAL', 'header compression failed');
    const out = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    return out;
  }
}
