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
import type { Exemplar, ExpositionFormat, MetricFamily, MetricType, ParsedExposition, Sample } from './model.ts';
import { FingerprintIndex, LabelSetFingerprinter, LabelSetKeyer, sameLabelSet } from './label-key.ts';
import type { ParseLimits } from './parse-limits.ts';
import { structuralLabelOf } from './parse-types.ts';
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

/** Fingerprint matches with differing sets a family may have before it uses string keys. */
const FALSE_MATCH_BUDGET = 256;

/** A sample on its way through the scrubber (a Sample once pass 3 is done with it). */
interface PendingSample {
  readonly name: string;
  readonly labels: readonly string[];
  readonly value: string;
  timestampMs: number | undefined;
  exemplar: Exemplar | undefined;
  group: number;
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
function namesOf(family: Pick<MetricFamily, 'name' | 'type'>): string[] {
  if (family.type === 'counter') {
    return family.name.endsWith('_total') && family.name.length > 6 ? [family.name, family.name.slice(0, -6)] : [family.name, `${family.name}_total`];
  }
  if (family.type === 'info') return [family.name, `${family.name}_info`];
  return [family.name];
}

/** The rule for a family: an exact name beats any pattern; among patterns the first listed wins. */
export function ruleFor(policy: ScrubPolicy, family: Pick<MetricFamily, 'name' | 'type'>): FamilyRule | undefined {
  const { exact, patterns } = compile(policy);
  const names = namesOf(family);
  for (const name of names) {
    const rule = exact.get(name);
    if (rule !== undefined) return rule;
  }
  for (const [matches, rule] of patterns) if (names.some(matches)) return rule;
  return undefined;
}

function hasCreated(type: MetricType): boolean {
  return type === 'counter' || type === 'histogram' || type === 'summary';
}

/**
 * One scrub, fed family by family in exposition order: `begin`, then (when the family is
 * allowed) each of its samples, then `end`. `scrub` feeds it from the model; the fused
 * pipeline (scrub-pipeline.ts) feeds it straight from the parser, so both apply this one
 * implementation of the rules.
 *
 * Per family: pass 1 (in `sample`) scrubs the labels of each series once, on its first
 * sample, and detects collisions; each sample gets its series' scrubbed labels, with
 * the structural label last. Pass 2 (in `end`) admits series in order of first
 * appearance under the caps; pass 3 (in `end`) keeps the samples of admitted series.
 */
export class ScrubRun {
  readonly stats: ScrubStats = emptyScrubStats();
  readonly #out: MetricFamily[] = [];
  readonly #policy: ScrubPolicy;
  readonly #hasher: LabelHasher;
  readonly #keepTimestamps: boolean;
  #totalKept = 0;

  // The current family.
  #name = '';
  #type: MetricType = 'untyped';
  #help: string | undefined;
  #unit: string | undefined;
  #rule: FamilyRule | undefined;
  #structural: string | undefined;
  #actions = new Map<string, LabelAction>();
  /** The label names of the last series scrubbed and their actions: the next series mostly has the same names. */
  #lastNames: string[] = [];
  #lastActions: LabelAction[] = [];
  #keptScratch: string[] = [];
  /** Per series (by input group): scrubbed labels; undefined until its first sample. */
  #base: Array<string[] | undefined> = [];
  /** Per series in order of first appearance: group, dropped and hashed label counts, whether it collides. */
  #order: number[] = [];
  #dropped: number[] = [];
  #hashed: number[] = [];
  #collides: boolean[] = [];
  #collisions = 0;
  /**
   * Collision detection. A series' scrubbed set gets a 32-bit fingerprint that does not
   * depend on label order; series with equal fingerprints are compared exactly, so a
   * fingerprint only saves building and hashing a string key per series.
   */
  #fingerprints = new FingerprintIndex();
  readonly #fingerprinter = new LabelSetFingerprinter();
  /**
   * Set when a scrubbed set holds a label name twice (never from the parser; only a
   * hand-built model can): the family then falls back to the string keys of
   * LabelSetKeyer, whose treatment of such sets the fingerprint does not reproduce.
   * Also set after too many fingerprint matches between differing sets (see below).
   */
  #keyMode = false;
  /** Fingerprint matches whose sets differed; past FALSE_MATCH_BUDGET, string keys too. */
  #falseMatches = 0;
  #firstWithKey = new Map<string, number>();
  #keyer = new LabelSetKeyer({ joined: true });
  /**
   * The family's samples with their final labels, as they arrive; `group` is the input
   * series until pass 3 renumbers the admitted ones and clears what may not leave.
   */
  #samples: PendingSample[] = [];

  /** `hasher` must have been made for `policy.hashLength` (checked by the callers). */
  constructor(policy: ScrubPolicy, hasher: LabelHasher) {
    this.#policy = policy;
    this.#hasher = hasher;
    this.#keepTimestamps = policy.timestamps === 'keep';
  }

