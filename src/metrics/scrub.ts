/**
 * The scrubber: decides, inside the TEE, what of a workload's metrics may leave.
 *
 * Allowlist: a family no rule names is dropped whole; a label no rule names is dropped;
 * listed labels are kept, dropped or replaced by a keyed hash. Exemplars never leave
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
import { compileGlob, type NameMatcher } from '../config/glob.ts';
import { type LabelHasher, createLabelHasher } from './hash.ts';
import type { ExpositionFormat, MetricFamily, MetricType, ParsedExposition, Sample } from './model.ts';
import { LabelSetKeyer } from './label-key.ts';
import type { ParseLimits } from './parse-limits.ts';
import { parseScrapedBody } from './parse.ts';
import type { FamilyRule, LabelAction, ScrubPolicy } from './policy.ts';

export interface ScrubStats {
  keptFamilies: number;
  /** Series (metrics, see above) that left. */
  keptSeries: number;
  keptSamples: number;
  /** Families no rule allows. */
  droppedFamilies: number;
  /** All dropped series: the sum of the four reasons below. */
  droppedSeries: number;
  droppedSeriesNotAllowed: number;
  droppedSeriesFamilyCap: number;
  droppedSeriesTotalCap: number;
  droppedSeriesCollision: number;
  /** Label instances removed from kept series. */
  droppedLabels: number;
  /** Label values replaced by their keyed hash, on kept series. */
  hashedValues: number;
  droppedExemplars: number;
  droppedTimestamps: number;
  droppedHelp: number;
  droppedCreatedSamples: number;
  /** 1 when the whole scrape was dropped (see `scrubScrape`). */
  droppedScrapes: number;
}

export interface ScrubResult {
  readonly families: readonly MetricFamily[];
  readonly stats: ScrubStats;
}

export function emptyScrubStats(): ScrubStats {
  return {
    keptFamilies: 0,
    keptSeries: 0,
    keptSamples: 0,
    droppedFamilies: 0,
    droppedSeries: 0,
    droppedSeriesNotAllowed: 0,
    droppedSeriesFamilyCap: 0,
    droppedSeriesTotalCap: 0,
    droppedSeriesCollision: 0,
    droppedLabels: 0,
    hashedValues: 0,
    droppedExemplars: 0,
    droppedTimestamps: 0,
    droppedHelp: 0,
    droppedCreatedSamples: 0,
    droppedScrapes: 0,
  };
}

interface CompiledPolicy {
  readonly exact: ReadonlyMap<string, FamilyRule>;
  readonly patterns: ReadonlyArray<readonly [NameMatcher, FamilyRule]>;
}

const compiledCache = new WeakMap<ScrubPolicy, CompiledPolicy>();

function compile(policy: ScrubPolicy): CompiledPolicy {
  let compiled = compiledCache.get(policy);
  if (compiled === undefined) {
    const exact = new Map<string, FamilyRule>();
    const patterns: Array<readonly [NameMatcher, FamilyRule]> = [];
    for (const rule of policy.families) {
      if (rule.isPattern) patterns.push([compileGlob(rule.name), rule]);
      else exact.set(rule.name, rule);
    }
    compiled = { exact, patterns };
    compiledCache.set(policy, compiled);
  }
  return compiled;
}

/**
 * The names a rule is matched against: the family name and, where the two formats name
 * a family differently, the other spelling (a counter `x` in OpenMetrics is `x_total` in
 * the text format and the other way round; an info `x` exposes `x_info`). So one rule
 * covers both formats.
 */
function namesOf(family: MetricFamily): string[] {
  if (family.type === 'counter') {
    return family.name.endsWith('_total') && family.name.length > 6 ? [family.name, family.name.slice(0, -6)] : [family.name, `${family.name}_total`];
  }
  if (family.type === 'info') return [family.name, `${family.name}_info`];
  return [family.name];
}

/** The rule for a family: an exact name beats any pattern; among patterns the first listed wins. */
export function ruleFor(policy: ScrubPolicy, family: MetricFamily): FamilyRule | undefined {
  const { exact, patterns } = compile(policy);
  const names = namesOf(family);
  for (const name of names) {
    const rule = exact.get(name);
    if (rule !== undefined) return rule;
  }
  for (const [matches, rule] of patterns) if (names.some(matches)) return rule;
  return undefined;
}

function structuralLabelOf(type: MetricType): string | undefined {
  return type === 'histogram' || type === 'gaugehistogram' ? 'le' : type === 'summary' ? 'quantile' : undefined;
}

function hasCreated(type: MetricType): boolean {
  return type === 'counter' || type === 'histogram' || type === 'summary';
}

/**
 * Scrubs parsed metrics under `policy`. `key` is the HMAC key for hashed labels (at least
 * 16 bytes) or a hasher made from it with `createLabelHasher`, whose cache then serves
 * many scrapes. Pure and deterministic: the same input, policy and key give the same
 * output.
 */
