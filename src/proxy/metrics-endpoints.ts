/**
 * shadowplane's metrics endpoints for scrapers and users with the `metrics` verb:
 *
 * - `GET /.well-known/shadowplane/federate`: the scrubbed metrics of every confidential
 *   pod the caller may read, in one exposition with `namespace` and `pod` labels. Pods
 *   come from the pod directory (the API server's word, address only); each pod's agent
 *   is attested before anything is asked of it. Pods are fetched with bounded
 *   concurrency, each under its own deadline, and the whole under an overall deadline; a
 *   pod that fails is left out and counted (its raw data never exists outside its TEE).
 * - `GET /.well-known/shadowplane/metrics`: shadowplane's own metrics (no workload data).
 *
 * Both answer in the format the Accept header prefers (text 0.0.4 or OpenMetrics 1.0).
 */
import type { Manifest } from '../config/manifest.ts';
import { isConfidentialPod } from '../config/scope.ts';
import { ShadowplaneError, asShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { negotiateFormat } from '../metrics/content-type.ts';
import type { ShadowplaneMetrics } from '../metrics/self.ts';
import type { PodMetricsScraper } from './confidential/pod-metrics.ts';
import { FederationWorkers, type FederationJob } from './federation-worker.ts';
import { isScraper, mayReadMetrics, upstreamAuthOf, type MetricsCaller } from './confidential/scrapers.ts';
import type { AnyRequest } from './request.ts';
import { answerBudgetMs, sendMetricsBody } from './metrics-response.ts';
import type { AnyResponse } from './respond.ts';
import { MAX_WRITE_STALL_MS } from './write-stall.ts';

export type MetricsEndpointHandler = (req: AnyRequest, res: AnyResponse, caller: MetricsCaller) => Promise<void>;

export interface MetricsEndpoints {
  readonly federate: MetricsEndpointHandler;
  readonly metrics: MetricsEndpointHandler;
  /** Ends the federations' worker threads (those running fail). */
  close(): Promise<void>;
}

export interface MetricsEndpointsOptions {
  readonly manifest: Manifest;
  /** The pods' metrics source, once the confidential service exists. */
  readonly podMetrics: () => PodMetricsScraper | undefined;
  readonly metrics: ShadowplaneMetrics;
  /** Pods fetched at once. Default 8. */
  readonly concurrency?: number;
  /** No pod is started after this long; those left are skipped. Default 20 s. */
  readonly deadlineMs?: number;
  /** Most pods one federation answers for. Default 10,000. */
  readonly maxPods?: number;
  /**
   * Most bytes one federation holds: its pods' parsed answers, merged and rendered, as
   * estimated from above by heldBytesEstimate (federate.ts); pods past it are left out
   * (SP_METRICS_TOO_LARGE). Default 256 MiB: about 230,000 samples of 100 bytes with
   * four labels (counted about 1.1 KiB each), 430,000 one-label ones of 14 bytes.
   */
  readonly maxBytes?: number;
  /**
   * Federations served at once, each from its start until its answer is delivered or its
   * response ended; more are refused with SP_METRICS_BUSY. Default 2.
   */
  readonly maxConcurrent?: number;
  /**
   * A response (federation or shadowplane's own metrics) whose client takes none of it for
   * this long is ended, and its body let go (watchWriteStall). Default MAX_WRITE_STALL_MS (30 s).
   */
  readonly maxWriteStallMs?: number;
  /** Longest one step of a federation's worker thread may take (federation-worker.ts). Default 60 s. */
  readonly workerStepTimeoutMs?: number;
  readonly logger: Logger;
}

/** A federation's rendered answer, and what its log line says of it (counts only, never its content). */
interface FederationAnswer {
  readonly contentType: string;
  readonly body: Buffer;
  readonly summary: { readonly pods: number; readonly failed: number; readonly skipped: number; readonly conflictingFamilies: number };
}

export function createMetricsEndpoints(opts: MetricsEndpointsOptions): MetricsEndpoints {
  const { manifest, logger } = opts;
  let running = 0;
  const maxWriteStallMs = opts.maxWriteStallMs ?? MAX_WRITE_STALL_MS;
  const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
  // Parsing, merging and rendering run off the event loop, in a worker per federation.
  const workers = new FederationWorkers({ maxBytes, logger, ...(opts.workerStepTimeoutMs === undefined ? {} : { stepTimeoutMs: opts.workerStepTimeoutMs }) });

  return {
    metrics: serveSelfMetrics,
    close: () => workers.close(),
    async federate(req, res, caller) {
      // Each federation asks every pod the caller may read: a few at once, the rest refused.
      if (running >= (opts.maxConcurrent ?? 2)) throw new ShadowplaneError('SP_METRICS_BUSY', 'too many federations at once');
      // The slot is held until the answer is delivered or its response ended: a body the
      // client does not read is memory held as surely as the federation that made it, for
      // at most the stall bound (sendMetricsBody).
      running++;
      try {
        const { contentType, body, summary } = await federation(req, caller);
        // Nothing here refers to the body once it is handed over: sendMetricsBody lets it go
        // (for its compressed copy) and the log says its size.
        const bytes = body.length;
        const delivery = await sendMetricsBody(res, req.headers, contentType, body, maxWriteStallMs);
        logger.info({ ...summary, bytes, delivery }, 'federation served');
      } finally {
        running--;
      }
    },
  };

  /** A federation's answer, made by its own worker thread, which starts with its first answer and ends with it, whatever happens. */
  async function federation(req: AnyRequest, caller: MetricsCaller): Promise<FederationAnswer> {
    const job = workers.job();
    try {
      return await federateOnce(req, caller, job);
    } finally {
      await job.end();
    }
  }

  async function federateOnce(req: AnyRequest, caller: MetricsCaller, job: FederationJob): Promise<FederationAnswer> {
    // Within the scraper's own scrape timeout when it announced one, else deadlineMs,
    // counted from here: listing the pods takes from it too.
    const deadline = Date.now() + answerBudgetMs(req.headers, opts.deadlineMs ?? 20_000);
    if (req.method !== 'GET') throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics are read with GET');
    const namespaces = manifest.confidential.map((c) => c.namespace).filter((ns) => mayReadMetrics(manifest, caller, ns));
    if (namespaces.length === 0) throw new ShadowplaneError('SP_FORBIDDEN', 'no namespace whose metrics this caller may read');
    const { format, contentType } = negotiateFormat(acceptOf(req));
    const source = opts.podMetrics();
    if (source === undefined) throw new ShadowplaneError('SP_CONFIDENTIAL_NOT_SERVED', 'confidential pods are not served yet');
    const callerAuth = upstreamAuthOf(manifest, req.headers, caller);

    const targets: { namespace: string; pod: string; ip: string }[] = [];
    for (const namespace of namespaces) {
      for (const p of await source.agents.pods.list(namespace, callerAuth)) {
        if (isConfidentialPod(manifest, namespace, p.name) && source.hasPolicy(namespace, p.name)) targets.push({ namespace, pod: p.name, ip: p.ip });
      }
    }
    const maxPods = opts.maxPods ?? 10_000;
    if (targets.length > maxPods) throw new ShadowplaneError('SP_METRICS_TOO_LARGE', `more than ${maxPods} pods to federate`);
    targets.sort((a, b) => (a.namespace === b.namespace ? (a.pod < b.pod ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));

    const kept: boolean[] = targets.map(() => false);
    let next = 0;
    let failed = 0;
    let answered = false;
    const worker = async (): Promise<void> => {
      while (next < targets.length && Date.now() < deadline) {
        const i = next++;
        const t = targets[i]!;
        let added = false;
        try {
          // OpenMetrics from the agents keeps what the text format cannot (units, counter semantics).
          const scraped = await source.scrape(t.namespace, t.pod, 'openmetrics', undefined, callerAuth, t.ip, Math.max(1, deadline - Date.now()));
          if (answered) continue;
          // What one federation holds is bounded, counted as what the parsed answers cost
          // (heldBytesEstimate: a compact answer expands many times when parsed), not as
          // their bytes: pods past the budget are left out. The parse itself, in the
          // federation's worker thread, stops at limits derived from what is left, before
          // it builds what could not be kept (FederationJob.add).
          added = true;
          await job.add({ index: i, namespace: t.namespace, pod: t.pod }, scraped.body);
          kept[i] = true;
        } catch (err) {
          if (!answered || added) failed++;
          const e = asShadowplaneError(err);
          logger.info({ namespace: t.namespace, pod: t.pod, code: e.code, detail: e.detail }, 'pod left out of the federation');
        }
      }
    };
    // Each pod's scrape, reaching its agent included, ends at the deadline; the answer
    // goes out then in any case, with the pods answered by then.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, targets.length) }, worker)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 50))),
    ]);
    clearTimeout(timer);
    answered = true;
    // Answers that came before the deadline are still parsed, in the order they came.
    await job.settled();
    // One shadowplane_federation_pod_up series per target, so that a missing pod has a name.
    const podsUp = targets.map((t, i) => ({ namespace: t.namespace, pod: t.pod, up: kept[i] === true }));
    // Pods the deadline left unasked are counted like pods that timed out; a pod asked in
    // time counts its own outcome (PodMetricsScraper.scrape), whenever it comes.
    const skipped = targets.length - next;
    if (skipped > 0) opts.metrics.scrapes.inc({ code: 'SP_METRICS_SCRAPE_TIMEOUT' }, skipped);
    const { body, stats } = await job.finish(format, podsUp);
    return { contentType, body, summary: { pods: targets.length, failed, skipped, conflictingFamilies: stats.conflictingFamilies } };
  }

  async function serveSelfMetrics(req: AnyRequest, res: AnyResponse, caller: MetricsCaller): Promise<void> {
    if (req.method !== 'GET') throw new ShadowplaneError('SP_BAD_REQUEST', 'metrics are read with GET');
    const allowed = isScraper(caller) || manifest.confidential.some((c) => mayReadMetrics(manifest, caller, c.namespace));
    if (!allowed) throw new ShadowplaneError('SP_FORBIDDEN', 'shadowplane metrics need the metrics verb');
    const { format, contentType } = negotiateFormat(acceptOf(req));
    await sendMetricsBody(res, req.headers, contentType, Buffer.from(opts.metrics.registry.serialize(format), 'utf8'), maxWriteStallMs);
  }
}

function acceptOf(req: AnyRequest): string | undefined {
  const accept = req.headers.accept;
  return Array.isArray(accept) ? accept.join(',') : accept;
}
