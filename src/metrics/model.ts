/**
 * The in-memory shape of a metrics exposition, shared by the parsers, the scrubber, the
 * serializer and shadowplane's own registry.
 *
 * Labels are stored flat, `[name0, value0, name1, value1, …]`, in exposition order: one
 * array per sample instead of one small tuple per label keeps a 100,000-series parse
 * from allocating half a million objects. `labelPairs()` gives the tuple view.
 */

/** `text` is the Prometheus text format 0.0.4; `openmetrics` is OpenMetrics 1.0 text. */
export type ExpositionFormat = 'text' | 'openmetrics';

export const METRIC_TYPES = [
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'unknown',
  'untyped',
] as const;

/** `untyped` only comes from the text format and `unknown` only from OpenMetrics. */
export type MetricType = (typeof METRIC_TYPES)[number];

export interface Exemplar {
  /** Flat label pairs, as for samples. */
  readonly labels: readonly string[];
  readonly value: string;
  readonly timestampMs: number | undefined;
}

export interface Sample {
  /** The sample's metric name, with its suffix (`_total`, `_bucket`, …). */
  readonly name: string;
  /** Flat label pairs in exposition order: `[name0, value0, name1, value1, …]`. */
  readonly labels: readonly string[];
  /**
   * The value as validated text: a decimal number exactly as exposed, or one of the
   * canonical spellings `NaN`, `+Inf`, `-Inf`. Valid in both formats.
   */
  readonly value: string;
  /** Milliseconds since the epoch (text format unit); OpenMetrics seconds are converted. */
  readonly timestampMs: number | undefined;
  readonly exemplar: Exemplar | undefined;
  /**
   * Index of the metric (the label set without `le`/`quantile`) this sample belongs to,
   * within its family: the buckets, sum and count of one histogram share it.
   */
  readonly group: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly unit: string | undefined;
  readonly samples: readonly Sample[];
}

export interface ParsedExposition {
  readonly format: ExpositionFormat;
  readonly families: readonly MetricFamily[];
  /** Number of samples (exposition lines carrying a value). */
  readonly sampleCount: number;
}

/** The tuple view of flat label pairs. */
export function labelPairs(labels: readonly string[]): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  for (let i = 0; i + 1 < labels.length; i += 2) out.push([labels[i]!, labels[i + 1]!]);
  return out;
}

/** The value of label `name`, or undefined. */
export function labelValue(labels: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < labels.length; i += 2) if (labels[i] === name) return labels[i + 1];
  return undefined;
}
