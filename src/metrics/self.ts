/**
 * shadowplane's own metrics: a tiny registry of counters, gauges and fixed-bucket
 * histograms, rendered with the same serializer as scrubbed workload metrics.
 *
 * Invariant: every label value comes from an enumeration declared with the metric
 * (route kinds, outcomes, error codes), never from a request or a workload. The types
 * enforce it at compile time and `inc`/`set`/`observe` enforce it at run time, refusing
 * an undeclared value with SP_METRICS_LABEL_REFUSED (whose detail names the metric and
 * the label, never the value). So a pod name, a path or a user can never become a
 * label of shadowplane's own metrics, and their cardinality is bounded up front.
 */
import { ERRORS, type ErrorCode, ShadowplaneError } from '../errors.ts';
import type { ExpositionFormat, MetricFamily, Sample } from './model.ts';
import { isLabelName, isMetricName } from './parse-lexer.ts';
import type { ScrubStats } from './scrub.ts';
import { serialize } from './serialize.ts';

export type LabelSpec = Readonly<Record<string, readonly string[]>>;
export type LabelValues<L extends LabelSpec> = { readonly [K in keyof L]: L[K][number] };

interface Definition<L extends LabelSpec> {
  readonly name: string;
  readonly help: string;
  readonly labels: L;
}

/** Formats a number as exposition value text. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function formatBound(n: number): string {
  if (n === Infinity) return '+Inf';
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

abstract class Metric<L extends LabelSpec> {
  readonly name: string;
  readonly help: string;
  readonly #labelNames: readonly string[];
  readonly #allowed: ReadonlyArray<ReadonlySet<string>>;
  /** Series key (declared values joined) → flat label pairs, in first-use order. */
  protected readonly series = new Map<string, readonly string[]>();

  constructor(def: Definition<L>) {
    if (!isMetricName(def.name)) throw new ShadowplaneError('SP_INTERNAL', 'invalid self-metric name');
    this.name = def.name;
    this.help = def.help;
    this.#labelNames = Object.keys(def.labels);
    for (const label of this.#labelNames) {
      if (!isLabelName(label) || label === 'le' || label === 'quantile') throw new ShadowplaneError('SP_INTERNAL', 'invalid self-metric label name');
    }
    this.#allowed = this.#labelNames.map((label) => new Set(def.labels[label]));
  }

  /** The series key for `values`, after checking every value against its enumeration. */
  protected key(values: LabelValues<L>, register = true): string {
    const given = values as Readonly<Record<string, unknown>>;
    let key = '';
    let count = 0;
    for (let i = 0; i < this.#labelNames.length; i++) {
      const label = this.#labelNames[i]!;
      const v = given[label];
      if (typeof v !== 'string' || !this.#allowed[i]!.has(v)) {
        throw new ShadowplaneError('SP_METRICS_LABEL_REFUSED', `${this.name}: label ${label}`);
      }
      key += `${v}\u0000`;
      count++;
    }
    if (Object.keys(given).length !== count) throw new ShadowplaneError('SP_METRICS_LABEL_REFUSED', `${this.name}: undeclared label`);
    if (register && !this.series.has(key)) {
      const pairs: string[] = [];
      for (const label of this.#labelNames) pairs.push(label, given[label] as string);
      this.series.set(key, pairs);
    }
    return key;
  }

  abstract family(): MetricFamily;
}

/** One number per series: what counters and gauges share. */
abstract class ScalarMetric<L extends LabelSpec> extends Metric<L> {
  protected abstract readonly type: 'counter' | 'gauge';
  readonly #values = new Map<string, number>();

