/**
 * Shared helpers for the attestation tests: fixture paths, a cached simulated chain per
 * shape (RSA generation is the slow part), and an expectation on error codes.
 */
import { sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { isShadowplaneError, type ErrorCode } from '../../../src/errors.ts';
import type { EvidenceIssuer } from '../../../src/attestation/index.ts';
import { createSimulatedChain, signSimulatedReport, SIMULATED_DEFAULT_MEASUREMENT, type SimulatedChain, type SimulatedChainOptions } from '../../../src/attestation/simulated.ts';
import { parseReferenceValues, type ReferenceValues } from '../../../src/attestation/reference-values.ts';
import { SNP_OFFSET, SNP_SIGNED_LENGTH } from '../../../src/attestation/snp/report.ts';
import type { Evidence } from '../../../src/attestation/types.ts';

export const FIXTURES = new URL('../../fixtures/attestation/', import.meta.url);
export const fixture = (path: string): Buffer => readFileSync(new URL(path, FIXTURES));

/** The real Milan report's facts (test data README). */
export const MILAN = {
  measurement: 'b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01',
  chipId: '3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d',
  reportData: Buffer.concat([Buffer.from([1, 2, 3, 4, 5]), Buffer.alloc(59)]),
  /** Its REPORTED_TCB and LAUNCH_TCB (the same). */
  tcb: { bootloader: 2, tee: 0, snp: 5, microcode: 68 },
  /** Inside the VCEK's validity (2022-09-24 .. 2029-09-24). */
  now: new Date('2024-06-01T00:00:00Z'),
} as const;

const chains = new Map<string, Promise<SimulatedChain>>();

/** A simulated chain with RSA-2048 ARK/ASK (same algorithms as AMD, faster to make), cached per shape. */
export function chainFor(opts: SimulatedChainOptions = {}): Promise<SimulatedChain> {
  const key = JSON.stringify(opts, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  let c = chains.get(key);
  if (c === undefined) {
    c = createSimulatedChain({ rsaBits: 2048, ...opts });
    chains.set(key, c);
  }
  return c;
}

/** An issuer of simulated evidence under `chain`: a report of `measurement` signed by its VCEK, with the chain. */
export function simulatedIssuer(chain: SimulatedChain, measurement: string = SIMULATED_DEFAULT_MEASUREMENT): EvidenceIssuer {
  return {
    platform: 'simulated',
    issue: (reportData) =>
      Promise.resolve({
        platform: 'simulated',
        report: signSimulatedReport({ product: chain.product, reportData, measurement: Buffer.from(measurement, 'hex'), tcb: chain.tcb, chipId: chain.hwId }, chain.vcek.key),
        certificates: [chain.vcek.der, chain.ask.der, chain.ark.der],
      }),
  };
}

/** The host data simulated reports carry unless told otherwise (zero). */
export const SIMULATED_HOST_DATA = '00'.repeat(32);

/** Reference values with one simulated entry pinned to `chain` (and to zero host data), plus any overrides. */
export function simulatedReference(chain: SimulatedChain, measurement: string, extra: Record<string, unknown> = {}): ReferenceValues {
  return parseReferenceValues(
    { version: 1, entries: [{ name: 'sim', platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [measurement], hostData: [SIMULATED_HOST_DATA], ...extra }] },
    'test',
  );
}

/** Asserts that `fn` throws (or rejects with) a ShadowplaneError with `code`; returns it. */
export async function expectCode(fn: () => unknown, code: ErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(Error);
  if (!isShadowplaneError(caught)) throw caught as Error;
  expect(caught.code, caught.message).toBe(code);
  return caught;
}

/** Edits a signed report's body and signs it again, as the AMD-SP would have signed the edited one. */
export function resigned(e: Evidence, key: KeyObject, edit: (b: Buffer) => void): Evidence {
  const b = Buffer.from(e.report);
  edit(b);
  b.fill(0, SNP_OFFSET.signatureR);
  const sig = sign('sha384', b.subarray(0, SNP_SIGNED_LENGTH), { key, dsaEncoding: 'ieee-p1363' });
  Buffer.from(sig.subarray(0, 48)).reverse().copy(b, SNP_OFFSET.signatureR);
  Buffer.from(sig.subarray(48, 96)).reverse().copy(b, SNP_OFFSET.signatureS);
  return { ...e, report: b };
}
