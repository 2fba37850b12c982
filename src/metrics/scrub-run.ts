/**
 * The scrubber's core, `ScrubRun`: the allowlist, keyed hashing, caps and collision
 * rules applied family by family, whoever feeds it (`scrub` from the model, the fused
 * pipeline from the parser). See scrub.ts for the rules themselves.
 */
import type { LabelHasher } from './hash.ts';
import { FingerprintIndex, LabelSetFingerprinter, LabelSetKeyer, sameLabelSet } from './label-key.ts';
import type { Exemplar, ExpositionFormat, MetricFamily, MetricType, Sample } from './model.ts';
import { structuralLabelOf } from './parse-types.ts';
import type { FamilyRule, LabelAction, ScrubPolicy } from './policy.ts';
import { scrubRuleFor } from './scrub-rules.ts';

export interface ScrubStats {
  keptFamilies: number;
  /** Series (metrics, see above) that left. */
  keptSeries: number;
  keptSamples: number;
  /**
   * Families the policy does not let out: no rule allows them, or (a stateset) the
   * policy drops their state label, without which the family means nothing and cannot
   * be rendered (see `ScrubRun.begin`).
   */
  droppedFamilies: number;
  /** All dropped series: the sum of the four reasons below. */
  droppedSeries: number;
  /** Series of the families above. */
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

/**
 * A kept sample as the scrubber holds it: `labels` are its series' scrubbed labels,
 * one array shared by all the series' samples, and the structural pair (`le`,
 * `quantile`), if any, is kept apart as `extraName="extraValue"`, so that a histogram
 * costs no label array per bucket. The renderer writes the pair after the labels;
 * `scrub` (the model) joins them into a Sample's labels.
 */
export interface ScrubbedSample {
  readonly name: string;
  readonly labels: readonly string[];
  readonly extraName: string | undefined;
  readonly extraValue: string;
  readonly value: string;
  timestampMs: number | undefined;
  exemplar: Exemplar | undefined;
  /** The input series until pass 3 renumbers the admitted ones. */
  group: number;
}

/** A scrubbed family in the scrubber's own terms, for the renderer (`renderScrubbed`). */
export interface ScrubbedFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly unit: string | undefined;
  readonly samples: readonly ScrubbedSample[];
}

export interface ScrubResult {
  readonly families: readonly MetricFamily[];
  readonly stats: ScrubStats;
}

export interface ScrubbedResult {
  readonly families: readonly ScrubbedFamily[];
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
  readonly #out: ScrubbedFamily[] = [];
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
  /** The family is a text `_created` gauge standing for `_created` samples (scrub-rules.ts scrubRuleFor). */
  #createdOf = false;
  #structural: string | undefined;
  #actions = new Map<string, LabelAction>();
  /** The label names of the last series scrubbed and their actions: the next series mostly has the same names. */
  #lastNames: string[] = [];
  #lastActions: LabelAction[] = [];
  #keptScratch: string[] = [];
  /** Per series (by input group): scrubbed labels; undefined until its first sample. */
  #base: Array<string[] | undefined> = [];
  /** Per series in order of first appearance: group, dropped and hashed label counts, whether it collides. */
  readonly #series = new SeriesLedger();
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
  #samples: ScrubbedSample[] = [];

  /** The format of the exposition the families come from: rules name families in its terms (scrub-rules.ts). */
  readonly #format: ExpositionFormat;

  /** `hasher` must have been made for `policy.hashLength` (checked by the callers). */
  constructor(policy: ScrubPolicy, hasher: LabelHasher, format: ExpositionFormat) {
    this.#format = format;
    this.#policy = policy;
    this.#hasher = hasher;
    hasher.beginScrape?.();
    this.#keepTimestamps = policy.timestamps === 'keep';
  }