  protected add(labels: LabelValues<L>, by: number): void {
    const key = this.key(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  protected put(labels: LabelValues<L>, value: number): void {
    this.#values.set(this.key(labels), value);
  }

  get(labels: LabelValues<L>): number {
    return this.#values.get(this.key(labels, false)) ?? 0;
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    let group = 0;
    for (const [key, labels] of this.series) samples.push({ name: this.name, labels, value: formatValue(this.#values.get(key) ?? 0), timestampMs: undefined, exemplar: undefined, group: group++ });
    return { name: this.name, type: this.type, help: this.help, unit: undefined, samples };
  }
}

export class Counter<L extends LabelSpec> extends ScalarMetric<L> {
  protected readonly type = 'counter';

  inc(labels: LabelValues<L>, by = 1): void {
    if (!Number.isFinite(by) || by < 0) throw new ShadowplaneError('SP_INTERNAL', 'a counter only goes up by a finite amount');
    this.add(labels, by);
  }
}

export class Gauge<L extends LabelSpec> extends ScalarMetric<L> {
  protected readonly type = 'gauge';

  set(labels: LabelValues<L>, value: number): void {
    this.put(labels, value);
  }

  inc(labels: LabelValues<L>, by = 1): void {
    this.add(labels, by);
  }

  dec(labels: LabelValues<L>, by = 1): void {
    this.add(labels, -by);
  }
}

interface HistogramState {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram<L extends LabelSpec> extends Metric<L> {
  readonly buckets: readonly number[];
  readonly #states = new Map<string, HistogramState>();

  constructor(def: Definition<L> & { readonly buckets: readonly number[] }) {
    super(def);
    const b = def.buckets;
    if (b.length === 0 || b.length > 64 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))) {
      throw new ShadowplaneError('SP_INTERNAL', 'histogram buckets must be finite and increasing');
    }
    this.buckets = Object.freeze([...b]);
  }

  observe(labels: LabelValues<L>, value: number): void {
    if (Number.isNaN(value)) return;
    const key = this.key(labels);
    let state = this.#states.get(key);
    if (state === undefined) this.#states.set(key, (state = { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) state.counts[i]!++;
    state.sum += value;
    state.count++;
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    let group = 0;
    for (const [key, labels] of this.series) {
      const state = this.#states.get(key) ?? { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      const s = (name: string, l: readonly string[], v: number): Sample => ({ name, labels: l, value: formatValue(v), timestampMs: undefined, exemplar: undefined, group });
      this.buckets.forEach((bound, i) => samples.push(s(`${this.name}_bucket`, [...labels, 'le', formatBound(bound)], state.counts[i]!)));
      samples.push(s(`${this.name}_bucket`, [...labels, 'le', '+Inf'], state.count));
      samples.push(s(`${this.name}_sum`, labels, state.sum));
      samples.push(s(`${this.name}_count`, labels, state.count));
      group++;
    }
    return { name: this.name, type: 'histogram', help: this.help, unit: undefined, samples };
  }
}

/** A registry: metrics in registration order, each name once. */
export class SelfMetricsRegistry {
  readonly #metrics: Array<Metric<LabelSpec>> = [];
  readonly #names = new Set<string>();

  #add<M extends Metric<LabelSpec>>(metric: M): M {
    if (this.#names.has(metric.name)) throw new ShadowplaneError('SP_INTERNAL', 'self-metric registered twice');
    this.#names.add(metric.name);
    this.#metrics.push(metric);
    return metric;
  }

  /** A counter; its name must end in `_total`. */
  counter<const L extends LabelSpec>(def: Definition<L>): Counter<L> {
    if (!def.name.endsWith('_total')) throw new ShadowplaneError('SP_INTERNAL', 'counter names end in _total');
    return this.#add(new Counter(def));
  }

  gauge<const L extends LabelSpec>(def: Definition<L>): Gauge<L> {
    return this.#add(new Gauge(def));
  }

  histogram<const L extends LabelSpec>(def: Definition<L> & { readonly buckets: readonly number[] }): Histogram<L> {
    return this.#add(new Histogram(def));
  }

  families(): MetricFamily[] {
    return this.#metrics.map((m) => m.family());
  }

  serialize(format: ExpositionFormat): string {
    return serialize(this.families(), format);
  }
}

// The fixed enumerations shadowplane's own metrics use.

/** Route kinds of the proxy (ARCHITECTURE.md, Routing). */
export const ROUTE_KINDS = ['passthrough', 'exec', 'attach', 'portforward', 'logs', 'proxy', 'metrics', 'deny'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];
export const SESSION_KINDS = ['exec', 'attach', 'portforward', 'logs', 'proxy'] as const;
export const ATTESTATION_PLATFORMS = ['sev-snp', 'tdx', 'simulated'] as const;
/** `ok`, or an error code of the catalogue. */
export const RESULT_CODES = ['ok', ...(Object.keys(ERRORS) as ErrorCode[])] as const;
export const SERIES_OUTCOMES = ['kept', 'dropped_not_allowed', 'dropped_family_cap', 'dropped_total_cap', 'dropped_collision'] as const;
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** shadowplane's standard metrics, registered on `registry`. */
export function createShadowplaneMetrics(registry: SelfMetricsRegistry = new SelfMetricsRegistry()) {
  return {
    registry,
    requests: registry.counter({
      name: 'shadowplane_requests_total',
      help: 'Requests handled, by route kind and result code.',
      labels: { route: ROUTE_KINDS, code: RESULT_CODES },
    }),
    requestDuration: registry.histogram({
      name: 'shadowplane_request_duration_seconds',
      help: 'Time until a response or a stream session was established, by route kind.',
      labels: { route: ROUTE_KINDS },
      buckets: LATENCY_BUCKETS_SECONDS,
    }),
    openSessions: registry.gauge({
      name: 'shadowplane_open_sessions',
      help: 'Confidential stream sessions currently open, by kind.',
      labels: { kind: SESSION_KINDS },
    }),
    attestations: registry.counter({
      name: 'shadowplane_attestation_verifications_total',
      help: 'Attestation verifications, by platform and result code.',
      labels: { platform: ATTESTATION_PLATFORMS, code: RESULT_CODES },
    }),
    scrapes: registry.counter({
      name: 'shadowplane_metrics_scrapes_total',
      help: 'Workload metric scrapes, by result code (anything but ok dropped the whole scrape).',
      labels: { code: RESULT_CODES },
    }),
    series: registry.counter({
      name: 'shadowplane_metrics_series_total',
      help: 'Workload series seen by the scrubber, by outcome.',
      labels: { outcome: SERIES_OUTCOMES },
    }),
    hashedValues: registry.counter({
      name: 'shadowplane_metrics_hashed_values_total',
      help: 'Workload label values replaced by their keyed hash.',
      labels: {},
    }),
  };
}

export type ShadowplaneMetrics = ReturnType<typeof createShadowplaneMetrics>;

/** Records one scrub outcome (`code` is `ok` or the code that dropped the scrape). */
export function recordScrub(metrics: ShadowplaneMetrics, code: 'ok' | ErrorCode, stats: ScrubStats): void {
  metrics.scrapes.inc({ code });
  metrics.series.inc({ outcome: 'kept' }, stats.keptSeries);
  metrics.series.inc({ outcome: 'dropped_not_allowed' }, stats.droppedSeriesNotAllowed);
  metrics.series.inc({ outcome: 'dropped_family_cap' }, stats.droppedSeriesFamilyCap);
  metrics.series.inc({ outcome: 'dropped_total_cap' }, stats.droppedSeriesTotalCap);
  metrics.series.inc({ outcome: 'dropped_collision' }, stats.droppedSeriesCollision);
  metrics.hashedValues.inc({}, stats.hashedValues);
}
