/**
 * Assembles samples into metric families for both text formats and enforces the rules
 * that make an exposition unambiguous: families are not interleaved, metadata precedes
 * samples and appears at most once, no two families can produce the same sample name,
 * a sample name fits its family's type, no series appears twice, histogram buckets are
 * ordered and end with +Inf, and (OpenMetrics) the per-type value rules hold.
 *
 * A "group" is one metric: the samples that share a label set once the structural label
 * (`le` on buckets, `quantile` on summary quantiles) is set aside. Groups must be
 * contiguous, so checking them needs only the previous sample, and the family's set of
 * series (parse-series.ts) catches a repeated one.
 *
 * Every rule lives here once. Where the validated samples go is the sink's business:
 * `ModelSink` builds the in-memory model (`parseExposition`), the fused scrubber
 * (scrub-pipeline.ts) scrubs them as they arrive without building it.
 */
import type { Exemplar, ExpositionFormat, MetricFamily, MetricType, ParsedExposition, Sample } from './model.ts';
import type { ParseLimits } from './parse-limits.ts';
import { LabelSetFingerprinter } from './label-key.ts';
import { type Lexer, invalid, isMetricNameChar, scanMetricName, tooLarge } from './parse-lexer.ts';
import { SeriesSet } from './parse-series.ts';
import { labelNumber, valueNumber } from './parse-numbers.ts';
import {
  OM_SUFFIXES,
  ROLE_BUCKET,
  ROLE_COUNT,
  ROLE_CREATED,
  ROLE_INFO,
  ROLE_QUANTILE,
  ROLE_STATE,
  ROLE_SUM,
  ROLE_TOTAL,
  ROLE_VALUE,
  type Suffixes,
  TEXT_SUFFIXES,
  structuralLabel,
  structuralLabelOf,
} from './parse-types.ts';

const SEEN_SUM = 1;
const SEEN_COUNT = 2;
const SEEN_CREATED = 4;
const SEEN_TOTAL = 8;

/** The parse-time state of one family. */
export interface FamilyState {
  readonly name: string;
  type: MetricType;
  typeSet: boolean;
  help: string | undefined;
  helpSet: boolean;
  unit: string | undefined;
  unitSet: boolean;
  /** Samples stored by the model sink (empty for other sinks). */
  readonly samples: Sample[];
  /** Samples validated so far, whatever the sink. */
  sampleCount: number;
  suffixes: Suffixes;
  /** Canonical sample names, aligned with `suffixes`. */
  sampleNames: string[];
  /** The family's series so far, to refuse one that appears twice. */
  readonly series: SeriesSet;
  /** Whether samples of one metric come in several lines (histogram, summary, OpenMetrics counter). */
  multi: boolean;
  /** Labels of the open group's first sample and its structural pair index; undefined: none open. */
  groupLabels: readonly string[] | undefined;
  groupSkip: number;
  groupIndex: number;
  groupSeen: number;
  groupLastLe: number;
  groupLastBucket: number;
  groupCount: number;
  /** The open group's quantiles (a set: a summary may have many). */
  groupQuantiles: Set<number>;
}

/**
 * Where validated samples go. Called in exposition order; a family's samples all come
 * before its `familyDone`, and every family gets one `familyDone`, also one without
 * samples.
 */
export interface SampleSink {
  /**
   * One sample that passed every check, of series `family.groupIndex`. Its flat label
   * pairs are `labels[0, n)`. Unless the builder retains labels, `labels` is a scratch
   * buffer that the parser overwrites after the call: copy what must outlive it.
   */
  sample(family: FamilyState, name: string, labels: readonly string[], n: number, value: string, timestampMs: number | undefined, exemplar: Exemplar | undefined): void;
  /** The family can no longer change (the next family started, or the exposition ended). */
  familyDone(family: FamilyState): void;
}

/** Stores every sample in its family: what `parseExposition` returns. */
export const MODEL_SINK: SampleSink = {
  sample(family, name, labels, _n, value, timestampMs, exemplar) {
    family.samples.push({ name, labels, value, timestampMs, exemplar, group: family.groupIndex });
  },
  familyDone() {},
};

export class ExpositionBuilder {
  readonly #om: boolean;
  readonly #limits: ParseLimits;
  readonly #sink: SampleSink;
  /** Whether label arrays handed to the sink are kept (the model) or scratch (other sinks). */
  readonly #retain: boolean;
  readonly #families: FamilyState[] = [];
  /** Every family name and every sample name a family could produce → that family. */
  readonly #claims = new Map<string, FamilyState>();
  #current: FamilyState | undefined;
  #sampleCount = 0;
  readonly #fingerprinter = new LabelSetFingerprinter();
  /** Labels of the previous sample, for reuse of equal strings and arrays. */
  lastLabels: readonly string[] = [];
  /** Where the parser writes the next sample's label pairs. */
  scratch: string[] = [];
  /** Without retained labels, the previous sample's buffer: scratch and it swap after each sample. */
  #spare: string[] = [];

