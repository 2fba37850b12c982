/**
 * A federation's parse, merge and rendering, run in a worker thread of its own
 * (federation-thread.ts) so that the proxy's event loop stays free: done on it, a
 * federation of 3 pods × 100,000 series stalled every exec, port-forward and watch of
 * every user for one to two seconds at each scrape.
 *
 * One worker per federation, started with its first answer and ended with it (the
 * endpoint bounds federations at once, so workers too), so that what a federation held
 * goes with its thread. The budget stays the endpoint's: answers are parsed one at a
 * time in the order they come, each under parse limits derived from what the ones
 * before it left (parseLimitsWithin, checked here before anything moves) and kept only
 * when its cost (heldBytesEstimate) fits, as when parsing ran on the event loop. The
 * worker's heap is capped besides, well above the budget, so that an estimate gone wrong
 * ends that worker (ERR_WORKER_OUT_OF_MEMORY), not the proxy.
 *
 * A worker that fails, exits, or takes longer than `stepTimeoutMs` for one step fails
 * its federation with SP_INTERNAL, logged by code; nothing it throws reaches the proxy.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { federate, parseLimitsWithin, withPodUp, type FederationResult, type PodUp } from '../metrics/federate.ts';
import type { ExpositionFormat } from '../metrics/model.ts';
import { serializeToBuffer } from '../metrics/serialize.ts';
import { forTransfer, type ThreadReply, type ThreadRequest } from './federation-protocol.ts';

/**
 * The thread's entry beside this module, with this module's own extension: `.ts` from
 * the sources, `.js` from dist/, `.mjs` in the image, whose bundle has it beside main.mjs
 * (scripts/build-image-runtime.ts).
 */
