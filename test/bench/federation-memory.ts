/**
 * Federation memory benchmark: what one federation holds (live heap after GC) once its
 * pods' answers are parsed, merged and rendered, for worst-case answer shapes, against
 * what its budget counts (`heldBytesEstimate`, federate.ts) for them.
 *
 *   npx node test/bench/federation-memory.ts [MiB of answers per shape] [shape]
 *
 * The federation's budget (metrics-endpoints.ts `maxBytes`) is spent by estimate, not by
 * the answers' size on the wire: a compact answer expands many times when parsed, so
 * "peak/wire" shows how far a budget of wire bytes would be off, and "estimate/peak"
 * must stay above 1 (every shape counted at least at what it holds). Answers are 4 MiB
 * each (default total 16 MiB per shape), parsed as the proxy parses them, merged,
 * let go, rendered as OpenMetrics; each shape in a child process of its own, so that no
 * garbage of another shape blurs its numbers. Not a timed test: it prints numbers.
 *
 * Then, for the `typical` shape, how long a federation blocks the event loop: the same
 * parse, merge and rendering done on the main thread (as the proxy did before it used a
 * worker thread), against the longest gap of a 5 ms timer while FederationWorkers does it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { federate, heldBytesEstimate, type PodMetrics } from '../../src/metrics/federate.ts';
import { parseExposition } from '../../src/metrics/parse.ts';
import { serializeToBuffer } from '../../src/metrics/serialize.ts';
import { silentLogger } from '../../src/log.ts';
import { FederationWorkers } from '../../src/proxy/federation-worker.ts';
import { worstGapWhile } from '../support/event-loop.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const totalMiB = Number(process.argv[2] ?? 16);
const only = process.argv[3];
const ANSWER_BYTES = 4 * 1024 * 1024;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** One answer of about ANSWER_BYTES: `first` lines, then `line(k)` for k = 0, 1, … until it returns undefined or the answer is full. */
function answer(first: readonly string[], line: (k: number) => string | undefined): Buffer {
  const lines = [...first];
  let length = 0;
  for (let k = 0; length < ANSWER_BYTES - 4096; k++) {
    const l = line(k);
    if (l === undefined) break;
    lines.push(l);
    length += l.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n# EOF\n`);
}

const b36 = (k: number, width = 2): string => k.toString(36).padStart(width, '0');

/** Answer shapes: the parser's limits allow 250,000 samples and 10,000 families per answer. */
const SHAPES: Record<string, () => Buffer> = {
  typical: () =>
    answer(['# TYPE http_requests counter'], (k) =>
      k < 250_000 ? `http_requests_total{method="${['GET', 'POST'][k % 2]!}",handler="/api/v1/orders/${k % 50}",code="${[200, 404, 500][k % 3]!}",user="${b36(k, 16)}"} ${k}` : undefined,
    ),
  oneLabel: () => answer(['# TYPE m gauge'], (k) => (k < 250_000 ? `m{a="${b36(k)}"} 1` : undefined)),
  familyPerSample: () => answer([], (k) => (k < 10_000 ? `# TYPE m${b36(k)} gauge\nm${b36(k)} 1` : undefined)),
  emptyFamilies: () => answer([], (k) => (k < 10_000 ? `# TYPE m${b36(k)} gauge` : undefined)),
  manyOneCharLabels: () =>
    answer(['# TYPE m gauge'], (k) => (k < 250_000 ? `m{${LETTERS.split('').map((n, i) => `${n}="${i < 6 ? String(k).padStart(6, '0')[i]! : '0'}"`).join(',')}} 1` : undefined)),
  manyValues: () =>
    answer(['# TYPE m gauge'], (k) => (k < 250_000 ? `m{${LETTERS.slice(0, 16).split('').map((n, i) => `${n}="${b36((k + i) % 1296)}${i === 0 ? b36(k) : ''}"`).join(',')}} 1` : undefined)),
  // Label names that change from one sample to the next: no string is shared with the previous sample.
  distinctNames: () =>
    answer(['# TYPE m gauge'], (k) =>
      k < 250_000 ? `m{${Array.from({ length: 16 }, (_, i) => `${LETTERS[(k + i) % 26]!}${LETTERS[i]!}="${b36((k * 7 + i) % 1296)}"`).join(',')},z="${b36(k, 4)}"} 1` : undefined,
    ),
  // Values of 16 characters (as hashed ones are): slices that keep the decoded text alive.
  hashedValues: () =>
    answer(['# TYPE m gauge'], (k) => (k < 250_000 ? `m{u="${((k * 2654435761) >>> 0).toString(16).padStart(16, '0')}",v="${((k * 40503) >>> 0).toString(16).padStart(16, 'f')}"} 1` : undefined)),
  // One character outside Latin-1: the decoded text takes two bytes a character.
  twoByteText: () => answer(['# TYPE m gauge'], (k) => (k < 250_000 ? `m{a="🐢${b36(k, 4)}é"} 1` : undefined)),
  // A timestamp on every sample (a number object each) and, though agents send none, an exemplar on every counter total.
  timestampsAndExemplars: () => answer(['# TYPE c counter'], (k) => (k < 250_000 ? `c_total{a="${b36(k, 3)}"} 1 1.5 # {t="${b36(k % 1296)}"} 1 2.5` : undefined)),
  histogram: () =>
    answer(['# TYPE h histogram'], (s) => {
      if (s >= 2000) return undefined;
      const a = b36(s);
      const lines = Array.from({ length: 120 }, (_, b) => `h_bucket{a="${a}",le="${b}"} ${b}`);
      lines.push(`h_bucket{a="${a}",le="+Inf"} 119`, `h_sum{a="${a}"} 1`, `h_count{a="${a}"} 119`);
      return lines.join('\n');
    }),
};

const mib = (n: number): string => (n / 2 ** 20).toFixed(1);

if (only === undefined) {
  console.log(`Node ${process.version}, ${process.arch}; ${totalMiB} MiB of answers per shape`);
  console.log(['shape', 'pods', 'wire MiB', 'samples', 'wire B/sample', 'parsed MiB', '+merged MiB', 'merged+rendered MiB', 'peak/wire', 'estimate MiB', 'estimate/peak'].join('\t'));
  for (const shape of Object.keys(SHAPES)) {
    process.stdout.write(execFileSync(process.execPath, ['--max-old-space-size=8192', fileURLToPath(import.meta.url), String(totalMiB), shape], { encoding: 'utf8' }));
  }
  await blocking(SHAPES.typical!(), Math.max(1, Math.floor((totalMiB * 2 ** 20) / ANSWER_BYTES)));
} else {
  const make = SHAPES[only];
  if (make === undefined) throw new Error(`no shape ${only}: ${Object.keys(SHAPES).join(', ')}`);
  measure(only, make());
}

function measure(shape: string, body: Buffer): void {
  const pods = Math.max(1, Math.floor((totalMiB * 2 ** 20) / body.length));
  gc();
  gc();
  const base = process.memoryUsage();
  const live = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    // `external` includes the ArrayBuffers (Buffers) already.
    return m.heapUsed + m.external - (base.heapUsed + base.external);
  };
  const held: PodMetrics[] = [];
  let samples = 0;
  let estimate = 0;
  for (let p = 0; p < pods; p++) {
    const wire = Buffer.from(body); // each pod's answer is a buffer of its own
    const pod: PodMetrics = { namespace: 'payments', pod: `payments-api-7d9f8b6c5d-${String(p).padStart(5, '0')}`, families: parseExposition(wire, 'openmetrics').families };
    for (const f of pod.families) samples += f.samples.length;
    estimate += heldBytesEstimate(pod, wire.length);
    held.push(pod);
  }
  const parsed = live();
  const merged = federate(held);
  const mergedBytes = live();
  held.length = 0; // as the proxy does: the parsed answers go once merged
  const out = serializeToBuffer(merged.families, 'openmetrics');
  const rendered = live();
  const peak = Math.max(parsed, mergedBytes, rendered);
  const wireBytes = body.length * pods;
  // `merged` is held until here, as the proxy holds it until the answer is sent.
  if (merged.families.length === 0 && samples > 0) throw new Error('nothing merged');
  console.log(
    [shape, pods, mib(wireBytes), samples, samples === 0 ? '-' : (wireBytes / samples).toFixed(1), mib(parsed), mib(mergedBytes), `${mib(rendered)} (${mib(out.length)} out)`, (peak / wireBytes).toFixed(1), mib(estimate), (estimate / peak).toFixed(2)].join('\t'),
  );
}