  /** Starts a family. False when no rule allows it: its samples need not be fed. */
  begin(family: { readonly name: string; readonly type: MetricType; readonly help: string | undefined; readonly unit: string | undefined }): boolean {
    this.#name = family.name;
    this.#type = family.type;
    this.#help = family.help;
    this.#unit = family.unit;
    this.#rule = ruleFor(this.#policy, family);
    if (this.#rule === undefined) return false;
    this.#structural = structuralLabelOf(family.type);
    this.#actions = new Map();
    this.#lastNames = [];
    this.#lastActions = [];
    this.#base = [];
    this.#order = [];
    this.#dropped = [];
    this.#hashed = [];
    this.#collides = [];
    this.#collisions = 0;
    this.#fingerprints = new FingerprintIndex();
    this.#keyMode = false;
    this.#falseMatches = 0;
    this.#firstWithKey = new Map();
    this.#keyer = new LabelSetKeyer({ joined: true });
    this.#samples = [];
    return true;
  }

  /** One sample of the current (allowed) family; `labels[0, n)` are read during the call only. */
  sample(name: string, labels: readonly string[], n: number, group: number, value: string, timestampMs: number | undefined, exemplar: Exemplar | undefined): void {
    const base = this.#base[group] ?? this.#firstSample(group, labels, n);
    let out: readonly string[] = base;
    const structural = this.#structural;
    if (structural !== undefined) {
      for (let i = 0; i < n; i += 2) {
        if (labels[i] === structural) {
          const length = base.length;
          const withStructural = new Array<string>(length + 2);
          for (let j = 0; j < length; j++) withStructural[j] = base[j]!;
          withStructural[length] = structural;
          withStructural[length + 1] = labels[i + 1]!;
          out = withStructural;
          break;
        }
      }
    }
    this.#samples.push({ name, labels: out, value, timestampMs, exemplar, group });
  }

  /** Pass 1: the series' scrubbed labels, and whether they collide with an earlier series'. */
  #firstSample(group: number, labels: readonly string[], n: number): string[] {
    const structural = this.#structural;
    const lastNames = this.#lastNames;
    const lastActions = this.#lastActions;
    // Built in a scratch array, then copied at its exact size: an array grown by push
    // from empty reserves room for 16 strings, and one is kept per series.
    const scratch = this.#keptScratch;
    let length = 0;
    let dropped = 0;
    let hashed = 0;
    for (let i = 0; i < n; i += 2) {
      const labelName = labels[i]!;
      if (labelName === structural) continue;
      const slot = i >> 1;
      let action: LabelAction;
      if (lastNames[slot] === labelName) {
        action = lastActions[slot]!;
      } else {
        action = this.#actionOf(labelName);
        lastNames[slot] = labelName;
        lastActions[slot] = action;
      }
      if (action === 'keep') {
        scratch[length++] = labelName;
        scratch[length++] = labels[i + 1]!;
      } else if (action === 'hash') {
        scratch[length++] = labelName;
        scratch[length++] = this.#hasher.hash(labels[i + 1]!);
        hashed++;
      } else {
        dropped++;
      }
    }
    const kept = scratch.slice(0, length);
    this.#base[group] = kept;
    const k = this.#order.length;
    this.#order.push(group);
    this.#dropped.push(dropped);
    this.#hashed.push(hashed);
    this.#collides.push(false);
    if (this.#keyMode) this.#collideByKey(k, kept);
    else if (!distinctNames(kept)) this.#enterKeyMode(); // redoes every series so far, this one included
    else this.#collideByFingerprint(k, kept);
    return kept;
  }

  #collideByFingerprint(k: number, kept: readonly string[]): void {
    const fingerprints = this.#fingerprints;
    for (let j = fingerprints.record(this.#fingerprinter.of(kept, kept.length, -1), k); j >= 0; j = fingerprints.previous(j)) {
      const earlier = this.#base[this.#order[j]!]!;
      if (sameLabelSet(earlier, earlier.length, undefined, kept, kept.length, -1)) {
        this.#markCollision(j, k);
        return;
      }
      // Values that collide on purpose must not make this quadratic: string keys then.
      if (++this.#falseMatches > FALSE_MATCH_BUDGET) {
        this.#enterKeyMode();
        return;
      }
    }
  }

  #collideByKey(k: number, kept: readonly string[]): void {
    const key = this.#keyer.key(kept, kept.length, -1);
    const first = this.#firstWithKey.get(key);
    if (first === undefined) this.#firstWithKey.set(key, k);
    else this.#markCollision(first, k);
  }

  #markCollision(earlier: number, k: number): void {
    this.#collides[earlier] = true;
    this.#collides[k] = true;
    this.#collisions++;
  }