export function scrub(parsed: ParsedExposition | readonly MetricFamily[], policy: ScrubPolicy, key: Uint8Array | LabelHasher): ScrubResult {
  const hasher = key instanceof Uint8Array ? createLabelHasher(key, policy.hashLength) : key;
  if (hasher.length !== policy.hashLength) throw new ShadowplaneError('SP_CONFIG_INVALID', 'the label hasher length differs from the policy hashLength');
  const families = 'families' in parsed ? parsed.families : parsed;
  const stats = emptyScrubStats();
  const out: MetricFamily[] = [];
  let totalKept = 0;
  const keepTimestamps = policy.timestamps === 'keep';

  for (const family of families) {
    const groupCount = countGroups(family);
    const rule = ruleFor(policy, family);
    if (rule === undefined) {
      stats.droppedFamilies++;
      stats.droppedSeriesNotAllowed += groupCount;
      continue;
    }
    const structural = structuralLabelOf(family.type);
    const actions = new Map<string, LabelAction>();
    const actionOf = (name: string): LabelAction => {
      let action = actions.get(name);
      if (action === undefined) {
        action = rule.labels.get(name) ?? policy.labels.get(name) ?? 'drop';
        actions.set(name, action);
      }
      return action;
    };

    // Pass 1: scrubbed labels and key per input series, in order of appearance; collisions.
    const base: Array<string[] | undefined> = new Array<string[] | undefined>(groupCount);
    const keys: string[] = new Array<string>(groupCount);
    const dropped = new Int32Array(groupCount);
    const hashed = new Int32Array(groupCount);
    const seen = new Set<string>();
    const keyer = new LabelSetKeyer({ joined: true });
    const collided = new Set<string>();
    const order: number[] = [];
    for (const sample of family.samples) {
      const g = sample.group;
      if (base[g] !== undefined) continue;
      const labels = sample.labels;
      const kept: string[] = [];
      for (let i = 0; i < labels.length; i += 2) {
        const name = labels[i]!;
        if (name === structural) continue;
        const action = actionOf(name);
        if (action === 'keep') {
          kept.push(name, labels[i + 1]!);
        } else if (action === 'hash') {
          kept.push(name, hasher.hash(labels[i + 1]!));
          hashed[g]!++;
        } else {
          dropped[g]!++;
        }
      }
      base[g] = kept;
      const key = keyer.key(kept, kept.length, -1);
      keys[g] = key;
      order.push(g);
      const known = seen.size;
      seen.add(key);
      if (seen.size === known) collided.add(key);
    }

    // Pass 2: admit series in exposition order under the caps.
    const cap = rule.maxSeries ?? policy.maxSeriesPerFamily;
    const newIndex = new Int32Array(groupCount).fill(-1);
    let familyKept = 0;
    for (const g of order) {
      if (collided.size > 0 && collided.has(keys[g]!)) {
        stats.droppedSeriesCollision++;
      } else if (familyKept >= cap) {
        stats.droppedSeriesFamilyCap++;
      } else if (totalKept >= policy.maxSeries) {
        stats.droppedSeriesTotalCap++;
      } else {
        newIndex[g] = familyKept++;
        totalKept++;
        stats.droppedLabels += dropped[g]!;
        stats.hashedValues += hashed[g]!;
      }
    }
    stats.keptSeries += familyKept;

    // Pass 3: the samples of admitted series, structural label last.
    const samples: Sample[] = [];
    const createdName = hasCreated(family.type) ? `${family.name}_created` : undefined;
    for (const sample of family.samples) {
      const g = newIndex[sample.group]!;
      if (g < 0) continue;
      if (sample.name === createdName && !rule.created) {
        stats.droppedCreatedSamples++;
        continue;
      }
      let labels: readonly string[] = base[sample.group]!;
      if (structural !== undefined) {
        const src = sample.labels;
        for (let i = 0; i < src.length; i += 2) {
          if (src[i] === structural) {
            const withStructural = labels.slice();
            withStructural.push(structural, src[i + 1]!);
            labels = withStructural;
            break;
          }
        }
      }
      if (sample.exemplar !== undefined) stats.droppedExemplars++;
      if (sample.timestampMs !== undefined && !keepTimestamps) stats.droppedTimestamps++;
      samples.push({
        name: sample.name,
        labels,
        value: sample.value,
        timestampMs: keepTimestamps ? sample.timestampMs : undefined,
        exemplar: undefined,
        group: g,
      });
    }
    if (samples.length === 0) continue;
    if (family.help !== undefined && !rule.help) stats.droppedHelp++;
    stats.keptFamilies++;
    stats.keptSamples += samples.length;
    out.push({ name: family.name, type: family.type, help: rule.help ? family.help : undefined, unit: family.unit, samples });
  }
  stats.droppedSeries = stats.droppedSeriesNotAllowed + stats.droppedSeriesFamilyCap + stats.droppedSeriesTotalCap + stats.droppedSeriesCollision;
  return { families: out, stats };
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
  | { readonly ok: false; readonly code: ErrorCode; readonly stats: ScrubStats };

/**
 * Parses a scraped body by its Content-Type and scrubs it. Never throws: any error
 * (a parse doubt, a limit, a bug) drops the whole scrape and is reported as a code with
 * `stats.droppedScrapes = 1`, never as partial metrics.
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
    return { ok: false, code: isShadowplaneError(err) ? err.code : 'SP_INTERNAL', stats };
  }
}
