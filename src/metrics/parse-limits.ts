import { ShadowplaneError } from '../errors.ts';

/**
 * Bounds applied to an exposition before and while it is parsed. Every one of them is a
 * reason to drop the whole scrape (`SP_METRICS_TOO_LARGE`), never to truncate: a cut
 * exposition could silently change what a series means.
 */
export interface ParseLimits {
  /** Body size in bytes. @default 10 MiB */
  readonly maxBytes: number;
  /** Length of one line in characters (UTF-16 code units). @default 65536 */
  readonly maxLineLength: number;
  /** Labels on one sample (or one exemplar). @default 64 */
  readonly maxLabelsPerSeries: number;
  /** Length of a metric name. @default 256 */
  readonly maxNameLength: number;
  /** Length of a label name. @default 256 */
  readonly maxLabelNameLength: number;
  /** Length of a decoded label value. @default 4096 */
  readonly maxLabelValueLength: number;
  /** Metric families in one exposition. @default 10000 */
  readonly maxFamilies: number;
  /** Samples (lines with a value) in one exposition. @default 250000 */
  readonly maxSeries: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxLineLength: 65_536,
  maxLabelsPerSeries: 64,
  maxNameLength: 256,
  maxLabelNameLength: 256,
  maxLabelValueLength: 4096,
  maxFamilies: 10_000,
  maxSeries: 250_000,
});

/** Fills defaults and refuses a limit that is not a positive safe integer. */
export function resolveParseLimits(partial: Partial<ParseLimits> | undefined): ParseLimits {
  if (partial === undefined) return DEFAULT_PARSE_LIMITS;
  const out: Record<string, number> = { ...DEFAULT_PARSE_LIMITS };
  for (const key of Object.keys(DEFAULT_PARSE_LIMITS) as Array<keyof ParseLimits>) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new ShadowplaneError('SP_CONFIG_INVALID', `metrics limit ${key} must be a positive integer`);
    }
    out[key] = value;
  }
  return Object.freeze(out) as unknown as ParseLimits;
}
