/**
 * A bounded cache of successful verifications, keyed by what was verified and under what
 * rules (certificate fingerprint, reference-values digest, revocation-policy digest,
 * whether simulated evidence was allowed).
 *
 * Invariants: at most `maxEntries` entries (least recently used evicted first); an entry is
 * never returned at or after its expiry, which the caller sets to the earliest of the
 * certificate's notAfter, the evidence's notAfter (its chain, collateral and CRLs) and
 * now + `ttlMs`. Failures are
 * never cached, so a peer that fixes its evidence is re-checked at once.
 */

export interface VerificationCacheOptions {
  /** Default 1024. */
  readonly maxEntries?: number;
  /** Upper bound on how long a verification is reused. Default 10 minutes. */
  readonly ttlMs?: number;
}

export class VerificationCache<T> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #entries = new Map<string, { readonly value: T; readonly expires: number }>();

  constructor(opts: VerificationCacheOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(opts.maxEntries ?? 1024));
    this.ttlMs = Math.max(0, opts.ttlMs ?? 10 * 60_000);
  }

  /** The cached value for `key` if it has not expired at `nowMs`. */
  get(key: string, nowMs: number): T | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    this.#entries.delete(key);
    if (nowMs >= hit.expires) return undefined;
    this.#entries.set(key, hit); // most recently used last
    return hit.value;
  }

  /** Stores `value` until the earlier of `notAfterMs` and `nowMs + ttlMs`. */
  set(key: string, value: T, nowMs: number, notAfterMs: number): void {
    const expires = Math.min(notAfterMs, nowMs + this.ttlMs);
    if (expires <= nowMs) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expires });
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** A cache for `verifyAttestedCertificate` results. */
export function createVerificationCache<T>(opts?: VerificationCacheOptions): VerificationCache<T> {
  return new VerificationCache<T>(opts);
}
