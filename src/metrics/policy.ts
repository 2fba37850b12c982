/**
 * The scrub policy: the manifest's per-workload rules for which metrics may leave the
 * TEE. Allowlist first: a family that no rule names never leaves, a label that no rule
 * names never leaves. Validated from the plain object the manifest holds, with every
 * error naming its field (`workloads[0].metrics.families[2].name: …`), and frozen.
 *
 * The hash key is not part of the policy: it is an input of the scrubber that never
 * leaves the TEEs. The schema is documented with an example in docs/metrics.md.
 */
import { FieldReader, deepFreeze } from '../config/validate.ts';
import { isLabelName } from './parse-lexer.ts';
import { DEFAULT_PARSE_LIMITS } from './parse-limits.ts';

export const LABEL_ACTIONS = ['keep', 'drop', 'hash'] as const;
export type LabelAction = (typeof LABEL_ACTIONS)[number];

export const TIMESTAMP_POLICIES = ['drop', 'keep'] as const;
export type TimestampPolicy = (typeof TIMESTAMP_POLICIES)[number];

export interface FamilyRule {
  /** Exact family name, or a pattern with `*` (any run) and `?` (one character). */
  readonly name: string;
  readonly isPattern: boolean;
  /** Label actions for this family; they override the policy-wide `labels`. */
  readonly labels: ReadonlyMap<string, LabelAction>;
  /** Series cap for this family. @default policy.maxSeriesPerFamily */
  readonly maxSeries: number | undefined;
  /** Whether the HELP text may leave. @default false */
  readonly help: boolean;
  /** Whether `_created` samples (counter, histogram, summary) may leave. @default false */
  readonly created: boolean;
}

/** Where the agent scrapes the workload (loopback only); optional in the manifest. */
export interface ScrapeTarget {
  readonly port: number;
  /** @default "/metrics" */
  readonly path: string;
}

/**
 * Bounds on this workload's raw scrape, applied by the agent inside the pod before and
 * while it parses (`maxBytes` also on the wire). Past any of them the whole scrape is
 * dropped (SP_METRICS_TOO_LARGE, SP_METRICS_SCRAPE_TIMEOUT), never truncated. A workload
 * whose exposition is larger than the defaults raises them here, up to the ceilings in
 * SCRAPE_LIMIT_BOUNDS, which keep one scrape's memory in the agent bounded (the parse
 * holds about ten times the body at its peak, docs/metrics.md).
 */
export interface ScrapeLimits {
  /** The raw body in bytes. @default 10 MiB */
  readonly maxBytes: number;
  /** Samples (lines with a value) in the raw body, every histogram bucket counted. @default 250,000 */
  readonly maxSamples: number;
  /** One deadline for connect, headers and body. @default 5000 */
  readonly timeoutMs: number;
}

/** What `limits` may say: a limit may be lowered to the minimum or raised to the maximum. */
export const SCRAPE_LIMIT_BOUNDS = Object.freeze({
  maxBytes: { min: 1024, max: 32 * 1024 * 1024 },
  maxSamples: { min: 1, max: 1_000_000 },
  timeoutMs: { min: 100, max: 60_000 },
});

export interface ScrubPolicy {
  readonly families: readonly FamilyRule[];
  /** Label actions for every allowed family, unless the family's rule names the label. */
  readonly labels: ReadonlyMap<string, LabelAction>;
  /** @default 1000 */
  readonly maxSeriesPerFamily: number;
  /** @default 10000 */
  readonly maxSeries: number;
  /** @default "drop" */
  readonly timestamps: TimestampPolicy;
  /** Hex characters of HMAC-SHA-256 kept for a hashed value. @default 16 */
  readonly hashLength: number;
  readonly scrape: ScrapeTarget | undefined;
  readonly limits: ScrapeLimits;
}

export const POLICY_DEFAULTS = Object.freeze({
  maxSeriesPerFamily: 1000,
  maxSeries: 10_000,
  timestamps: 'drop',
  hashLength: 16,
  scrapePath: '/metrics',
  limits: Object.freeze({ maxBytes: DEFAULT_PARSE_LIMITS.maxBytes, maxSamples: DEFAULT_PARSE_LIMITS.maxSeries, timeoutMs: 5000 }),
});

const FAMILY_PATTERN = /^[a-zA-Z_:*?][a-zA-Z0-9_:*?]{0,255}$/;
const SCRAPE_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@/%-]{0,1023}$/;

