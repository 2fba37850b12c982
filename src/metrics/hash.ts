/**
 * Keyed hashing of label values: HMAC-SHA-256 under a key that never leaves the TEEs,
 * hex-encoded and truncated. The same value under the same key gives the same hash in
 * every scrape and every pod (so series stay joinable over time and across pods), while
 * nobody without the key can test a guess ("is user_id alice?") against the output.
 *
 * The input is the value alone, not the label name: the same identifier hashed under
 * `user` in one family and `user_id` in another joins.
 *
 * Caching: a pod's scrapes repeat the same series in the same order, so the values one
 * scrape hashes are, in order, mostly those the previous one hashed. The hasher keeps the
 * previous scrape's values and hashes in order (bounded) and compares each value with the
 * next one there (and the one after, so that a series that went away costs one miss): a
 * byte comparison instead of an HMAC, and no hash table, whose inserts on a first scrape
 * cost about as much as the HMACs themselves. A value found nowhere is an HMAC; a cached
 * hash is always the HMAC of the identical bytes (values given as strings are compared
 * as their UTF-8, which is what the HMAC takes).
 */
import { ShadowplaneError } from '../errors.ts';
import { HmacSha256 } from './hmac-sha256.ts';

export const MIN_HASH_KEY_BYTES = 16;
const DEFAULT_CACHE_ENTRIES = 65_536;

export interface LabelHasher {
  /** Hex characters per hashed value. */
  readonly length: number;
  hash(value: string): string;
  /**
   * The same for a value given as its UTF-8 bytes `bytes[start, end)`, the `length` hex
   * characters written as ASCII into `out` at `at`: no string made (the scrub
   * pipeline's fast lane reads and writes bytes).
   */
  hashInto?(bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number): void;
  /** A scrape begins: what the last one hashed becomes the cache. */
  beginScrape?(): void;
  /**
   * The scrape begins again (the pipeline's fast lane gave up): what it hashed so far is
   * forgotten, the cache stays the last scrape's.
   */
  restartScrape?(): void;
}

/**
 * A hasher over `key` (at least 16 bytes; 32 random bytes recommended) keeping `length`
 * hex characters (8–64).
 */
export function createLabelHasher(key: Uint8Array, length = 16, cacheEntries = DEFAULT_CACHE_ENTRIES): LabelHasher {
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_HASH_KEY_BYTES) {
    throw new ShadowplaneError('SP_CONFIG_INVALID', `the metrics hash key must be at least ${MIN_HASH_KEY_BYTES} bytes`);
  }
  if (!Number.isInteger(length) || length < 8 || length > 64) {
    throw new ShadowplaneError('SP_CONFIG_INVALID', 'the metrics hash length must be 8 to 64 hex characters');
  }
  return new HmacLabelHasher(new HmacSha256(key), length, Math.max(0, cacheEntries));
}

class HmacLabelHasher implements LabelHasher {
  readonly length: number;
  readonly #hmac: HmacSha256;
  readonly #maxEntries: number;
  /**
   * The previous scrape's values and their hashes, in the order they were asked for, and
   * this scrape's so far: bytes in typed arrays, no object per value (a string per
   * value and per hash, kept from one scrape to the next, cost the garbage collector
   * about as much as the HMACs themselves). The two swap at each scrape and are
   * overwritten from the start.
   */
  #previous: HashSequence;
  #current: HashSequence;
  /** Where in the previous scrape's sequence the next value is expected. */
  #cursor = 0;
  /** A value given as a string, encoded; a hash to return as a string. */
  #scratch = new Uint8Array(256);
  readonly #out = Buffer.alloc(64);
  readonly #encoder = new TextEncoder();

  constructor(hmac: HmacSha256, length: number, cacheEntries: number) {
    this.#hmac = hmac;
    this.length = length;
    this.#maxEntries = cacheEntries;
    this.#previous = new HashSequence(length);
    this.#current = new HashSequence(length);
  }

  beginScrape(): void {
    if (this.#current.count > 0) {
      const previous = this.#previous;
      this.#previous = this.#current;
      this.#current = previous;
      previous.clear();
    }
    this.#cursor = 0;
  }