const THREAD_URL = new URL(`./federation-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface FederationWorkersOptions {
  /** Most bytes one federation holds, as heldBytesEstimate counts them. */
  readonly maxBytes: number;
  /** Longest one step (parsing one answer; merging and rendering) may take before its worker is ended. Default 60 s. */
  readonly stepTimeoutMs?: number;
  /** The thread's entry module. Default federation-thread beside this module. */
  readonly thread?: URL;
  readonly logger: Logger;
}

export interface FederationOutput {
  readonly body: Buffer;
  readonly stats: FederationResult['stats'];
}

/** The workers of the federations running; close() ends them all. */
export class FederationWorkers {
  readonly #opts: FederationWorkersOptions;
  readonly #live = new Set<FederationJob>();
  #closed = false;

  constructor(opts: FederationWorkersOptions) {
    this.#opts = opts;
  }

  /** A new federation's job; its worker starts with its first answer. */
  job(): FederationJob {
    if (this.#closed) throw new ShadowplaneError('SP_CONFIDENTIAL_NOT_SERVED', 'the proxy is closing');
    const job = new FederationJob(this.#opts, () => this.#live.delete(job));
    this.#live.add(job);
    return job;
  }

  /** Ends every worker; federations still running fail with SP_INTERNAL. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#live].map((j) => j.end()));
  }
}

interface Pending {
  readonly resolve: (reply: ThreadReply & { ok: true }) => void;
  readonly reject: (err: ShadowplaneError) => void;
  readonly timer: NodeJS.Timeout;
}

/** One federation: its answers in, its rendering out, through its own worker. */
export class FederationJob {
  readonly #opts: FederationWorkersOptions;
  readonly #onEnd: () => void;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #nextId = 0;
  /** The previous add()'s end: answers are parsed one at a time, in call order. */
  #turn: Promise<void> = Promise.resolve();
  /** What the kept answers cost (heldBytesEstimate). */
  #held = 0;
  #failure: ShadowplaneError | undefined;
  #ended = false;

  constructor(opts: FederationWorkersOptions, onEnd: () => void) {
    this.#opts = opts;
    this.#onEnd = onEnd;
  }

  /**
   * Parses pod `target.index`'s answer in the worker and keeps it when it fits what is
   * left of the budget; rejects with the code that left it out. Takes `body` over: its
   * memory moves to the worker, leaving it empty.
   */
  add(target: { readonly index: number; readonly namespace: string; readonly pod: string }, body: Buffer): Promise<void> {
    const run = this.#turn.then(() => this.#parse(target, body));
    this.#turn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Resolves once every answer added so far is kept or left out. */
  settled(): Promise<void> {
    return this.#turn;
  }

  /**
   * Merges the kept answers (in index order) once every added one settled, and renders
   * them with `podsUp` (withPodUp).
   */
  async finish(format: ExpositionFormat, podsUp: readonly PodUp[]): Promise<FederationOutput> {
    await this.#turn;
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#worker === undefined) {
      // Nothing reached a worker: nothing to merge, only a line per pod to render.
      const merged = federate([]);
      return { body: serializeToBuffer(withPodUp(merged.families, podsUp), format), stats: merged.stats };
    }
    const reply = await this.#request({ op: 'finish', id: this.#nextId++, format, podsUp });
    if (!('body' in reply)) throw this.#fail('protocol');
    return { body: Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength), stats: reply.stats };
  }

  /** Ends the worker (what it held goes with it); idempotent. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#onEnd();
    this.#rejectAll(new ShadowplaneError('SP_INTERNAL', 'the federation ended'));
    const worker = this.#worker;
    if (worker !== undefined) await worker.terminate().then(() => undefined, () => undefined);
  }

  async #parse(target: { readonly index: number; readonly namespace: string; readonly pod: string }, body: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    // The limits hold before anything is parsed, or even moved: an answer that could not
    // be kept never reaches the worker.
    const left = this.#opts.maxBytes - this.#held;
    const limits = parseLimitsWithin(left, target);
    if (limits === undefined || body.length > (limits.maxBytes ?? 0)) throw new ShadowplaneError('SP_METRICS_TOO_LARGE', 'the federation is at its size limit');
    const { bytes, transfer } = forTransfer(body);
    const reply = await this.#request({ op: 'parse', id: this.#nextId++, index: target.index, namespace: target.namespace, pod: target.pod, body: bytes, limits, left }, transfer);
    if (!('cost' in reply)) throw this.#fail('protocol');
    this.#held += reply.cost;
  }

  #request(request: ThreadRequest, transfer: ArrayBuffer[] = []): Promise<ThreadReply & { ok: true }> {
    if (this.#ended) return Promise.reject(new ShadowplaneError('SP_INTERNAL', 'the federation ended'));
    const worker = this.#worker ?? this.#start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail('timeout'), this.#opts.stepTimeoutMs ?? 60_000);
      this.#pending.set(request.id, { resolve, reject, timer });
      worker.postMessage(request, transfer);
    });
  }

  #start(): Worker {
    const mib = 2 ** 20;
    const worker = new Worker(this.#opts.thread ?? THREAD_URL, {
      name: 'shadowplane-federation',
      // Twice the budget and room for the thread itself: reached only if heldBytesEstimate is wrong.
      resourceLimits: { maxOldGenerationSizeMb: Math.ceil((2 * this.#opts.maxBytes) / mib) + 64 },
    });
    this.#worker = worker;
    worker.on('message', (reply: ThreadReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new ShadowplaneError(reply.code, reply.detail));
    });
    worker.on('messageerror', () => this.#fail('messageerror'));
    worker.on('error', (err: Error & { code?: unknown }) => this.#fail(typeof err.code === 'string' ? err.code : 'error'));
    worker.on('exit', () => this.#fail('exit'));
    return worker;
  }

  /**
   * The worker failed: its federation fails with SP_INTERNAL, logged with a fixed reason
   * or Node's error code (never the error's message, which could quote what it parsed).
   */
  #fail(reason: string): ShadowplaneError {
    if (this.#ended || this.#failure !== undefined) return this.#failure ?? new ShadowplaneError('SP_INTERNAL', 'the federation ended');
    const failure = new ShadowplaneError('SP_INTERNAL', 'the federation worker failed');
    this.#failure = failure;
    this.#opts.logger.warn({ code: failure.code, reason }, 'federation worker failed');
    this.#rejectAll(failure);
    void this.#worker?.terminate().then(() => undefined, () => undefined);
    return failure;
  }

  #rejectAll(err: ShadowplaneError): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}