/** Main-thread blocking of one federation of `pods` copies of `body`: inline, and through FederationWorkers. */
async function blocking(body: Buffer, pods: number): Promise<void> {
  const names = Array.from({ length: pods }, (_, p) => ({ namespace: 'payments', pod: `payments-api-7d9f8b6c5d-${String(p).padStart(5, '0')}` }));
  let t0 = performance.now();
  const parsed = names.map((n) => ({ ...n, families: parseExposition(Buffer.from(body), 'openmetrics').families }));
  const inline = serializeToBuffer(federate(parsed).families, 'openmetrics');
  const inlineMs = performance.now() - t0;
  parsed.length = 0;
  const workers = new FederationWorkers({ maxBytes: 1024 * 2 ** 20, logger: silentLogger() });
  t0 = performance.now();
  const { result: out, worstMs } = await worstGapWhile(async () => {
    const job = workers.job();
    await Promise.all(names.map((n, index) => job.add({ index, ...n }, Buffer.from(body))));
    return job.finish('openmetrics', []);
  });
  const workerMs = performance.now() - t0;
  await workers.close();
  if (!out.body.equals(inline)) throw new Error('the worker rendered other bytes');
  console.log(`\nevent-loop blocking, typical, ${pods} pods (${mib(body.length * pods)} MiB, ${mib(inline.length)} MiB out): inline ${inlineMs.toFixed(0)} ms blocked; worker thread ${workerMs.toFixed(0)} ms in all, longest event-loop gap ${worstMs.toFixed(0)} ms`);
}
