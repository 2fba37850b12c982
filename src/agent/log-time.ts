/**
 * Log timestamps: nanoseconds since the Unix epoch as bigint, printed the way the kubelet
 * prints them (`RFC3339NanoFixed`: always nine fraction digits, UTC, `Z`).
 */

/** Nanoseconds since the epoch. Injected so that tests control time. */
export type NanoClock = () => bigint;

/**
 * Wall-clock nanoseconds that never go backwards within this process: the wall clock is
 * read once, then advanced by the monotonic high-resolution clock.
 */
export function systemNanoClock(): NanoClock {
  const wallBase = BigInt(Date.now()) * 1_000_000n;
  const monoBase = process.hrtime.bigint();
  return () => wallBase + (process.hrtime.bigint() - monoBase);
}

let cachedSecond = -1n;
let cachedPrefix = '';

/** `2024-01-01T00:00:00.123456789Z`. Caches the per-second prefix (the hot path stamps many lines a second). */
export function formatRfc3339NanoFixed(ns: bigint): string {
  const second = ns >= 0n ? ns / 1_000_000_000n : (ns - 999_999_999n) / 1_000_000_000n;
  if (second !== cachedSecond) {
    cachedPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  const fraction = (ns - second * 1_000_000_000n).toString().padStart(9, '0');
  return `${cachedPrefix}.${fraction}Z`;
}
