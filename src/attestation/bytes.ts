/**
 * Byte helpers shared by the attestation code: hex rendering for messages and results,
 * strict hex parsing for reference values, constant-time comparison of digests.
 */
import { timingSafeEqual } from 'node:crypto';

/** Lowercase hex. */
export const hex = (b: Buffer): string => b.toString('hex');

/** The first 8 hex digits and an ellipsis: enough for a human to match, short enough for one line. */
export function shortHex(value: string | Buffer): string {
  const h = typeof value === 'string' ? value : value.toString('hex');
  return h.length > 8 ? `${h.slice(0, 8)}…` : h;
}

/** Constant-time equality for digests and other values of public length. */
export function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when every byte is zero. */
export function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** `0x` + 16 hex digits of a little-endian u64 at `offset`. */
export function u64Hex(b: Buffer, offset: number): string {
  return `0x${b.readBigUInt64LE(offset).toString(16).padStart(16, '0')}`;
}