  /** Starts a family. False when the policy does not let it out: its samples need not be fed. */
  begin(family: { readonly name: string; readonly type: MetricType; readonly help: string | undefined; readonly unit: string | undefined }): boolean {
    this.#name = family.name;
    this.#type = family.type;
    this.#help = family.help;
    this.#unit = family.unit;
    const { rule, createdOf } = scrubRuleFor(this.#policy, family, this.#format);
    this.#createdOf = createdOf;
    // A stateset's samples say which state they are only by the label named like the
    // family: without it they are anonymous 0/1 values, and OpenMetrics without it does
    // not parse (ours refuses it, Prometheus drops the whole scrape). So a policy that
    // drops that label (by naming it `drop` or by not naming it) does not let the family
    // out: it is counted as not allowed, never rendered as something else. Hashing it is
    // valid: states stay distinct (two that hash alike collide and are dropped like any
    // collision) and the label stays, with an opaque value.
    if (rule === undefined || (family.type === 'stateset' && labelActionOf(this.#policy, rule, family.name) === 'drop')) {
      this.#rule = undefined;
      return false;
    }
    this.#rule = rule;
    this.#structural = structuralLabelOf(family.type);
    this.#actions = new Map();
    this.#lastNames = [];
    this.#lastActions = [];
    this.#base = [];
    this.#series.count = 0;
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
    const structural = this.#structural;
    let extraName: string | undefined;
    let extraValue = '';
    if (structural !== undefined) {
      for (let i = 0; i < n; i += 2) {
        if (labels[i] === structural) {
          extraName = structural;
          extraValue = labels[i + 1]!;
          break;
        }
      }
    }
    this.#samples.push({ name, labels: base, extraName, extraValue, value, timestampMs, exemplar, group });
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
    const k = this.#series.add(group, dropped, hashed);
    if (this.#keyMode) this.#collideByKey(k, kept);
    else if (!distinctNames(kept)) this.#enterKeyMode(); // redoes every series so far, this one included
    else this.#collideByFingerprint(k, kept);
    return kept;
  }

  #collideByFingerprint(k: number, kept: readonly string[]): void {
    const fingerprints = this.#fingerprints;
    for (let j = fingerprints.record(this.#fingerprinter.of(kept, kept.length, -1), k); j >= 0; j = fingerprints.previous(j)) {
      const earlier = this.#base[this.#series.group[j]!]!;
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
    this.#series.collides[earlier] = 1;
    this.#series.collides[k] = 1;
    this.#collisions++;
  }

  /** Redoes the family's collisions so far with string keys, in order (the keyer's reference order is the first series'). */
  #enterKeyMode(): void {
    this.#keyMode = true;
    const series = this.#series;
    series.collides.fill(0, 0, series.count);
    this.#collisions = 0;
    for (let k = 0; k < series.count; k++) this.#collideByKey(k, this.#base[series.group[k]!]!);
  }

  #actionOf(labelName: string): LabelAction {
    let action = this.#actions.get(labelName);
    if (action === undefined) {
      action = labelActionOf(this.#policy, this.#rule!, labelName);
      this.#actions.set(labelName, action);
    }
    return action;
  }

  /** Ends the current family, which has `groupCount` series (groups 0 to groupCount - 1). */
  end(groupCount: number): void {
    const stats = this.stats;
    const rule = this.#rule;
    if (rule === undefined) {
      // A `_created` gauge its counterpart's rule withholds: its samples (one per series)
      // are that family's `_created` samples, dropped as they would be in OpenMetrics.
      if (this.#createdOf) {
        stats.droppedCreatedSamples += groupCount;
        return;
      }
      stats.droppedFamilies++;
      stats.droppedSeriesNotAllowed += groupCount;
      return;
    }
    const policy = this.#policy;

    // Pass 2: admit series in exposition order under the caps.
    const cap = rule.maxSeries ?? policy.maxSeriesPerFamily;
    const newIndex = new Int32Array(groupCount).fill(-1);
    const series = this.#series;
    const collides = this.#collisions > 0 ? series.collides : undefined;
    let familyKept = 0;
    for (let k = 0; k < series.count; k++) {
      if (collides !== undefined && collides[k] === 1) {
        stats.droppedSeriesCollision++;
      } else if (familyKept >= cap) {
        stats.droppedSeriesFamilyCap++;
      } else if (this.#totalKept >= policy.maxSeries) {
        stats.droppedSeriesTotalCap++;
      } else {
        newIndex[series.group[k]!] = familyKept++;
        this.#totalKept++;
        stats.droppedLabels += series.dropped[k]!;
        stats.hashedValues += series.hashed[k]!;
      }
    }
    stats.keptSeries += familyKept;

    // Pass 3: the samples of admitted series, compacted in place (no second array).
    const samples = this.#samples;
    let kept = 0;
    const name = this.#name;
    const createdName = hasCreated(this.#type) ? `${name}_created` : undefined;
    const dropCreated = createdName !== undefined && !rule.created;
    const keepTimestamps = this.#keepTimestamps;
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i]!;
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
      samples[kept++] = sample;
    }
    samples.length = kept;
    this.#samples = [];
    this.#rule = undefined;
    if (kept === 0) return;
    if (this.#help !== undefined && !rule.help) stats.droppedHelp++;
    stats.keptFamilies++;
    stats.keptSamples += kept;
    this.#out.push({ name, type: this.#type, help: rule.help ? this.#help : undefined, unit: this.#unit, samples });
  }

  /**
   * The scrubbed families and the statistics, once every family ended, as the model:
   * each sample's labels hold its structural pair last.
   */
  result(): ScrubResult {
    const { families, stats } = this.scrubbed();
    return { families: families.map(toModel), stats };
  }

  /** The same, in the scrubber's own terms (shared label arrays): what the renderer takes. */
  scrubbed(): ScrubbedResult {
    const stats = this.stats;
    stats.droppedSeries = stats.droppedSeriesNotAllowed + stats.droppedSeriesFamilyCap + stats.droppedSeriesTotalCap + stats.droppedSeriesCollision;
    return { families: this.#out, stats };
  }
}

/**
 * Per series of the family being scrubbed, in order of first appearance: its input
 * group, its dropped and hashed label counts, and whether it collides (1). Typed columns
 * grown by doubling and reused from family to family: plain arrays grown by push cost
 * a copy of each at every growth, in the JS heap, for every family.
 */
class SeriesLedger {
  count = 0;
  group = new Int32Array(256);
  dropped = new Int32Array(256);
  hashed = new Int32Array(256);
  collides = new Uint8Array(256);

  /** Appends a series that does not collide (yet); its index. */
  add(group: number, dropped: number, hashed: number): number {
    const k = this.count++;
    if (k === this.group.length) this.#grow();
    this.group[k] = group;
    this.dropped[k] = dropped;
    this.hashed[k] = hashed;
    this.collides[k] = 0;
    return k;
  }

  #grow(): void {
    const size = this.group.length * 2;
    const group = new Int32Array(size);
    group.set(this.group);
    this.group = group;
    const dropped = new Int32Array(size);
    dropped.set(this.dropped);
    this.dropped = dropped;
    const hashed = new Int32Array(size);
    hashed.set(this.hashed);
    this.hashed = hashed;
    const collides = new Uint8Array(size);
    collides.set(this.collides);
    this.collides = collides;
  }
}

/** What the policy does with a label of a family under `rule`: the family's word, else the policy-wide one, else drop (allowlist). */
export function labelActionOf(policy: ScrubPolicy, rule: FamilyRule, labelName: string): LabelAction {
  return rule.labels.get(labelName) ?? policy.labels.get(labelName) ?? 'drop';
}

function toModel(family: ScrubbedFamily): MetricFamily {
  const samples: Sample[] = family.samples.map((s) => ({
    name: s.name,
    labels: s.extraName === undefined ? s.labels : [...s.labels, s.extraName, s.extraValue],
    value: s.value,
    timestampMs: s.timestampMs,
    exemplar: s.exemplar,
    group: s.group,
  }));
  return { name: family.name, type: family.type, help: family.help, unit: family.unit, samples };
}

function distinctNames(labels: readonly string[]): boolean {
  for (let i = 2; i < labels.length; i += 2) for (let j = 0; j < i; j += 2) if (labels[i] === labels[j]) return false;
  return true;
}
