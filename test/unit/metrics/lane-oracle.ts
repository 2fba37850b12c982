/**
 * The two sides of the fast lane's differential tests: the lane alone, and its oracle,
 * the general pipeline (parse to the model, `scrub`, `serializeToBuffer`), both as
 * comparable outcomes; and the production entry point.
 */
import { expect } from 'vitest';
import { createLabelHasher } from '../../../src/metrics/hash.ts';
import type { ExpositionFormat } from '../../../src/metrics/model.ts';
import { type ParseLimits, resolveParseLimits } from '../../../src/metrics/parse-limits.ts';
import type { ScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrubScrapeToBuffer } from '../../../src/metrics/scrub-pipeline.ts';
import { laneCandidate, scrubTextLane } from '../../../src/metrics/scrub-text-lane.ts';
import { scrubScrape } from '../../../src/metrics/scrub.ts';
import { serializeToBuffer } from '../../../src/metrics/serialize.ts';

export const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
export const TEXT = 'text/plain; version=0.0.4';
export const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';

export const FORMATS = ['text', 'openmetrics'] as const;

export type Outcome = { ok: true; body: string; stats: unknown } | { ok: false; code: string };

/** The general pipeline: parse to the model, scrub, render (no fast lane on this path). */
export function general(body: Buffer, policy: ScrubPolicy, limits: Partial<ParseLimits>, format: ExpositionFormat = 'text', input: ExpositionFormat = 'text'): Outcome {
  const outcome = scrubScrape(body, input === 'text' ? TEXT : OPENMETRICS, policy, createLabelHasher(KEY, policy.hashLength), limits);
  if (!outcome.ok) return { ok: false, code: outcome.code };
  try {
    return { ok: true, body: serializeToBuffer(outcome.families, format).toString('utf8'), stats: outcome.stats };
  } catch (err) {
    return { ok: false, code: (err as { code: string }).code };
  }
}

/** The lane alone: undefined when it gives up (or may not run on the body). */
export function lane(body: Buffer, policy: ScrubPolicy, limits: Partial<ParseLimits>, format: ExpositionFormat = 'text', input: ExpositionFormat = 'text'): Outcome | undefined {
  const resolved = resolveParseLimits(limits);
  const hasher = createLabelHasher(KEY, policy.hashLength);
  if (body.byteLength > resolved.maxBytes || !laneCandidate(body, hasher)) return undefined;
  const result = scrubTextLane(body, resolved, policy, hasher, format, input);
  return result === undefined ? undefined : { ok: true, body: result.body.toString('utf8'), stats: result.stats };
}

/**
 * The lane on `text` (in `input`) under `policy` and `limits`, out in `formats`: it gave
 * up, or it gave the oracle's result; and its output never matches `leak` (the values of
 * labels the test's policies drop, or raw values they hash). Returns how many formats it
 * took.
 */
export function expectLaneAgrees(
  text: string,
  policy: ScrubPolicy,
  limits: Partial<ParseLimits>,
  what: string,
  input: ExpositionFormat,
  leak: RegExp,
  formats: readonly ExpositionFormat[] = FORMATS,
): number {
  const body = Buffer.from(text, 'latin1');
  let taken = 0;
  for (const format of formats) {
    const fast = lane(body, policy, limits, format, input);
    if (fast === undefined) continue;
    taken++;
    expect(fast.ok && leak.test(fast.body), `${format} leak: ${what}`).toBe(false);
    expect(fast, `${format}: ${what}`).toEqual(general(body, policy, limits, format, input));
  }
  return taken;
}

/** The production entry point (lane first, general path when it gives up), as an Outcome. */
export function piped(body: Buffer, policy: ScrubPolicy, limits: Partial<ParseLimits>, format: ExpositionFormat = 'text', input: ExpositionFormat = 'text'): Outcome {
  const outcome = scrubScrapeToBuffer(body, input === 'text' ? TEXT : OPENMETRICS, policy, createLabelHasher(KEY, policy.hashLength), format, limits);
  return outcome.ok ? { ok: true, body: outcome.body.toString('utf8'), stats: outcome.stats } : { ok: false, code: outcome.code };
}

/** A sample line as the fuzzers edit it: name, whether it has braces, label pairs (raw), value. */
export interface Line {
  name: string;
  braces: boolean;
  pairs: Array<[string, string]>;
  value: string;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (.*)$/;

/** A compact sample line taken apart (undefined: a comment or anything else). */
export function parseLine(line: string): Line | undefined {
  const m = LINE.exec(line);
  if (m === null) return undefined;
  const pairs: Array<[string, string]> = [];
  if (m[3] !== undefined && m[3] !== '') {
    for (const pair of m[3].split(/,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/)) {
      const eq = pair.indexOf('=');
      pairs.push([pair.slice(0, eq), pair.slice(eq + 2, -1)]);
    }
  }
  return { name: m[1]!, braces: m[2] !== undefined, pairs, value: m[4]! };
}

export function renderLine(l: Line): string {
  const labels = l.pairs.map(([n, v]) => `${n}="${v}"`).join(',');
  return `${l.name}${l.braces || l.pairs.length > 0 ? `{${labels}}` : ''} ${l.value}`;
}
