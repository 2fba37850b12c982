/**
 * What each metric type's samples are called in each format, and what role each sample
 * plays (value, total, bucket, …): the tables the family builder checks sample names
 * against and the serializer renders with.
 */
import type { ExpositionFormat, MetricType } from './model.ts';

/** What a sample is within its family. */
export const ROLE_VALUE = 0;
export const ROLE_TOTAL = 1;
export const ROLE_CREATED = 2;
export const ROLE_BUCKET = 3;
export const ROLE_SUM = 4;
export const ROLE_COUNT = 5;
export const ROLE_QUANTILE = 6;
export const ROLE_INFO = 7;
export const ROLE_STATE = 8;

export type Suffixes = ReadonlyArray<readonly [suffix: string, role: number]>;

export const TEXT_SUFFIXES: Partial<Record<MetricType, Suffixes>> = {
  counter: [['', ROLE_VALUE]],
  gauge: [['', ROLE_VALUE]],
  untyped: [['', ROLE_VALUE]],
  histogram: [
    ['_bucket', ROLE_BUCKET],
    ['_sum', ROLE_SUM],
    ['_count', ROLE_COUNT],
  ],
  summary: [
    ['', ROLE_QUANTILE],
    ['_sum', ROLE_SUM],
    ['_count', ROLE_COUNT],
  ],
};

export const OM_SUFFIXES: Partial<Record<MetricType, Suffixes>> = {
  counter: [
    ['_total', ROLE_TOTAL],
    ['_created', ROLE_CREATED],
  ],
  gauge: [['', ROLE_VALUE]],
  unknown: [['', ROLE_VALUE]],
  stateset: [['', ROLE_STATE]],
  info: [['_info', ROLE_INFO]],
  histogram: [
    ['_bucket', ROLE_BUCKET],
    ['_sum', ROLE_SUM],
    ['_count', ROLE_COUNT],
    ['_created', ROLE_CREATED],
  ],
  gaugehistogram: [
    ['_bucket', ROLE_BUCKET],
    ['_gsum', ROLE_SUM],
    ['_gcount', ROLE_COUNT],
  ],
  summary: [
    ['', ROLE_QUANTILE],
    ['_sum', ROLE_SUM],
    ['_count', ROLE_COUNT],
    ['_created', ROLE_CREATED],
  ],
};

/** Sample-name suffixes per type and format, for the serializer and the scrubber. */
export function sampleSuffixes(format: ExpositionFormat, type: MetricType): readonly string[] {
  const table = (format === 'openmetrics' ? OM_SUFFIXES : TEXT_SUFFIXES)[type];
  return table === undefined ? [] : table.map(([s]) => s);
}

/** Label that a role carries structurally, or undefined. */
export function structuralLabel(role: number): string | undefined {
  return role === ROLE_BUCKET ? 'le' : role === ROLE_QUANTILE ? 'quantile' : undefined;
}

/** The label that sets a family's samples apart within one series: `le` or `quantile`, by type. */
export function structuralLabelOf(type: MetricType): string | undefined {
  return type === 'histogram' || type === 'gaugehistogram' ? 'le' : type === 'summary' ? 'quantile' : undefined;
}
