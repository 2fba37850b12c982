/** Small helpers shared by unit tests. */
import { expect } from 'vitest';
import { type ErrorCode, isShadowplaneError } from '../../src/errors.ts';

/** The error code `fn` throws ('not a ShadowplaneError' for anything else), or undefined when it returns. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isShadowplaneError(err) ? err.code : 'not a ShadowplaneError';
  }
  return undefined;
}

/** A seeded pseudo-random generator (mulberry32) in [0, 1): fuzz tests are reproducible from their seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `promise`, or a rejection naming `what` when it has not settled within `ms`: a bounded wait for a test to fail on instead of hanging. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `fn`, expects a ShadowplaneError with `code`, and returns it. */
export function expectCode(fn: () => unknown, code: ErrorCode): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect(isShadowplaneError(caught) ? caught.code : caught).toBe(code);
  return caught as Error;
}
