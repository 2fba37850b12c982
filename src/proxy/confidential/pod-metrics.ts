/**
 * Scrubbed metrics of one confidential pod, fetched from its agent over the attested
 * channel, and the per-pod endpoint `GET /api/v1/namespaces/NS/pods/POD[:PORT]/proxy/metrics`.
 *
 * The proxy sends the workload's scrub policy (the manifest's `workloads[].metrics`) and
 * the hash key; the agent scrapes and scrubs inside the pod and answers only scrubbed
 * bytes. Every outcome is counted in shadowplane's own metrics (a dropped scrape under
 * the code that dropped it). Raw workload metrics never reach the proxy, and the hash key
 * travels only inside the attested channel.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { ScrubbedMetrics } from '../../channel/agent-client.ts';
import type { Manifest, ManifestScraper, ManifestUser } from '../../config/manifest.ts';
import { workloadFor } from '../../config/scope.ts';
import { ShadowplaneError, asShadowplaneError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { negotiateFormat } from '../../metrics/content-type.ts';
import type { ExpositionFormat } from '../../metrics/model.ts';
import { emptyScrubStats } from '../../metrics/scrub.ts';
import { recordScrub, type ShadowplaneMetrics } from '../../metrics/self.ts';
import { answerBudgetMs, sendMetricsBody } from '../metrics-response.ts';
import type { AnyRequest } from '../request.ts';
import type { AnyResponse } from '../respond.ts';
import { MAX_WRITE_STALL_MS } from '../write-stall.ts';
import type { PodAgents } from './pod-agents.ts';
import { isScraper, type MetricsCaller } from './scrapers.ts';

export interface PodMetricsOptions {
  readonly manifest: Manifest;
  readonly agents: PodAgents;
  /** The HMAC key for hashed label values: in memory only, sent only to attested agents. */
  readonly hashKey: Buffer;
  readonly metrics: ShadowplaneMetrics | undefined;
  /**
   * Per-pod metrics requests one caller (a manifest scraper or user) may have in progress
   * at once, each from its admission until its answer is delivered or its response ended;
   * more are refused with SP_METRICS_CALLER_BUSY. Default MAX_REQUESTS_PER_CALLER (16).
   */
  readonly maxRequestsPerCaller?: number;
  /** A response whose client takes none of it for this long is ended (watchWriteStall). Default MAX_WRITE_STALL_MS (30 s). */
  readonly maxWriteStallMs?: number;
  readonly logger: Logger;
}

/**
 * One pod's answer is awaited 10 s, or the workload's own scrape deadline (its policy's
 * `limits.timeoutMs`, 5 s by default) and 5 s more for reaching the agent and the scrub
 * if that is longer; a scraper's announced timeout, when shorter, is the deadline.
 */
const POD_TIMEOUT_MS = 10_000;
const AGENT_MARGIN_MS = 5000;

/**
 * A Prometheus scrapes each target once per interval, spread over it, so one scraper has
 * about targets × scrape time ÷ interval requests in progress: 16 is 480 pods scraped in
 * 1 s every 30 s (2,400 at 200 ms). Each may hold a scrubbed answer in memory (10 MiB
 * under the default workload limits) until its client took it, so 16 are at most about
 * 160 MiB per caller, less than one federation's 256 MiB, for at most the stall bound.
 */
export const MAX_REQUESTS_PER_CALLER = 16;

export class PodMetricsScraper {
  readonly #opts: PodMetricsOptions;
  /** Per-pod metrics requests in progress, by the caller's manifest entry (its credential). */
  readonly #inProgress = new Map<ManifestScraper | ManifestUser, number>();

  constructor(opts: PodMetricsOptions) {
    this.#opts = opts;
  }

  get maxWriteStallMs(): number {
    return this.#opts.maxWriteStallMs ?? MAX_WRITE_STALL_MS;
  }

