import { expect } from 'vitest';
import { type ErrorCode, isShadowplaneError } from '../../../src/errors.ts';

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

/** A small deterministic PRNG (mulberry32) for seeded fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
