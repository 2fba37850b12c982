/**
 * Agent side of `metrics`: scrape the workload on the pod's loopback, scrub inside the
 * pod's TEE, answer only scrubbed bytes.
 *
 * - The policy comes from the attested proxy (the manifest's `workloads[].metrics`) and
 *   is validated here again with the same parser; the scrape target is the policy's
 *   `scrape`, else this agent's configured `metrics.port`/`metrics.path`. A port named by
 *   the caller must be that target's port.
 * - Everything is bounded: the request body (1 MiB), the scrape (one deadline, a body
 *   cap), the parse (src/metrics limits), and the number of scrapes running at once. The
 *   deadline, the body cap and the sample cap are the policy's `limits` (bounded by
 *   SCRAPE_LIMIT_BOUNDS), so a workload with a large exposition can raise them.
 * - Any doubt drops the whole scrape: the answer is then the error code that dropped it,
 *   never partial metrics. Logs carry codes, counts and the error's fixed detail (for a
 *   parse doubt its line number and reason), never names or values.
 */
import { createHash } from 'node:crypto';
import type { ServerHttp2Stream } from 'node:http2';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { SCRUB_STATS_HEADER, METRICS_LIMITS, decodeMetricsRequest, encodeScrubStats, type MetricsQuery } from '../channel/metrics-protocol.ts';
import { readBody, respondError } from '../channel/stream-util.ts';
import { CONTENT_TYPES } from '../metrics/content-type.ts';
import { createLabelHasher, type LabelHasher } from '../metrics/hash.ts';
import { parseScrubPolicy, type ScrubPolicy } from '../metrics/policy.ts';
import { scrapeMetrics } from '../metrics/scrape.ts';
import { scrubScrapeToBuffer } from '../metrics/scrub-pipeline.ts';

export interface MetricsContext {
  /** The agent configuration's scrape target, used when the policy names none. */
  readonly port: number | null;
  readonly path: string;
  readonly logger: Logger;
  /** Scrapes running at once; more are SP_AGENT_BUSY. Default 4. */
  readonly maxConcurrentScrapes?: number;
  /** Hashers by key and length, reused across scrapes (their caches). Create with createMetricsState(). */
  readonly state: MetricsState;
}

export interface MetricsState {
  running: number;
  /** The body caps (`limits.maxBytes`) of the scrapes running now. */
  reservedBytes: number;
  readonly hashers: Map<string, LabelHasher>;
}

export function createMetricsState(): MetricsState {
  return { running: 0, reservedBytes: 0, hashers: new Map() };
}

/**
 * The scrapes running at once may between them receive at most this many body bytes: four
 * at the default 10 MiB cap, two at the largest a workload may set (32 MiB). Scrubbing is
 * synchronous, so one parse at a time adds its peak (about six times its body) to that.
 */
export const MAX_SCRAPE_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

const MAX_HASHERS = 4;

function hasherFor(state: MetricsState, key: Buffer, length: number): LabelHasher {
  // Indexed by a digest of the key, so the map never holds the key as a string.
  const id = `${createHash('sha256').update(key).digest('hex')}|${length}`;
  let hasher = state.hashers.get(id);
  if (hasher === undefined) {
    if (state.hashers.size >= MAX_HASHERS) state.hashers.clear();
    hasher = createLabelHasher(key, length);
    state.hashers.set(id, hasher);
  }
  return hasher;
}

export function serveMetrics(stream: ServerHttp2Stream, query: MetricsQuery, ctx: MetricsContext): void {
  const state = ctx.state;
  if (state.running >= (ctx.maxConcurrentScrapes ?? 4)) {
    respondError(stream, new ShadowplaneError('SP_AGENT_BUSY', 'too many metrics scrapes at once'));
    return;
  }
  state.running++;
  void scrubbed(stream, query, ctx)
    .then(
      ({ body, stats }) => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': CONTENT_TYPES[query.format], 'content-length': body.length, [SCRUB_STATS_HEADER]: stats });
        stream.end(body);
      },
      (err: unknown) => {
        const e = isShadowplaneError(err) ? err : new ShadowplaneError('SP_INTERNAL', undefined, { cause: err });
        ctx.logger.info({ code: e.code, detail: e.detail }, 'metrics scrape dropped');
        respondError(stream, e);
      },
    )
    .finally(() => state.running--);
}

async function scrubbed(stream: ServerHttp2Stream, query: MetricsQuery, ctx: MetricsContext): Promise<{ body: Buffer; stats: string }> {
  const request = decodeMetricsRequest(await readBody(stream, METRICS_LIMITS.maxRequestBytes).catch(() => {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics request body');
  }));
  const policy: ScrubPolicy = parseScrubPolicy(request.policy, 'metrics');
  const target = policy.scrape ?? (ctx.port === null ? undefined : { port: ctx.port, path: ctx.path });
  if (target === undefined) throw new ShadowplaneError('SP_METRICS_NOT_CONFIGURED', 'neither the policy nor the agent configuration names a scrape port');
  if (query.port !== undefined && query.port !== target.port) throw new ShadowplaneError('SP_METRICS_NOT_CONFIGURED', 'the requested port is not the metrics port');
  const hasher = hasherFor(ctx.state, request.hashKey, policy.hashLength);
  // The workload's own limits (the policy's `limits`, else the defaults): its body cap on
  // the wire and again in the parse, its sample cap in the parse.
  const { maxBytes, maxSamples, timeoutMs } = policy.limits;
  if (ctx.state.reservedBytes + maxBytes > MAX_SCRAPE_BYTES_IN_FLIGHT) throw new ShadowplaneError('SP_AGENT_BUSY', 'too many metrics bytes in flight');
  ctx.state.reservedBytes += maxBytes;
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  stream.once('close', onClose);
  try {
    const scraped = await scrapeMetrics({ port: target.port, path: target.path, timeoutMs, maxBytes, signal: abort.signal });
    const outcome = scrubScrapeToBuffer(scraped.body, scraped.contentType, policy, hasher, query.format, { maxBytes, maxSeries: maxSamples });
    // The parser's line number and fixed reason (never input bytes: scrub-pipeline.ts
    // `dropped`), so that the scraper and both logs say why without the exposition.
    if (!outcome.ok) throw new ShadowplaneError(outcome.code, outcome.detail);
    const body = outcome.body;
    ctx.logger.debug({ keptSeries: outcome.stats.keptSeries, droppedSeries: outcome.stats.droppedSeries, bytes: body.length }, 'metrics scraped and scrubbed');
    return { body, stats: encodeScrubStats(outcome.stats) };
  } finally {
    ctx.state.reservedBytes -= maxBytes;
    stream.off('close', onClose);
  }
}