  restartScrape(): void {
    this.#current.clear();
    this.#cursor = 0;
  }

  hashInto(bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number): void {
    const previous = this.#previous;
    const c = this.#cursor;
    let hit = -1;
    if (c < previous.count && previous.holds(c, bytes, start, end)) hit = c;
    else if (c + 1 < previous.count && previous.holds(c + 1, bytes, start, end)) hit = c + 1;
    const length = this.length;
    if (hit >= 0) {
      const hashes = previous.hashes;
      const from = hit * length;
      for (let i = 0; i < length; i++) out[at + i] = hashes[from + i]!;
      this.#cursor = hit + 1;
    } else {
      // A new or changed value; the cursor stays for the next one.
      this.#hmac.hexInto(bytes, start, end, length, out, at);
    }
    if (this.#current.count < this.#maxEntries) this.#current.append(bytes, start, end, out, at);
  }

  hash(value: string): string {
    // UTF-8, as the HMAC takes it: ASCII directly, anything else through TextEncoder.
    let len = value.length;
    if (this.#scratch.length < len * 3) this.#scratch = new Uint8Array(len * 3);
    const scratch = this.#scratch;
    for (let i = 0; i < len; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) {
        len = this.#encoder.encodeInto(value, scratch).written;
        break;
      }
      scratch[i] = c;
    }
    this.hashInto(scratch, 0, len, this.#out, 0);
    return this.#out.toString('latin1', 0, this.length);
  }
}

/**
 * One scrape's hashed values and their hashes, in order: the values' bytes back to back
 * (value i ends at `ends[i]`), the hashes' hex characters at `i * hashLength`. Grows by
 * doubling, up to MAX_SEQUENCE_BYTES of values (past that, values are not remembered:
 * the next scrape computes their HMACs again).
 */
class HashSequence {
  readonly #hashLength: number;
  count = 0;
  #values = new Uint8Array(4096);
  #used = 0;
  #ends = new Int32Array(256);
  hashes: Uint8Array;

  constructor(hashLength: number) {
    this.#hashLength = hashLength;
    this.hashes = new Uint8Array(256 * hashLength);
  }

  clear(): void {
    this.count = 0;
    this.#used = 0;
  }

  /** Whether entry `i` is the value `bytes[start, end)`. */
  holds(i: number, bytes: Uint8Array, start: number, end: number): boolean {
    const from = i === 0 ? 0 : this.#ends[i - 1]!;
    const length = end - start;
    if (this.#ends[i]! - from !== length) return false;
    const values = this.#values;
    for (let k = 0; k < length; k++) if (values[from + k] !== bytes[start + k]) return false;
    return true;
  }

  append(bytes: Uint8Array, start: number, end: number, hash: Uint8Array, at: number): void {
    const length = end - start;
    if (this.#used + length > this.#values.length) {
      if (this.#used + length > MAX_SEQUENCE_BYTES) return;
      this.#values = grown(this.#values, Math.min(MAX_SEQUENCE_BYTES, Math.max(this.#values.length * 2, this.#used + length)), this.#used);
    }
    const i = this.count;
    if (i === this.#ends.length) {
      const ends = new Int32Array(i * 2);
      ends.set(this.#ends);
      this.#ends = ends;
      this.hashes = grown(this.hashes, i * 2 * this.#hashLength, i * this.#hashLength);
    }
    const values = this.#values;
    let used = this.#used;
    for (let k = start; k < end; k++) values[used++] = bytes[k]!;
    this.#used = used;
    this.#ends[i] = used;
    const hashes = this.hashes;
    const hashLength = this.#hashLength;
    for (let k = 0; k < hashLength; k++) hashes[i * hashLength + k] = hash[at + k]!;
    this.count = i + 1;
  }
}

/** Bytes of values one scrape's sequence remembers at most (the cache of a hasher holds two). */
const MAX_SEQUENCE_BYTES = 4 * 1024 * 1024;

/** A copy of the first `used` bytes of `bytes` in an array of `size`. */
function grown(bytes: Uint8Array, size: number, used: number): Uint8Array<ArrayBuffer> {
  const next = new Uint8Array(size);
  next.set(bytes.subarray(0, used));
  return next;
}
