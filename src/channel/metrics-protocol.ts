/**
 * The channel's metrics operation: the attested proxy asks the pod's agent to scrape the
 * workload, scrub the result under the workload's policy and answer only scrubbed bytes.
 *
 *   POST /v1/metrics?format=text|openmetrics[&port=N]
 *   body  {"policy": <the manifest's workloads[].metrics>, "hashKey": "<base64, ≥ 16 bytes>"}
 *   200   the scrubbed exposition in `format` (Content-Type from CONTENT_TYPES), and the
 *         scrub statistics (counts only) in the `x-shadowplane-scrub-stats` header
 *   else  the usual error body; a dropped scrape answers the code that dropped it
 *
 * Pure. The hash key travels only here, inside the mutually attested channel: it is never
 * logged and never put in an error. The statistics are numbers, never workload data.
 */
import { ShadowplaneError } from '../errors.ts';
import { MIN_HASH_KEY_BYTES } from '../metrics/hash.ts';
import type { ExpositionFormat } from '../metrics/model.ts';
import { emptyScrubStats, type ScrubStats } from '../metrics/scrub.ts';
import { CHANNEL_PATHS } from './protocol.ts';

export const SCRUB_STATS_HEADER = 'x-shadowplane-scrub-stats';

export const METRICS_LIMITS = {
  /** The request body: a policy (bounded like the manifest it comes from) and a key. */
  maxRequestBytes: 1024 * 1024,
  maxHashKeyBytes: 1024,
  /** A scrubbed answer the proxy accepts. */
  maxAnswerBytes: 64 * 1024 * 1024,
  maxStatsHeaderBytes: 2048,
} as const;

export interface MetricsQuery {
  readonly format: ExpositionFormat;
  /** The port the caller named (`pods/NAME:PORT/proxy/metrics`); it must be the scrape target's. */
  readonly port: number | undefined;
}

export interface MetricsRequestBody {
  /** The scrub policy document as the manifest holds it (plain JSON values). */
  readonly policy: unknown;
  readonly hashKey: Buffer;
}

export function metricsPath(query: MetricsQuery): string {
  const q = new URLSearchParams({ format: query.format });
  if (query.port !== undefined) q.set('port', String(query.port));
  return `${CHANNEL_PATHS.metrics}?${q.toString()}`;
}

export function parseMetricsQuery(query: URLSearchParams): MetricsQuery {
  const formats = query.getAll('format');
  const ports = query.getAll('port');
  const format = formats.length === 1 ? formats[0] : undefined;
  if (format !== 'text' && format !== 'openmetrics') throw new ShadowplaneError('SP_BAD_REQUEST', 'format must be given once, text or openmetrics');
  if (ports.length > 1) throw new ShadowplaneError('SP_BAD_REQUEST', 'port given more than once');
  let port: number | undefined;
  if (ports.length === 1) {
    if (!/^[0-9]{1,5}$/.test(ports[0]!) || Number(ports[0]) < 1 || Number(ports[0]) > 65_535) throw new ShadowplaneError('SP_BAD_REQUEST', 'port must be 1..65535');
    port = Number(ports[0]);
  }
  return { format, port };
}

export function encodeMetricsRequest(body: MetricsRequestBody): Buffer {
  return Buffer.from(JSON.stringify({ policy: body.policy, hashKey: body.hashKey.toString('base64') }));
}

/** Decodes the request body; the policy itself is validated by its own parser. */
export function decodeMetricsRequest(bytes: Buffer): MetricsRequestBody {
  if (bytes.length > METRICS_LIMITS.maxRequestBytes) throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics request too large');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics request is not JSON');
  }
  const v = value as { policy?: unknown; hashKey?: unknown };
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).some((k) => k !== 'policy' && k !== 'hashKey')) {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics request shape');
  }
  if (typeof v.hashKey !== 'string' || v.hashKey.length > 2 * METRICS_LIMITS.maxHashKeyBytes || !/^[A-Za-z0-9+/]*={0,2}$/.test(v.hashKey)) {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'hashKey must be base64');
  }
  const hashKey = Buffer.from(v.hashKey, 'base64');
  if (hashKey.length < MIN_HASH_KEY_BYTES || hashKey.length > METRICS_LIMITS.maxHashKeyBytes) throw new ShadowplaneError('SP_BAD_REQUEST', `hashKey must be ${MIN_HASH_KEY_BYTES} to ${METRICS_LIMITS.maxHashKeyBytes} bytes`);
  if (v.policy === undefined) throw new ShadowplaneError('SP_BAD_REQUEST', 'policy is missing');
  return { policy: v.policy, hashKey };
}

const STAT_KEYS = Object.keys(emptyScrubStats()) as (keyof ScrubStats)[];

/** The statistics as a compact header value: numbers in a fixed key order. */
export function encodeScrubStats(stats: ScrubStats): string {
  return STAT_KEYS.map((k) => String(stats[k])).join(',');
}

/** Reads the statistics header; anything but the fixed list of counts is SP_AGENT_PROTOCOL. */
export function decodeScrubStats(header: unknown): ScrubStats {
  if (typeof header !== 'string' || header.length > METRICS_LIMITS.maxStatsHeaderBytes) throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'scrub statistics missing');
  const parts = header.split(',');
  if (parts.length !== STAT_KEYS.length || parts.some((p) => !/^[0-9]{1,15}$/.test(p))) throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'scrub statistics shape');
  const stats = emptyScrubStats();
  STAT_KEYS.forEach((k, i) => (stats[k] = Number(parts[i])));
  return stats;
}