  /**
   * `sink` defaults to the model. With another sink, labels are not retained: no label
   * array is allocated per sample, only one per series of a multi-line type.
   */
  constructor(om: boolean, limits: ParseLimits, sink: SampleSink = MODEL_SINK) {
    this.#om = om;
    this.#limits = limits;
    this.#sink = sink;
    this.#retain = sink === MODEL_SINK;
  }

  /** The family a metadata line for `name` applies to (created when new). */
  familyForMetadata(name: string, line: number): FamilyState {
    const cur = this.#current;
    if (cur !== undefined && cur.name === name) {
      if (cur.sampleCount > 0) invalid(line, 'metadata after samples of its family');
      return cur;
    }
    if (this.#claims.has(name)) invalid(line, 'metadata for a family that appeared earlier or whose name another family produces');
    return this.#newFamily(name, line);
  }

  /** Set by familyForSample: the role and canonical name of the sample. */
  role = ROLE_VALUE;
  sampleName = '';

  /** Set by familyAt: the end of the sample's metric name. */
  nameEnd = 0;

  /**
   * The family of the sample whose line starts at `p` (its metric name): see
   * familyForSample. Sets `nameEnd` too. A name of the current family followed by a
   * character that cannot continue a name is taken without scanning it again: it was
   * checked when the family claimed it.
   */
  familyAt(lx: Lexer, p: number): FamilyState {
    const cur = this.#current;
    if (cur !== undefined) {
      const text = lx.text;
      const names = cur.sampleNames;
      for (let i = 0; i < names.length; i++) {
        const candidate = names[i]!;
        const e = p + candidate.length;
        if (e <= lx.end && text.startsWith(candidate, p) && !isMetricNameChar(text.charCodeAt(e)) && candidate.length <= this.#limits.maxNameLength) {
          this.role = cur.suffixes[i]![1];
          this.sampleName = candidate;
          this.nameEnd = e;
          return cur;
        }
      }
    }
    const nameEnd = scanMetricName(lx, p);
    this.nameEnd = nameEnd;
    return this.familyForSample(lx.text, p, nameEnd, lx.line);
  }

  /**
   * The family of a sample named `text[s, e)`: the current family when the name fits
   * it, else a new untyped (text) or unknown (OpenMetrics) family. Sets `role` and
   * `sampleName` (no object per sample).
   */
  familyForSample(text: string, s: number, e: number, line: number): FamilyState {
    const cur = this.#current;
    const length = e - s;
    if (cur !== undefined) {
      const names = cur.sampleNames;
      for (let i = 0; i < names.length; i++) {
        const candidate = names[i]!;
        if (candidate.length === length && text.startsWith(candidate, s)) {
          this.role = cur.suffixes[i]![1];
          this.sampleName = candidate;
          return cur;
        }
      }
    }
    const name = text.slice(s, e);
    if (this.#claims.has(name)) {
      invalid(line, 'sample does not fit its family type, or its family appeared earlier (interleaved families)');
    }
    this.role = ROLE_VALUE;
    this.sampleName = name;
    return this.#newFamily(name, line);
  }

  setType(family: FamilyState, type: MetricType, line: number): void {
    if (family.typeSet) invalid(line, 'second TYPE line for a family');
    const table = (this.#om ? OM_SUFFIXES : TEXT_SUFFIXES)[type];
    if (table === undefined) invalid(line, this.#om ? 'unknown metric type' : 'metric type not allowed in the text format');
    family.type = type;
    family.typeSet = true;
    family.multi = type === 'histogram' || type === 'gaugehistogram' || type === 'summary' || (this.#om && type === 'counter');
    family.suffixes = table;
    family.sampleNames = table.map(([suffix]) => family.name + suffix);
    for (const sampleName of family.sampleNames) {
      const owner = this.#claims.get(sampleName);
      if (owner !== undefined && owner !== family) invalid(line, 'two families can produce the same sample name');
      this.#claims.set(sampleName, family);
    }
    this.#checkUnit(family, line);
  }

  setHelp(family: FamilyState, help: string, line: number): void {
    if (family.helpSet) invalid(line, 'second HELP line for a family');
    family.helpSet = true;
    family.help = this.#om && help === '' ? undefined : help;
  }

  setUnit(family: FamilyState, unit: string, line: number): void {
    if (family.unitSet) invalid(line, 'second UNIT line for a family');
    family.unitSet = true;
    family.unit = unit === '' ? undefined : unit;
    this.#checkUnit(family, line);
  }

  #checkUnit(family: FamilyState, line: number): void {
    const unit = family.unit;
    if (unit === undefined) return;
    if (!family.name.endsWith(`_${unit}`)) invalid(line, 'the unit is not a suffix of the family name');
    if (family.type === 'info' || family.type === 'stateset') invalid(line, 'info and stateset families have no unit');
  }

  #newFamily(name: string, line: number): FamilyState {
    this.#closeGroup(line);
    if (this.#current !== undefined) this.#sink.familyDone(this.#current);
    if (this.#families.length >= this.#limits.maxFamilies) tooLarge(line, 'more metric families than the limit');
    const type: MetricType = this.#om ? 'unknown' : 'untyped';
    const family: FamilyState = {
      name,
      type,
      typeSet: false,
      help: undefined,
      helpSet: false,
      unit: undefined,
      unitSet: false,
      samples: [],
      sampleCount: 0,
      suffixes: [['', ROLE_VALUE]],
      sampleNames: [name],
      series: new SeriesSet(this.#om, this.#limits),
      multi: false,
      groupLabels: undefined,
      groupSkip: -1,
      groupIndex: -1,
      groupSeen: 0,
      groupLastLe: -Infinity,
      groupLastBucket: 0,
      groupCount: -1,
      groupQuantiles: new Set(),
    };
    this.#claims.set(name, family);
    this.#families.push(family);
    this.#current = family;
    return family;
  }

  /**
   * Adds one sample. `labels` holds `n` strings of flat pairs (a scratch buffer); with
   * the model, the stored array is the previous sample's when equal, else a copy.
   * `labelsAt` is where the label set starts in `text` (its `{`; -1: none).
   */
  addSample(
    family: FamilyState,
    role: number,
    name: string,
    labels: readonly string[],
    n: number,
    value: string,
    timestampMs: number | undefined,
    exemplar: Exemplar | undefined,
    line: number,
    text: string,
    labelsAt: number,
  ): void {
    if (++this.#sampleCount > this.#limits.maxSeries) tooLarge(line, 'more series than the limit');
    const structural = structuralLabel(role);
    let skip = -1;
    for (let i = 0; i < n; i += 2) {
      const labelName = labels[i]!;
      if (labelName === 'le' && (family.type === 'histogram' || family.type === 'gaugehistogram')) {
        if (role !== ROLE_BUCKET) invalid(line, "'le' label outside a histogram bucket");
        skip = i;
      } else if (labelName === 'quantile' && family.type === 'summary') {
        if (role !== ROLE_QUANTILE) invalid(line, "'quantile' label outside a summary quantile");
        skip = i;
      }
    }
    if (structural !== undefined && skip < 0) invalid(line, `missing '${structural}' label`);
    if (exemplar !== undefined && role !== ROLE_TOTAL && role !== ROLE_BUCKET) invalid(line, 'exemplar on a sample that cannot carry one');

    // Group: one sample per group unless the type has several samples per metric.
    if (!family.multi || !this.#sameGroup(family, labels, n, skip)) {
      this.#closeGroup(line);
      family.series.add(labels, n, skip, structuralLabelOf(family.type), this.#fingerprinter, text, labelsAt, line);
      family.groupIndex++;
      if (family.multi) {
        family.groupSeen = 0;
        family.groupLastLe = -Infinity;
        family.groupLastBucket = 0;
        family.groupCount = -1;
        family.groupQuantiles.clear();
      }
    }
    this.#checkValue(family, role, labels, n, skip, value, line);

    family.sampleCount++;
    if (this.#retain) {
      let stored: readonly string[];
      const last = this.lastLabels;
      if (last.length === n) {
        let same = true;
        for (let i = 0; i < n; i++) {
          if (last[i] !== labels[i]) {
            same = false;
            break;
          }
        }
        stored = same ? last : labels.slice(0, n);
      } else {
        stored = labels.slice(0, n);
      }
      this.lastLabels = stored;
      if (family.multi && family.groupLabels === undefined) {
        family.groupLabels = stored;
        family.groupSkip = skip;
      }
      this.#sink.sample(family, name, stored, n, value, timestampMs, exemplar);
    } else {
      if (family.multi && family.groupLabels === undefined) {
        family.groupLabels = labels.slice(0, n);
        family.groupSkip = skip;
      }
      this.#sink.sample(family, name, labels, n, value, timestampMs, exemplar);
      // The labels just written become the previous sample's; the older buffer is reused.
      const used = this.scratch;
      this.scratch = this.#spare;
      this.#spare = used;
      this.lastLabels = used;
    }
  }

  #sameGroup(family: FamilyState, labels: readonly string[], n: number, skip: number): boolean {
    const base = family.groupLabels;
    if (base === undefined) return false;
    const baseSkip = family.groupSkip;
    if ((skip < 0 ? n : n - 2) !== (baseSkip < 0 ? base.length : base.length - 2)) return false;
    let j = 0;
    for (let i = 0; i < n; i += 2) {
      if (i === skip) continue;
      if (j === baseSkip) j += 2;
      if (base[j] !== labels[i] || base[j + 1] !== labels[i + 1]) return false;
      j += 2;
    }
    return true;
  }

  #checkValue(family: FamilyState, role: number, labels: readonly string[], n: number, skip: number, value: string, line: number): void {
    const om = this.#om;
    switch (role) {
      case ROLE_VALUE:
        return;
      case ROLE_BUCKET: {
        const le = labelNumber(labels[skip + 1]!);
        if (Number.isNaN(le)) invalid(line, "'le' is not a number");
        if (le <= family.groupLastLe) invalid(line, 'histogram buckets are not in increasing order of le, or repeat');
        family.groupLastLe = le;
        const v = valueNumber(value);
        if (!(v >= 0) || v === Infinity) invalid(line, 'histogram bucket count is negative or not finite');
        if (om) {
          if (!Number.isInteger(v)) invalid(line, 'histogram bucket count is not an integer');
          if (v < family.groupLastBucket) invalid(line, 'histogram buckets are not cumulative');
        }
        family.groupLastBucket = v;
        return;
      }
      case ROLE_QUANTILE: {
        const q = labelNumber(labels[skip + 1]!);
        if (!(q >= 0 && q <= 1)) invalid(line, "'quantile' is not a number between 0 and 1");
        if (family.groupQuantiles.has(q)) invalid(line, 'duplicate series (repeated quantile)');
        family.groupQuantiles.add(q);
        if (om && valueNumber(value) < 0) invalid(line, 'summary quantile value is negative');
        return;
      }
      case ROLE_COUNT: {
        this.#once(family, SEEN_COUNT, line);
        const v = valueNumber(value);
        if (!(v >= 0) || v === Infinity) invalid(line, 'count is negative or not finite');
        if (om && !Number.isInteger(v)) invalid(line, 'count is not an integer');
        family.groupCount = v;
        return;
      }
      case ROLE_SUM:
        this.#once(family, SEEN_SUM, line);
        return;
      case ROLE_CREATED:
        this.#once(family, SEEN_CREATED, line);
        return;
      case ROLE_TOTAL: {
        this.#once(family, SEEN_TOTAL, line);
        const v = valueNumber(value);
        if (!(v >= 0)) invalid(line, 'counter total is negative or NaN');
        return;
      }
      case ROLE_INFO:
        if (valueNumber(value) !== 1) invalid(line, 'info value is not 1');
        return;
      case ROLE_STATE: {
        const v = valueNumber(value);
        if (v !== 0 && v !== 1) invalid(line, 'stateset value is not 0 or 1');
        let hasState = false;
        for (let i = 0; i < n; i += 2) if (labels[i] === family.name) hasState = true;
        if (!hasState) invalid(line, 'stateset sample without its state label');
        return;
      }
      default:
        invalid(line, 'unexpected sample role');
    }
  }

  #once(family: FamilyState, bit: number, line: number): void {
    if ((family.groupSeen & bit) !== 0) invalid(line, 'duplicate series');
    family.groupSeen |= bit;
  }

  /** Validates the open group of the current family when it ends. */
  #closeGroup(line: number): void {
    const family = this.#current;
    if (family === undefined || family.groupLabels === undefined) return;
    const type = family.type;
    if (type === 'histogram' || type === 'gaugehistogram') {
      if (family.groupLastLe !== Infinity) invalid(line, 'histogram without a +Inf bucket');
      if (this.#om && family.groupCount >= 0 && family.groupCount !== family.groupLastBucket) {
        invalid(line, 'histogram count differs from its +Inf bucket');
      }
    } else if (this.#om && type === 'counter' && (family.groupSeen & SEEN_TOTAL) === 0) {
      invalid(line, 'counter without a _total sample');
    }
    family.groupLabels = undefined;
  }

  /** Validates the last open series and hands the last family to the sink. */
  end(line: number): void {
    this.#closeGroup(line);
    if (this.#current !== undefined) this.#sink.familyDone(this.#current);
    this.#current = undefined;
  }

  /** The model, once `end` was called (samples are there only with the model sink). */
  exposition(format: ExpositionFormat): ParsedExposition {
    const families: MetricFamily[] = this.#families.map((f) => ({
      name: f.name,
      type: f.type,
      help: f.help,
      unit: f.unit,
      samples: f.samples,
    }));
    return { format, families, sampleCount: this.#sampleCount };
  }
}
