/**
 * Renders metric families as text format 0.0.4 or OpenMetrics 1.0, so that the output
 * re-parses (with this package's strict parsers and with Prometheus).
 *
 * The two formats name some things differently, and families are rendered in the
 * target format's terms:
 * - to text: an OpenMetrics counter `x` becomes counter `x_total` (and its `_created`
 *   samples a gauge `x_created`); `_created` of histograms and summaries likewise; info
 *   `x` becomes gauge `x_info`; stateset becomes gauge; gaugehistogram `x` becomes
 *   gauges `x_bucket`, `x_gcount`, `x_gsum`; unknown becomes untyped; units are omitted;
 *   exemplars are omitted (the text format has none).
 * - to OpenMetrics: a text counter `x_total` becomes counter `x` (unknown `x_total` when
 *   another family is already called `x` or `x_created`); a text counter whose name lacks `_total`
 *   becomes unknown (renaming its series would break queries);
 *   untyped becomes unknown; timestamps are written in seconds.
 * Sample names, label sets and values never change. If a conversion would make two
 * families produce the same sample name, rendering fails with SP_METRICS_INVALID rather
 * than emit an ambiguous body.
 */
import { ShadowplaneError } from '../errors.ts';
import type { Exemplar, ExpositionFormat, MetricFamily, MetricType, Sample } from './model.ts';
import { LabelSetKeyer } from './label-key.ts';
import { sampleSuffixes } from './parse-types.ts';
import { escapeLabelValue, isLabelName, isMetricName } from './parse-lexer.ts';
import { NUM_INVALID, classifyNumber, valueNumber } from './parse-numbers.ts';

export { escapeLabelValue };

/**
 * A sample to render: a model Sample, or one the scrubber holds (scrub-run.ts
 * `ScrubbedSample`), whose label array is shared by its series and whose structural
 * pair comes apart, as `extraName="extraValue"`, written after the labels.
 */
export type RenderSample = Sample & { readonly extraName?: string | undefined; readonly extraValue?: string };

/** A family to render: a model MetricFamily, or a scrubbed one (`ScrubbedFamily`). */
export interface RenderFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly unit: string | undefined;
  readonly samples: readonly RenderSample[];
}

