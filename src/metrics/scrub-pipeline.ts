/**
 * The agent's scrub pipeline in one pass: parse a scraped body, scrub it and render the
 * result, without building the parsed model in between.
 *
 * Same rules, one implementation: the parser (parse-text.ts, parse-openmetrics.ts and
 * the family builder) validates exactly as for `parseExposition` and hands each
 * validated sample to a sink; here the sink is the scrubber's `ScrubRun`, the same one
 * `scrub` feeds from the model; the result is rendered by `serializeToBuffer`. So the
 * bytes and statistics equal those of `scrubScrape` followed by `serializeToBuffer`
 * (a unit test checks this on the same inputs); what is saved is the model of every
 * sample (an object and a label array each, most of which the scrubber then drops) and
 * the garbage collection it costs.
 */
import { type ErrorCode, isShadowplaneError } from '../errors.ts';
import { formatFromContentType } from './content-type.ts';
import type { LabelHasher } from './hash.ts';
import type { Exemplar, ExpositionFormat } from './model.ts';
import { decodeBody } from './parse.ts';
import { ExpositionBuilder, type FamilyState, type SampleSink } from './parse-families.ts';
import { type ParseLimits, resolveParseLimits } from './parse-limits.ts';
import { parseOpenMetricsInto } from './parse-openmetrics.ts';
import { parseTextInto } from './parse-text.ts';
import type { ScrubPolicy } from './policy.ts';
import { ScrubRun, type ScrubStats, emptyScrubStats } from './scrub-run.ts';
import { hasherFor, scrubScrape } from './scrub.ts';
import { laneCandidate, scrubTextLane } from './scrub-text-lane.ts';
import { renderToBuffer, serializeToBuffer } from './serialize.ts';

export type ScrubBufferOutcome =
  | { readonly ok: true; readonly format: ExpositionFormat; readonly body: Buffer; readonly stats: ScrubStats }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string | undefined; readonly stats: ScrubStats };

/** Feeds validated samples into a scrub as the parser produces them. */
class ScrubSink implements SampleSink {
  readonly #run: ScrubRun;
  #family: FamilyState | undefined;
  #allowed = false;

  constructor(run: ScrubRun) {
    this.#run = run;
  }

  sample(family: FamilyState, name: string, labels: readonly string[], n: number, value: string, timestampMs: number | undefined, exemplar: Exemplar | undefined): void {
    // Metadata cannot follow a family's first sample, so what `begin` reads is final here.
    if (family !== this.#family) {
      this.#family = family;
      this.#allowed = this.#run.begin(family);
    }
    if (this.#allowed) this.#run.sample(name, labels, n, family.groupIndex, value, timestampMs, exemplar);
  }

  familyDone(family: FamilyState): void {
    if (family !== this.#family) this.#run.begin(family);
    this.#run.end(family.groupIndex + 1);
    this.#family = undefined;
  }
}

/**
 * Parses a scraped body by its Content-Type, scrubs it under `policy` and renders the
 * kept metrics in `format`: `scrubScrape` then `serializeToBuffer`, in one pass.
 * `format` in the outcome is the scraped body's. Never throws: any error (a parse
 * doubt, a limit, a rendering refusal, a bug) drops the whole scrape, reported as a code
 * with `stats.droppedScrapes = 1`, never as partial metrics, and the error's detail (the
 * parser's line number and fixed reason; none for an error from outside the catalogue).
 */
export function scrubScrapeToBuffer(
  body: Uint8Array,
  contentType: string | undefined,
  policy: ScrubPolicy,
  key: Uint8Array | LabelHasher,
  format: ExpositionFormat,
  limits?: Partial<ParseLimits>,
): ScrubBufferOutcome {
  try {
    let hasher: LabelHasher;
    try {
      hasher = hasherFor(policy, key);
    } catch {
      // A bad key or hasher: the composed path reports it after a parse error, if any.
      return composed(body, contentType, policy, key, format, limits);
    }
    const inputFormat = formatFromContentType(contentType);
    const resolved = resolveParseLimits(limits);
    // The fast lane first, where it may run: it gives up on anything it does not decide.
    if (body.byteLength <= resolved.maxBytes && laneCandidate(body, hasher)) {
      const lane = scrubTextLane(body, resolved, policy, hasher, format, inputFormat);
      if (lane !== undefined) return { ok: true, format: inputFormat, body: lane.body, stats: lane.stats };
      hasher.restartScrape?.();
    }
    const text = decodeBody(body, resolved);
    const run = new ScrubRun(policy, hasher, inputFormat);
    const om = inputFormat === 'openmetrics';
    const builder = new ExpositionBuilder(om, resolved, new ScrubSink(run));
    if (om) parseOpenMetricsInto(text, resolved, builder);
    else parseTextInto(text, resolved, builder);
    const { families, stats } = run.scrubbed();
    // The scrubbed text is rarely longer than the scraped one: start at its size.
    return { ok: true, format: inputFormat, body: renderToBuffer(families, format, body.byteLength), stats };
  } catch (err) {
    return dropped(err);
  }
}

function composed(
  body: Uint8Array,
  contentType: string | undefined,
  policy: ScrubPolicy,
  key: Uint8Array | LabelHasher,
  format: ExpositionFormat,
  limits: Partial<ParseLimits> | undefined,
): ScrubBufferOutcome {
  const outcome = scrubScrape(body, contentType, policy, key, limits);
  if (!outcome.ok) return outcome;
  return { ok: true, format: outcome.format, body: serializeToBuffer(outcome.families, format), stats: outcome.stats };
}

/**
 * The outcome of a dropped scrape: its code and detail, so that whoever runs the workload
 * can learn why without reproducing the exposition outside the TEE. Safe to pass on
 * because every error on this path (parse-*.ts `invalid`/`tooLarge`, decoding, the
 * Content-Type, limits, the hasher, the scrub and the renderer) is built from fixed text,
 * a line number and constants, never from input bytes; anything else (a bug) is
 * SP_INTERNAL without a detail, since its message could quote anything.
 */
function dropped(err: unknown): ScrubBufferOutcome {
  const stats = emptyScrubStats();
  stats.droppedScrapes = 1;
  if (!isShadowplaneError(err)) return { ok: false, code: 'SP_INTERNAL', detail: undefined, stats };
  return { ok: false, code: err.code, detail: err.detail, stats };
}
