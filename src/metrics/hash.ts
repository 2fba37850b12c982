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
 * string comparison instead of an HMAC, and no hash table, whose inserts on a first
 * scrape cost about as much as the HMACs themselves. A value found nowhere is an HMAC; a
 * cached hash is always the HMAC of the identical string.
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
   * The same for a value given as the ASCII bytes `bytes[start, end)`, without a string
   * made for it when the cache has it (the scrub pipeline's fast lane reads bytes).
   */
  hashBytes?(bytes: Uint8Array, start: number, end: number): string;
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
   * The previous scrape's values and their hashes, in the order they were asked for: the
   * first `#previousCount` entries. The two pairs of arrays swap at each scrape and are
   * overwritten from the start, so that later scrapes allocate no arrays (entries past
   * the count are stale, never read, and at most `#maxEntries`).
   */
  #previous: string[] = [];
  #previousHashes: string[] = [];
  #previousCount = 0;
  /** Where in the previous scrape's sequence the next value is expected. */
  #cursor = 0;
  /** This scrape's, so far. */
  #current: string[] = [];
  #currentHashes: string[] = [];
  #currentCount = 0;

  constructor(hmac: HmacSha256, length: number, cacheEntries: number) {
    this.#hmac = hmac;
    this.length = length;
    this.#maxEntries = cacheEntries;
  }

  beginScrape(): void {
    if (this.#currentCount > 0) {
      const values = this.#previous;
      const hashes = this.#previousHashes;
      this.#previous = this.#current;
      this.#previousHashes = this.#currentHashes;
      this.#previousCount = this.#currentCount;
      this.#current = values;
      this.#currentHashes = hashes;
      this.#currentCount = 0;
    }
    this.#cursor = 0;
  }

  restartScrape(): void {
    this.#currentCount = 0;
    this.#cursor = 0;
  }

  hashBytes(bytes: Uint8Array, start: number, end: number): string {
    const previous = this.#previous;
    const count = this.#previousCount;
    const c = this.#cursor;
    let at = -1;
    if (c < count && sameAscii(previous[c]!, bytes, start, end)) at = c;
    else if (c + 1 < count && sameAscii(previous[c + 1]!, bytes, start, end)) at = c + 1;
    let out: string;
    let kept: string;
    if (at >= 0) {
      out = this.#previousHashes[at]!;
      kept = previous[at]!;
      this.#cursor = at + 1;
    } else {
      out = this.#hmac.hexOfBytes(bytes, start, end, this.length);
      kept = asciiString(bytes, start, end);
    }
    this.#remember(kept, out);
    return out;
  }

  #remember(value: string, hash: string): void {
    const n = this.#currentCount;
    if (n < this.#maxEntries) {
      this.#current[n] = value;
      this.#currentHashes[n] = hash;
      this.#currentCount = n + 1;
    }
  }

  hash(value: string): string {
    const previous = this.#previous;
    const count = this.#previousCount;
    const c = this.#cursor;
    let at = -1;
    if (c < count && previous[c] === value) at = c;
    else if (c + 1 < count && previous[c + 1] === value) at = c + 1;
    let out: string;
    let kept: string;
    if (at >= 0) {
      out = this.#previousHashes[at]!;
      kept = previous[at]!;
      this.#cursor = at + 1;
    } else {
      // A new or changed value; the cursor stays for the next one. Cached as a string of
      // its own: a value sliced from the scraped text would keep the whole text alive.
      out = this.#hmac.hex(value, this.length);
      kept = detached(value);
    }
    this.#remember(kept, out);
    return out;
  }
}

/**
 * Whether the string `s` is the ASCII bytes `bytes[start, end)`. A byte above 0x7f is
 * never equal: such bytes are UTF-8, which a string's code units do not spell.
 */
function sameAscii(s: string, bytes: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) {
    const b = bytes[start + i]!;
    if (b !== s.charCodeAt(i) || b > 0x7f) return false;
  }
  return true;
}

/** `bytes[start, end)` as a string of one character a byte (exact for ASCII; a string of its own). */
function asciiString(bytes: Uint8Array, start: number, end: number): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1', start, end);
}

/** A copy of `s` that shares no memory with a longer string it may be a slice of. */
function detached(s: string): string {
  // Slicing a concatenation makes V8 flatten it into a new string first.
  return ` ${s}`.slice(1);
}