const TEXT_HELP_ESCAPES = /[\\\n]/g;
const OM_HELP_ESCAPES = /[\\"\n]/g;

function escapeChar(c: string): string {
  return c === '\n' ? '\\n' : `\\${c}`;
}

function renderLabels(labels: readonly string[]): string {
  if (labels.length === 0) return '';
  let out = '{';
  for (let i = 0; i < labels.length; i += 2) {
    if (i > 0) out += ',';
    out += `${labels[i]!}="${escapeLabelValue(labels[i + 1]!)}"`;
  }
  return `${out}}`;
}

function byName(family: RenderFamily, suffixOf: (sample: RenderSample) => string): Map<string, RenderSample[]> {
  const parts = new Map<string, RenderSample[]>();
  for (const sample of family.samples) {
    const suffix = suffixOf(sample);
    let list = parts.get(suffix);
    if (list === undefined) parts.set(suffix, (list = []));
    list.push(sample);
  }
  return parts;
}

function unsplittable(): never {
  throw new ShadowplaneError('SP_METRICS_INVALID', 'a sample name does not fit its family type');
}

function toText(family: RenderFamily): RenderFamily[] {
  const { name, help, samples } = family;
  const same = (type: MetricType): RenderFamily[] => [{ name, type, help, unit: undefined, samples }];
  switch (family.type) {
    case 'gauge':
    case 'untyped':
      return same(family.type);
    case 'unknown':
      return same('untyped');
    case 'stateset':
      return same('gauge');
    case 'counter': {
      if (samples.every((s) => s.name === name)) return same('counter');
      const parts = byName(family, (s) => (s.name === `${name}_total` ? 'total' : s.name === `${name}_created` ? 'created' : unsplittable()));
      const out: RenderFamily[] = [];
      const total = parts.get('total');
      const created = parts.get('created');
      if (total !== undefined || created === undefined) out.push({ name: `${name}_total`, type: 'counter', help, unit: undefined, samples: total ?? [] });
      if (created !== undefined) out.push({ name: `${name}_created`, type: 'gauge', help: undefined, unit: undefined, samples: created });
      return out;
    }
    case 'info':
      if (!samples.every((s) => s.name === `${name}_info`)) unsplittable();
      return [{ name: `${name}_info`, type: 'gauge', help, unit: undefined, samples }];
    case 'histogram':
    case 'summary': {
      const createdName = `${name}_created`;
      const created = samples.filter((s) => s.name === createdName);
      if (created.length === 0) return same(family.type);
      const out: RenderFamily[] = [{ name, type: family.type, help, unit: undefined, samples: samples.filter((s) => s.name !== createdName) }];
      out.push({ name: createdName, type: 'gauge', help: undefined, unit: undefined, samples: created });
      return out;
    }
    case 'gaugehistogram': {
      const parts = byName(family, (s) => (s.name === `${name}_bucket` || s.name === `${name}_gcount` || s.name === `${name}_gsum` ? s.name : unsplittable()));
      return [...parts].map(([sampleName, list], i) => ({ name: sampleName, type: 'gauge' as const, help: i === 0 ? help : undefined, unit: undefined, samples: list }));
    }
  }
}

function toOpenMetrics(family: RenderFamily, taken: ReadonlySet<string>): RenderFamily[] {
  const { name, help, samples } = family;
  const unit = family.unit !== undefined && name.endsWith(`_${family.unit}`) && family.type !== 'info' && family.type !== 'stateset' ? family.unit : undefined;
  switch (family.type) {
    case 'untyped':
      return [{ name, type: 'unknown', help, unit, samples }];
    case 'counter': {
      const native = samples.every((s) => s.name === `${name}_total` || s.name === `${name}_created`);
      if (native && (samples.length > 0 || !name.endsWith('_total'))) {
        return [{ name, type: 'counter', help, unit, samples }];
      }
      if (!samples.every((s) => s.name === name)) unsplittable();
      // Counter `x` in OpenMetrics also claims `x_created`: prometheus_client (Python)
      // writes a gauge `x_created` beside its text counter `x_total`. Then it stays unknown.
      // And an OpenMetrics counter never goes negative or NaN; a text one may.
      if (name.endsWith('_total') && name.length > 6 && !taken.has(name.slice(0, -6)) && !taken.has(`${name.slice(0, -6)}_created`) && samples.every((s) => valueNumber(s.value) >= 0)) {
        const base = name.slice(0, -6);
        const baseUnit = family.unit !== undefined && base.endsWith(`_${family.unit}`) ? family.unit : undefined;
        return [{ name: base, type: 'counter', help, unit: baseUnit, samples }];
      }
      return [{ name, type: 'unknown', help, unit, samples }];
    }
    case 'histogram':
    case 'summary':
      if (family.type === 'histogram' ? histogramFitsOpenMetrics(family) : summaryFitsOpenMetrics(family)) return [{ name, type: family.type, help, unit, samples }];
      // A text histogram or summary whose values OpenMetrics forbids (fractional or
      // falling bucket counts, a negative quantile): its samples as they are, one unknown
      // family per sample name, rather than an exposition that no parser takes.
      return [...byName(family, (s) => s.name)].map(([sampleName, list], i) => ({ name: sampleName, type: 'unknown' as const, help: i === 0 ? help : undefined, unit: undefined, samples: list }));
    default:
      return [{ name, type: family.type, help, unit, samples }];
  }
}

/** OpenMetrics' rules for histogram values: integer bucket counts that never fall within a series, an integer count equal to the +Inf bucket. */
function histogramFitsOpenMetrics(family: RenderFamily): boolean {
  const bucket = `${family.name}_bucket`;
  const count = `${family.name}_count`;
  // Buckets come in increasing order of le, +Inf last (the parser's rule): the last is +Inf.
  const lastBucket = new Map<number, number>();
  const counts = new Map<number, number>();
  for (const sample of family.samples) {
    const v = valueNumber(sample.value);
    if (sample.name === bucket) {
      if (!Number.isInteger(v) || v < (lastBucket.get(sample.group) ?? 0)) return false;
      lastBucket.set(sample.group, v);
    } else if (sample.name === count) {
      if (!Number.isInteger(v) || v < 0) return false;
      counts.set(sample.group, v);
    }
  }
  for (const [group, c] of counts) if (lastBucket.has(group) && lastBucket.get(group) !== c) return false;
  return true;
}

/** OpenMetrics' rules for summary values: no negative quantile value, an integer count. */
function summaryFitsOpenMetrics(family: RenderFamily): boolean {
  const count = `${family.name}_count`;
  for (const sample of family.samples) {
    const v = valueNumber(sample.value);
    if (sample.name === family.name && v < 0) return false;
    if (sample.name === count && (!Number.isInteger(v) || v < 0)) return false;
  }
  return true;
}

/**
 * prometheus_client (Python) writes, in the text format, a gauge `h_created` beside each
 * histogram or summary `h`, since that format has no `_created` samples. In OpenMetrics
 * `h` owns the name `h_created`, so the two cannot be rendered side by side: the gauge's
 * samples become the family's own `_created` samples instead, each after the other
 * samples of the series with the same labels. Only when they pair up one to one: else
 * nothing is folded (and the rendering refuses the clash, as before).
 */
function foldCreatedGauges(families: readonly RenderFamily[]): readonly RenderFamily[] {
  const byName = new Map(families.map((f) => [f.name, f]));
  const replaced = new Map<RenderFamily, RenderFamily | undefined>();
  for (const family of families) {
    if (family.type !== 'histogram' && family.type !== 'summary') continue;
    const gauge = byName.get(`${family.name}_created`);
    if (gauge === undefined || (gauge.type !== 'gauge' && gauge.type !== 'untyped' && gauge.type !== 'unknown')) continue;
    const folded = withCreatedSamples(family, gauge);
    if (folded === undefined) continue;
    replaced.set(family, folded);
    replaced.set(gauge, undefined);
  }
  if (replaced.size === 0) return families;
  const out: RenderFamily[] = [];
  for (const family of families) {
    if (!replaced.has(family)) out.push(family);
    else if (replaced.get(family) !== undefined) out.push(replaced.get(family)!);
  }
  return out;
}

/** `family` with the samples of `gauge` as its `_created` samples, or undefined when they do not pair up one to one with its series. */
function withCreatedSamples(family: RenderFamily, gauge: RenderFamily): RenderFamily | undefined {
  const createdName = `${family.name}_created`;
  const structural = family.type === 'summary' ? 'quantile' : 'le';
  // Equal label sets get equal keys in any order (one keyer for the family and the gauge).
  const keyer = new LabelSetKeyer();
  const seriesOf = new Map<string, number>();
  const lastSampleOf = new Map<number, number>();
  /** Per series: its labels without the structural pair, in its own order (the created sample's). */
  const labelsOf = new Map<number, readonly string[]>();
  family.samples.forEach((sample, i) => {
    if (!lastSampleOf.has(sample.group)) {
      const key = keyer.key(sample.labels, sample.labels.length, pairIndex(sample.labels, structural));
      // Two series with one key: the family keeps its groups apart by something else.
      seriesOf.set(key, seriesOf.has(key) ? -1 : sample.group);
      labelsOf.set(sample.group, withoutLabel(sample.labels, structural));
    }
    lastSampleOf.set(sample.group, i);
  });
  if (family.samples.some((s) => s.name === createdName)) return undefined;
  const createdOf = new Map<number, RenderSample>();
  for (const created of gauge.samples) {
    const group = created.extraName === undefined ? seriesOf.get(keyer.key(created.labels, created.labels.length, -1)) : undefined;
    if (group === undefined || group < 0 || createdOf.has(group)) return undefined;
    createdOf.set(group, created);
  }
  const samples: RenderSample[] = [];
  family.samples.forEach((sample, i) => {
    samples.push(sample);
    const created = lastSampleOf.get(sample.group) === i ? createdOf.get(sample.group) : undefined;
    if (created !== undefined) {
      // The series' own labels and order: a parser compares a series' samples position by position.
      samples.push({ name: createdName, labels: labelsOf.get(sample.group)!, extraName: undefined, extraValue: '', value: created.value, timestampMs: created.timestampMs, exemplar: undefined, group: sample.group });
    }
  });
  return { ...family, samples };
}

/** `labels` without the pair named `name` (the same array when it has none). */
function withoutLabel(labels: readonly string[], name: string): readonly string[] {
  const i = pairIndex(labels, name);
  return i < 0 ? labels : [...labels.slice(0, i), ...labels.slice(i + 2)];
}

/** Where the pair named `name` starts in `labels`, or -1. */
function pairIndex(labels: readonly string[], name: string): number {
  for (let i = 0; i + 1 < labels.length; i += 2) if (labels[i] === name) return i;
  return -1;
}

/** Refuses a rendering in which two families could produce the same sample name. */
function checkNames(rendered: readonly RenderFamily[], format: ExpositionFormat): void {
  const claims = new Set<string>();
  for (const family of rendered) {
    const names = new Set([family.name, ...sampleSuffixes(format, family.type).map((s) => family.name + s)]);
    for (const n of names) {
      if (claims.has(n)) throw new ShadowplaneError('SP_METRICS_INVALID', 'two metric families would produce the same sample name');
      claims.add(n);
    }
  }
}

function secondsText(ms: number): string {
  return String(ms / 1000);
}

function renderExemplar(exemplar: Exemplar): string {
  const ts = exemplar.timestampMs === undefined ? '' : ` ${secondsText(exemplar.timestampMs)}`;
  return ` # ${exemplar.labels.length === 0 ? '{}' : renderLabels(exemplar.labels)} ${exemplar.value}${ts}`;
}

function refuse(what: string): never {
  throw new ShadowplaneError('SP_METRICS_INVALID', `cannot render ${what}`);
}

/**
 * Defence in depth: families normally come from the strict parser, the scrubber or the
 * self-metrics registry, but a name or value that could break a line (or start a new
 * one) must never be written, whoever built the family. The family-level half is here;
 * the per-sample half runs as each sample is rendered (`render`), before it is written.
 */
function checkFamily(family: RenderFamily): void {
  if (!isMetricName(family.name)) refuse('an invalid metric name');
  if (family.unit !== undefined && !/^[a-zA-Z0-9_:]*$/.test(family.unit)) refuse('an invalid unit');
}

/**
 * Checks label sets before they are written: an even list, valid names, no name twice,
 * string values. Consecutive sets mostly have the same names (a counter's series) or
 * the same names and one more (a histogram bucket's `le`): names equal (===) to those
 * of the last set checked in full, position by position, are known valid and distinct,
 * so only the names after them are checked against the whole set.
 */
class LabelChecker {
  #last: readonly string[] | undefined;
  /** The names of the last set checked in full, in order. */
  #names: string[] = [];

  check(labels: readonly string[]): void {
    if (labels === this.#last) return;
    const length = labels.length;
    if ((length & 1) !== 0) refuse('an odd label list');
    const names = this.#names;
    let i = 0;
    while (i < length && labels[i] === names[i >> 1]) {
      if (typeof labels[i + 1] !== 'string') refuse('an invalid label');
      i += 2;
    }
    if (i < length) {
      for (; i < length; i += 2) {
        const name = labels[i]!;
        if (!isLabelName(name) || typeof labels[i + 1] !== 'string') refuse('an invalid label');
        for (let j = 0; j < i; j += 2) if (labels[j] === name) refuse('a repeated label name');
      }
      const checked: string[] = [];
      for (let j = 0; j < length; j += 2) checked.push(labels[j]!);
      this.#names = checked;
    }
    this.#last = labels;
  }

  #extraLabels: readonly string[] | undefined;
  #extraName = '';

  /** A pair written after `labels` (checked already): a valid name they do not hold. */
  checkExtra(labels: readonly string[], name: string, value: unknown): void {
    if (typeof value !== 'string') refuse('an invalid label');
    if (labels === this.#extraLabels && name === this.#extraName) return;
    if (!isLabelName(name)) refuse('an invalid label');
    for (let j = 0; j < labels.length; j += 2) if (labels[j] === name) refuse('a repeated label name');
    this.#extraLabels = labels;
    this.#extraName = name;
  }
}

/** Where rendered text goes: samples, other strings, and single ASCII characters. */
interface Sink {
  /**
   * `name{labels,extraName="extraValue"} value` of a checked sample (names and value
   * are ASCII once checked); no extra pair when `extraName` is undefined.
   */
  sample(name: string, labels: readonly string[], extraName: string | undefined, extraValue: string, value: string): void;
  write(text: string): void;
  byte(c: number): void;
}

const CH_LF = 10;
const CH_SPACE = 32;
const CH_BACKSLASH = 92;
const CH_QUOTE = 34;
const CH_COMMA = 44;
const CH_EQ = 61;
const CH_LBRACE = 123;
const CH_RBRACE = 125;

/** Appends to one string: `serialize`. */
class StringSink implements Sink {
  out = '';

  sample(name: string, labels: readonly string[], extraName: string | undefined, extraValue: string, value: string): void {
    this.out += `${name}${renderLabels(extraName === undefined ? labels : [...labels, extraName, extraValue])} ${value}`;
  }

  write(text: string): void {
    this.out += text;
  }

  byte(c: number): void {
    this.out += String.fromCharCode(c);
  }
}

/**
 * Writes UTF-8 straight into a buffer that grows by doubling: no intermediate strings.
 * ASCII is copied character by character; the rest of a string from its first non-ASCII
 * character is encoded by Buffer#write (which, like TextEncoder, writes U+FFFD for a
 * lone surrogate).
 */
class BufferSink implements Sink {
  #buf: Buffer;
  #pos = 0;

  constructor(initialBytes: number) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  #grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + needed));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** One capacity check and local positions for the whole `name{labels} value`. */
  sample(name: string, labels: readonly string[], extraName: string | undefined, extraValue: string, value: string): void {
    let worst = name.length + value.length + 3;
    for (let i = 0; i < labels.length; i++) worst += labels[i]!.length * 3 + 4;
    if (extraName !== undefined) worst += extraName.length + extraValue.length * 3 + 8;
    if (this.#pos + worst > this.#buf.length) this.#grow(worst);
    const buf = this.#buf;
    let pos = putAscii(buf, this.#pos, name);
    if (labels.length > 0 || extraName !== undefined) {
      buf[pos++] = CH_LBRACE;
      for (let i = 0; i < labels.length; i += 2) {
        if (i > 0) buf[pos++] = CH_COMMA;
        pos = putAscii(buf, pos, labels[i]!);
        buf[pos++] = CH_EQ;
        buf[pos++] = CH_QUOTE;
        pos = putLabelValue(buf, pos, labels[i + 1]!);
        buf[pos++] = CH_QUOTE;
      }
      if (extraName !== undefined) {
        if (labels.length > 0) buf[pos++] = CH_COMMA;
        pos = putAscii(buf, pos, extraName);
        buf[pos++] = CH_EQ;
        buf[pos++] = CH_QUOTE;
        pos = putLabelValue(buf, pos, extraValue);
        buf[pos++] = CH_QUOTE;
      }
      buf[pos++] = CH_RBRACE;
    }
    buf[pos++] = CH_SPACE;
    this.#pos = putAscii(buf, pos, value);
  }

  write(text: string): void {
    const length = text.length;
    if (this.#pos + length * 3 > this.#buf.length) this.#grow(length * 3);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        pos += buf.write(i === 0 ? text : text.slice(i), pos, 'utf8');
        break;
      }
      buf[pos++] = c;
    }
    this.#pos = pos;
  }

  byte(c: number): void {
    if (this.#pos >= this.#buf.length) this.#grow(1);
    this.#buf[this.#pos++] = c;
  }

  /** The bytes written; copied into a buffer of their own size when the slack is large. */
  result(): Buffer {
    const used = this.#buf.subarray(0, this.#pos);
    return this.#pos < this.#buf.length * 0.75 ? Buffer.from(used) : used;
  }
}

/** Copies checked ASCII text (names, numbers) into `buf` at `pos`; the new position. */
function putAscii(buf: Buffer, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
  return pos;
}

/** A label value, escaped, as UTF-8 into `buf` at `pos` (room for 3 bytes a character); the new position. */
function putLabelValue(buf: Buffer, pos: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80 || c === CH_BACKSLASH || c === CH_QUOTE || c === CH_LF) return pos + buf.write(escapeLabelValue(i === 0 ? value : value.slice(i)), pos, 'utf8');
    buf[pos++] = c;
  }
  return pos;
}

function render(input: readonly RenderFamily[], format: ExpositionFormat, sink: Sink): void {
  const om = format === 'openmetrics';
  const families = om ? foldCreatedGauges(input) : input;
  const taken = new Set(families.map((f) => f.name));
  const rendered = om ? families.flatMap((f) => toOpenMetrics(f, taken)) : families.flatMap(toText);
  checkNames(rendered, format);
  const helpEscapes = om ? OM_HELP_ESCAPES : TEXT_HELP_ESCAPES;
  const labels = new LabelChecker();
  for (const family of rendered) {
    checkFamily(family);
    const help = family.help === undefined ? undefined : family.help.replace(helpEscapes, escapeChar);
    if (om) {
      sink.write(`# TYPE ${family.name} ${family.type}\n`);
      if (family.unit !== undefined) sink.write(`# UNIT ${family.name} ${family.unit}\n`);
      if (help !== undefined) sink.write(`# HELP ${family.name} ${help}\n`);
    } else {
      if (help !== undefined) sink.write(`# HELP ${family.name} ${help}\n`);
      sink.write(`# TYPE ${family.name} ${family.type}\n`);
    }
    let lastName = '';
    // Indexed: `for…of` here cost an iterator result object per sample.
    const samples = family.samples;
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i]!;
      if (sample.name !== lastName) {
        if (!sample.name.startsWith(family.name) || !isMetricName(sample.name)) refuse('a sample name outside its family');
        lastName = sample.name;
      }
      labels.check(sample.labels);
      const extraName = sample.extraName;
      if (extraName !== undefined) labels.checkExtra(sample.labels, extraName, sample.extraValue);
      const v = sample.value;
      if (classifyNumber(v, 0, v.length) === NUM_INVALID) refuse('a value that is not a number');
      const ts = sample.timestampMs;
      if (ts !== undefined && !Number.isSafeInteger(ts)) refuse('an invalid timestamp');
      const exemplar = sample.exemplar;
      if (exemplar !== undefined) {
        for (let j = 0; j < exemplar.labels.length; j += 2) if (!isLabelName(exemplar.labels[j]!)) refuse('an invalid exemplar label');
        if ((exemplar.labels.length & 1) !== 0 || classifyNumber(exemplar.value, 0, exemplar.value.length) === NUM_INVALID) refuse('an invalid exemplar');
      }
      // Checked: now written.
      sink.sample(lastName, sample.labels, extraName, sample.extraValue ?? '', v);
      if (ts !== undefined) {
        sink.byte(CH_SPACE);
        sink.write(om ? secondsText(ts) : String(ts));
      }
      if (om && exemplar !== undefined) sink.write(renderExemplar(exemplar));
      sink.byte(CH_LF);
    }
  }
  if (om) sink.write('# EOF\n');
}

/**
 * Renders `families` in `format` as a string. Output is deterministic: families and
 * samples in the order given. OpenMetrics output ends with `# EOF`.
 */
export function serialize(families: readonly MetricFamily[], format: ExpositionFormat): string {
  const sink = new StringSink();
  render(families, format, sink);
  return sink.out;
}

/**
 * The same rendering as `serialize`, as UTF-8 bytes written straight into a buffer:
 * what an HTTP response or the agent channel needs, without building the text as
 * strings first.
 */
export function serializeToBuffer(families: readonly MetricFamily[], format: ExpositionFormat): Buffer {
  return renderToBuffer(families, format, 1 << 16);
}

/** `serializeToBuffer` starting with a buffer of `initialBytes` (it grows as needed). */
export function renderToBuffer(families: readonly RenderFamily[], format: ExpositionFormat, initialBytes: number): Buffer {
  const sink = new BufferSink(Math.max(1024, initialBytes));
  render(families, format, sink);
  return sink.result();
}