  /**
   * Takes one of `caller`'s per-pod requests in progress, or refuses with
   * SP_METRICS_CALLER_BUSY when it has them all. Returns the function that gives it back
   * (once, however often called). Counted by the manifest entry, so a scraper's
   * connections, streams and bearer tokens of the same entry share its bound.
   */
  reserve(caller: MetricsCaller): () => void {
    const key = isScraper(caller) ? caller.scraper : caller.user;
    const max = this.#opts.maxRequestsPerCaller ?? MAX_REQUESTS_PER_CALLER;
    const held = this.#inProgress.get(key) ?? 0;
    if (held >= max) throw new ShadowplaneError('SP_METRICS_CALLER_BUSY', `${max} per-pod metrics requests of this caller are in progress`);
    this.#inProgress.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inProgress.get(key) ?? 1) - 1;
      if (left > 0) this.#inProgress.set(key, left);
      else this.#inProgress.delete(key);
    };
  }

  get manifest(): Manifest {
    return this.#opts.manifest;
  }

  get agents(): PodAgents {
    return this.#opts.agents;
  }

  /** True when metrics may leave this pod at all (its workload has a policy). */
  hasPolicy(namespace: string, pod: string): boolean {
    return workloadFor(this.#opts.manifest, namespace, pod)?.metrics !== undefined;
  }

  /**
   * What `port` (from the request path) is to the metrics endpoint: `metrics` for no port
   * or the policy's scrape port, `other` for another port, and `unknown` for a port named
   * when the policy has no `scrape` target: the agent configuration names the port, which
   * only the agent knows (and checks).
   */
  metricsPort(namespace: string, pod: string, port: number | undefined): 'metrics' | 'other' | 'unknown' {
    if (port === undefined) return 'metrics';
    const target = workloadFor(this.#opts.manifest, namespace, pod)?.metrics?.scrape;
    if (target === undefined) return 'unknown';
    return target.port === port ? 'metrics' : 'other';
  }

  /**
   * The pod's scrubbed metrics in `format`. Rejects with SP_METRICS_NOT_CONFIGURED when
   * no policy covers the pod, the code that dropped the scrape, or a channel error;
   * SP_METRICS_SCRAPE_TIMEOUT past the pod deadline or `deadlineMs`, whichever is sooner.
   */
  async scrape(namespace: string, pod: string, format: ExpositionFormat, port: number | undefined, callerAuth: OutgoingHttpHeaders, knownAddress?: string, deadlineMs?: number): Promise<ScrubbedMetrics> {
    const { manifest, metrics } = this.#opts;
    try {
      const workload = workloadFor(manifest, namespace, pod);
      if (workload?.metrics === undefined) throw new ShadowplaneError('SP_METRICS_NOT_CONFIGURED', 'the workload of this pod has no metrics policy');
      if (this.metricsPort(namespace, pod, port) === 'other') throw new ShadowplaneError('SP_METRICS_NOT_CONFIGURED', 'that port is not the workload\'s metrics port');
      const podMs = Math.max(POD_TIMEOUT_MS, workload.metrics.limits.timeoutMs + AGENT_MARGIN_MS);
      const result = await withDeadline(Math.min(podMs, deadlineMs ?? Infinity), async (signal) => {
        const connection = await untilAborted(this.#opts.agents.connect(namespace, pod, callerAuth, knownAddress), signal);
        return connection.metrics({ format, port }, { policy: workload.metricsDocument, hashKey: this.#opts.hashKey }, { signal });
      });
      if (metrics !== undefined) recordScrub(metrics, 'ok', result.stats);
      return result;
    } catch (err) {
      const e = asShadowplaneError(err);
      if (metrics !== undefined && e.code !== 'SP_METRICS_NOT_CONFIGURED') recordScrub(metrics, e.code, droppedScrape());
      throw e;
    }
  }
}

function droppedScrape() {
  const stats = emptyScrubStats();
  stats.droppedScrapes = 1;
  return stats;
}

/**
 * `work`, or a rejection once `signal` aborts. Reaching an agent (attestation included)
 * has bounds of its own; this only stops waiting for it. The connection, if it comes,
 * stays with the agent pool for the next request.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ShadowplaneError('SP_METRICS_SCRAPE_TIMEOUT'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Runs `op` with a signal that aborts after `ms`; the deadline is SP_METRICS_SCRAPE_TIMEOUT. */
async function withDeadline<T>(ms: number, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await op(abort.signal);
  } catch (err) {
    if (abort.signal.aborted) throw new ShadowplaneError('SP_METRICS_SCRAPE_TIMEOUT', `the pod's agent did not answer within ${ms} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The port of `pods/NAME:PORT`: a number, or undefined when none was named. */
export function metricsPortOf(port: string | undefined): number | undefined {
  if (port === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) throw new ShadowplaneError('SP_BAD_REQUEST', 'the metrics port must be a number 1..65535');
  return Number(port);
}

/**
 * Serves the per-pod metrics endpoint. Throws a ShadowplaneError before any byte was sent.
 * Resolves once the answer is delivered or its response ended: the caller's request
 * counts against its bound (PodMetricsScraper.reserve) until then, its answer in memory
 * included.
 */
export async function servePodMetrics(
  scraper: PodMetricsScraper,
  req: AnyRequest,
  res: AnyResponse,
  target: { readonly namespace: string; readonly pod: string; readonly port: number | undefined; readonly callerAuth: OutgoingHttpHeaders },
  caller: MetricsCaller,
  logger: Logger,
): Promise<void> {
  // The scraper's deadline counts from here.
  const deadline = Date.now() + answerBudgetMs(req.headers, Infinity);
  if (req.method !== 'GET') throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics are read with GET');
  const accept = req.headers.accept;
  const { format, contentType } = negotiateFormat(Array.isArray(accept) ? accept.join(',') : accept);
  const release = scraper.reserve(caller);
  try {
    const { body, stats } = await scraper.scrape(target.namespace, target.pod, format, target.port, target.callerAuth, undefined, Math.max(1, deadline - Date.now()));
    const served = { format, bytes: body.length, keptSeries: stats.keptSeries, droppedSeries: stats.droppedSeries };
    const delivery = await sendMetricsBody(res, req.headers, contentType, body, scraper.maxWriteStallMs);
    logger.info({ ...served, delivery }, 'pod metrics served');
  } catch (err) {
    const e = asShadowplaneError(err);
    // The detail is the agent's fixed reason (a parse doubt's line number), never workload data.
    logger.info({ code: e.code, detail: e.detail }, 'pod metrics not served');
    throw err;
  } finally {
    release();
  }
}
