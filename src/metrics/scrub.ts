/**
 * The scrubber: decides, inside the TEE, what of a workload's metrics may leave.
 *
 * Allowlist: a family no rule names is dropped whole; a label no rule names is dropped;
 * listed labels are kept, dropped or replaced by a keyed hash. A stateset whose state
 * label (named like the family) is dropped is dropped whole, as not allowed: its samples
 * would no longer say which state they are, nor render as OpenMetrics. The structural
 * `le`/`quantile` of histograms and summaries are not the policy's to drop or hash:
 * they always stay (validated numbers, they carry no string). Exemplars never leave
 * (they carry trace ids and raw observations). HELP leaves only when the family's rule
 * allows it, `_created` samples only when allowed, timestamps per policy.
 *
 * Series, caps and collisions. A series is one metric: a label set without the
 * structural `le`/`quantile` label, so a histogram's buckets, sum and count are kept or
 * dropped together and never leave half. After labels are dropped or hashed, two input
 * series can end up with the same label set; merging them would misstate both (and
 * keeping one is an arbitrary choice that hides the other), so every series of a
 * colliding set is dropped and counted. Caps then admit series in exposition order:
 * the first `maxSeries` of a family, and the first `maxSeries` overall, in family order.
 * Whatever is dropped is counted in `stats`.
 *
 * Doubt: `scrubScrape` parses and scrubs; if anything fails it returns no metrics at
 * all and counts a dropped scrape.
 */
import { type ErrorCode, ShadowplaneError, isShadowplaneError } from '../errors.ts';
import { type LabelHasher, createLabelHasher } from './hash.ts';
import type { ExpositionFormat, MetricFamily, ParsedExposition } from './model.ts';
import type { ParseLimits } from './parse-limits.ts';
import { parseScrapedBody } from './parse.ts';
import type { ScrubPolicy } from './policy.ts';
import { ScrubRun, type ScrubResult, type ScrubStats, emptyScrubStats } from './scrub-run.ts';

export { ScrubRun, type ScrubResult, type ScrubStats, emptyScrubStats } from './scrub-run.ts';
export { ruleFor } from './scrub-rules.ts';

/** The hasher for `key`, which must match the policy's hash length. */
export function hasherFor(policy: ScrubPolicy, key: Uint8Array | LabelHasher): LabelHasher {
  const hasher = key instanceof Uint8Array ? createLabelHasher(key, policy.hashLength) : key;
  if (hasher.length !== policy.hashLength) throw new ShadowplaneError('SP_CONFIG_INVALID', 'the label hasher length differs from the policy hashLength');
  return hasher;
}

/**
 * Scrubs parsed metrics under `policy`. `key` is the HMAC key for hashed labels (at least
 * 16 bytes) or a hasher made from it with `createLabelHasher`, whose cache then serves
 * many scrapes. Rules name families in the terms of the exposition's format (`format`;
 * by default the parsed exposition's, and the text format's for bare families).
 * Pure and deterministic: the same input, policy and key give the same output.
 */
export function scrub(parsed: ParsedExposition | readonly MetricFamily[], policy: ScrubPolicy, key: Uint8Array | LabelHasher, format?: ExpositionFormat): ScrubResult {
  const isExposition = 'families' in parsed;
  const run = new ScrubRun(policy, hasherFor(policy, key), format ?? (isExposition ? parsed.format : 'text'));
  const families = isExposition ? parsed.families : parsed;
  for (const family of families) {
    const groupCount = countGroups(family);
    if (run.begin(family)) {
      const samples = family.samples;
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i]!;
        run.sample(s.name, s.labels, s.labels.length, s.group, s.value, s.timestampMs, s.exemplar);
      }
    }
    run.end(groupCount);
  }
  return run.result();
}

/**
 * Number of series of a family: groups are numbered densely from 0 by the parser. A
 * family whose numbering is not (built by hand, or damaged) is a doubt.
 */
function countGroups(family: MetricFamily): number {
  let max = -1;
  for (const sample of family.samples) {
    const g = sample.group;
    if (!Number.isInteger(g) || g < 0 || g >= family.samples.length || (sample.labels.length & 1) !== 0) {
      throw new ShadowplaneError('SP_METRICS_INVALID', 'sample series numbering is inconsistent');
    }
    if (g > max) max = g;
  }
  return max + 1;
}

export type ScrubOutcome =
  | { readonly ok: true; readonly format: ExpositionFormat; readonly families: readonly MetricFamily[]; readonly stats: ScrubStats }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string | undefined; readonly stats: ScrubStats };

/**
 * Parses a scraped body by its Content-Type and scrubs it. Never throws: any error
 * (a parse doubt, a limit, a bug) drops the whole scrape and is reported as a code with
 * `stats.droppedScrapes = 1`, never as partial metrics, and the error's fixed detail.
 */
export function scrubScrape(
  body: Uint8Array,
  contentType: string | undefined,
  policy: ScrubPolicy,
  key: Uint8Array | LabelHasher,
  limits?: Partial<ParseLimits>,
): ScrubOutcome {
  try {
    const parsed = parseScrapedBody(body, contentType, limits);
    const { families, stats } = scrub(parsed, policy, key);
    return { ok: true, format: parsed.format, families, stats };
  } catch (err) {
    const stats = emptyScrubStats();
    stats.droppedScrapes = 1;
    // The detail is fixed text and a line number (scrub-pipeline.ts `dropped`).
    if (!isShadowplaneError(err)) return { ok: false, code: 'SP_INTERNAL', detail: undefined, stats };
    return { ok: false, code: err.code, detail: err.detail, stats };
  }
}