function labelActions(reader: FieldReader): Map<string, LabelAction> {
  const v = reader.raw;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) reader.fail('must be a map of label name to keep, drop or hash');
  const keys = Object.keys(v);
  if (keys.length > 256) reader.fail('must have at most 256 labels');
  const out = new Map<string, LabelAction>();
  for (const key of keys) {
    const field = new FieldReader((v as Record<string, unknown>)[key], `${reader.path}.${key}`);
    if (!isLabelName(key) || key.length > 256) field.fail('is not a valid label name (letters, digits, "_", not starting with a digit or "__")');
    out.set(key, field.oneOf(LABEL_ACTIONS));
  }
  return out;
}

/**
 * Validates a scrub policy. `fieldPath` is where `obj` sits in the manifest
 * (`workloads[0].metrics`) and prefixes every error.
 *
 * @throws ShadowplaneError SP_MANIFEST_INVALID naming the offending field.
 */
export function parseScrubPolicy(obj: unknown, fieldPath: string): ScrubPolicy {
  const root = new FieldReader(obj, fieldPath).object(['families', 'labels', 'maxSeriesPerFamily', 'maxSeries', 'timestamps', 'hashLength', 'scrape', 'limits']);
  const maxSeriesPerFamily = root.optional('maxSeriesPerFamily')?.integer({ min: 1, max: 1_000_000 }) ?? POLICY_DEFAULTS.maxSeriesPerFamily;
  const maxSeries = root.optional('maxSeries')?.integer({ min: 1, max: 10_000_000 }) ?? POLICY_DEFAULTS.maxSeries;
  const timestamps = root.optional('timestamps')?.oneOf(TIMESTAMP_POLICIES) ?? POLICY_DEFAULTS.timestamps;
  const hashLength = root.optional('hashLength')?.integer({ min: 8, max: 64 }) ?? POLICY_DEFAULTS.hashLength;
  const labelsReader = root.optional('labels');
  const labels = labelsReader === undefined ? new Map<string, LabelAction>() : labelActions(labelsReader);

  const seen = new Set<string>();
  const families = root.required('families').array({ maxItems: 1000 }).map((item): FamilyRule => {
    const o = item.object(['name', 'labels', 'maxSeries', 'help', 'created']);
    const name = o.required('name').string({ maxLength: 256, pattern: FAMILY_PATTERN, patternHint: 'must be a metric name, optionally with "*" and "?" wildcards' });
    if (seen.has(name)) o.field('name').fail(`duplicate family rule ${JSON.stringify(name)}`);
    seen.add(name);
    const familyLabels = o.optional('labels');
    return {
      name,
      isPattern: /[*?]/.test(name),
      labels: familyLabels === undefined ? new Map() : labelActions(familyLabels),
      maxSeries: o.optional('maxSeries')?.integer({ min: 1, max: 1_000_000 }),
      help: o.optional('help')?.boolean() ?? false,
      created: o.optional('created')?.boolean() ?? false,
    };
  });

  let scrape: ScrapeTarget | undefined;
  const scrapeReader = root.optional('scrape');
  if (scrapeReader !== undefined) {
    const s = scrapeReader.object(['port', 'path']);
    scrape = {
      port: s.required('port').integer({ min: 1, max: 65_535 }),
      path: s.optional('path')?.string({ maxLength: 1024, pattern: SCRAPE_PATH, patternHint: 'must be an absolute URL path without query' }) ?? POLICY_DEFAULTS.scrapePath,
    };
  }
  const limitsReader = root.optional('limits');
  let limits: ScrapeLimits = POLICY_DEFAULTS.limits;
  if (limitsReader !== undefined) {
    const l = limitsReader.object(['maxBytes', 'maxSamples', 'timeoutMs']);
    limits = {
      maxBytes: l.optional('maxBytes')?.integer(SCRAPE_LIMIT_BOUNDS.maxBytes) ?? limits.maxBytes,
      maxSamples: l.optional('maxSamples')?.integer(SCRAPE_LIMIT_BOUNDS.maxSamples) ?? limits.maxSamples,
      timeoutMs: l.optional('timeoutMs')?.integer(SCRAPE_LIMIT_BOUNDS.timeoutMs) ?? limits.timeoutMs,
    };
  }
  return deepFreeze({ families, labels, maxSeriesPerFamily, maxSeries, timestamps, hashLength, scrape, limits });
}
