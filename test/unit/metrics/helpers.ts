import { expect } from 'vitest';
import { type ErrorCode, isShadowplaneError } from '../../../src/errors.ts';
import { seededRandom } from '../../support/testing.ts';

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
export const prng = seededRandom;
