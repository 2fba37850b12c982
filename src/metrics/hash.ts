/**
 * Keyed hashing of label values: HMAC-SHA-256 under a key that never leaves the TEEs,
 * hex-encoded and truncated. The same value under the same key gives the same hash in
 * every scrape and every pod (so series stay joinable over time and across pods), while
 * nobody without the key can test a guess ("is user_id alice?") against the output.
 *
 * The input is the value alone, not the label name: the same identifier hashed under
 * `user` in one family and `user_id` in another joins. Values are cached per hasher
 * (bounded), because label values repeat across the samples of a scrape.
 */
import { ShadowplaneError } from '../errors.ts';
import { HmacSha256 } from './hmac-sha256.ts';

export const MIN_HASH_KEY_BYTES = 16;
const DEFAULT_CACHE_ENTRIES = 65_536;

export interface LabelHasher {
  /** Hex characters per hashed value. */
  readonly length: number;
  hash(value: string): string;
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
  return new HmacLabelHasher(new HmacSha256(key), length, cacheEntries);
}

class HmacLabelHasher implements LabelHasher {
  readonly length: number;
  readonly #hmac: HmacSha256;
  readonly #cache = new Map<string, string>();
  readonly #cacheEntries: number;

  constructor(hmac: HmacSha256, length: number, cacheEntries: number) {
    this.#hmac = hmac;
    this.length = length;
    this.#cacheEntries = cacheEntries;
  }

  hash(value: string): string {
    const cached = this.#cache.get(value);
    if (cached !== undefined) return cached;
    const out = this.#hmac.hex(value, this.length);
    if (this.#cache.size >= this.#cacheEntries) this.#cache.clear();
    this.#cache.set(value, out);
    return out;
  }
}