  /** Redoes the family's collisions so far with string keys, in order (the keyer's reference order is the first series'). */
  #enterKeyMode(): void {
    this.#keyMode = true;
    this.#collides.fill(false);
    this.#collisions = 0;
    for (let k = 0; k < this.#order.length; k++) this.#collideByKey(k, this.#base[this.#order[k]!]!);
  }

  #actionOf(labelName: string): LabelAction {
    let action = this.#actions.get(labelName);
    if (action === undefined) {
      action = this.#rule!.labels.get(labelName) ?? this.#policy.labels.get(labelName) ?? 'drop';
      this.#actions.set(labelName, action);
    }
    return action;
  }

  /** Ends the current family, which has `groupCount` series (groups 0 to groupCount - 1). */
  end(groupCount: number): void {
    const stats = this.stats;
    const rule = this.#rule;
    if (rule === undefined) {
      stats.droppedFamilies++;
      stats.droppedSeriesNotAllowed += groupCount;
      return;
    }
    const policy = this.#policy;

    // Pass 2: admit series in exposition order under the caps.
    const cap = rule.maxSeries ?? policy.maxSeriesPerFamily;
    const newIndex = new Int32Array(groupCount).fill(-1);
    const order = this.#order;
    const collides = this.#collisions > 0 ? this.#collides : undefined;
    let familyKept = 0;
    for (let k = 0; k < order.length; k++) {
      if (collides !== undefined && collides[k]) {
        stats.droppedSeriesCollision++;
      } else if (familyKept >= cap) {
        stats.droppedSeriesFamilyCap++;
      } else if (this.#totalKept >= policy.maxSeries) {
        stats.droppedSeriesTotalCap++;
      } else {
        newIndex[order[k]!] = familyKept++;
        this.#totalKept++;
        stats.droppedLabels += this.#dropped[k]!;
        stats.hashedValues += this.#hashed[k]!;
      }
    }
    stats.keptSeries += familyKept;

    // Pass 3: the samples of admitted series.
    const samples: Sample[] = [];
    const name = this.#name;
    const createdName = hasCreated(this.#type) ? `${name}_created` : undefined;
    const dropCreated = createdName !== undefined && !rule.created;
    const keepTimestamps = this.#keepTimestamps;
    const pending = this.#samples;
    for (let i = 0; i < pending.length; i++) {
      const sample = pending[i]!;
      const g = newIndex[sample.group]!;
      if (g < 0) continue;
      if (dropCreated && sample.name === createdName) {
        stats.droppedCreatedSamples++;
        continue;
      }
      if (sample.exemplar !== undefined) {
        stats.droppedExemplars++;
        sample.exemplar = undefined;
      }
      if (sample.timestampMs !== undefined && !keepTimestamps) {
        stats.droppedTimestamps++;
        sample.timestampMs = undefined;
      }
      sample.group = g;
      samples.push(sample);
    }
    this.#samples = [];
    this.#rule = undefined;
    if (samples.length === 0) return;
    if (this.#help !== undefined && !rule.help) stats.droppedHelp++;
    stats.keptFamilies++;
    stats.keptSamples += samples.length;
    this.#out.push({ name, type: this.#type, help: rule.help ? this.#help : undefined, unit: this.#unit, samples });
  }

  /** The scrubbed families and the statistics, once every family ended. */
  result(): ScrubResult {
    const stats = this.stats;
    stats.droppedSeries = stats.droppedSeriesNotAllowed + stats.droppedSeriesFamilyCap + stats.droppedSeriesTotalCap + stats.droppedSeriesCollision;
    return { families: this.#out, stats };
  }
}

function distinctNames(labels: readonly string[]): boolean {
  for (let i = 2; i < labels.length; i += 2) for (let j = 0; j < i; j += 2) if (labels[i] === labels[j]) return false;
  return true;
}

/** The hasher for `key`, which must match the policy's hash length. */
export function hasherFor(policy: ScrubPolicy, key: Uint8Array | LabelHasher): LabelHasher {
  const hasher = key instanceof Uint8Array ? createLabelHasher(key, policy.hashLength) : key;
  if (hasher.length !== policy.hashLength) throw new ShadowplaneError('SP_CONFIG_INVALID', 'the label hasher length differs from the policy hashLength');
  return hasher;
}

/**
 * Scrubs parsed metrics under `policy`. `key` is the HMAC key for hashed labels (at least
 * 16 bytes) or a hasher made from it with `createLabelHasher`, whose cache then serves
 * many scrapes. Pure and deterministic: the same input, policy and key give the same
 * output.
 */
export function scrub(parsed: ParsedExposition | readonly MetricFamily[], policy: ScrubPolicy, key: Uint8Array | LabelHasher): ScrubResult {
  const run = new ScrubRun(policy, hasherFor(policy, key));
  const families = 'families' in parsed ? parsed.families : parsed;
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
