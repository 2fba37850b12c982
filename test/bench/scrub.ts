/**
 * Scrub benchmark (issue 5): 100,000 series (counters with a per-user label, histograms
 * with a per-tenant label, gauges, one family the policy does not allow; about 10 MiB of
 * text format), every number measured in this run.
 *
 *   npx node test/bench/scrub.ts [series] [runs per round] [rounds] [warm-ups]
 *
 * The aim: "100,000 series in ≤ 150 ms with bounded memory, against parse-and-reserialise
 * without scrubbing as the baseline, in the same run". It is applied to the whole scrub
 * pipeline as the agent runs it for one scrape (parse + scrub + serialize to bytes,
 * scrubScrapeToBuffer: for this body its fast lane, src/metrics/scrub-text-lane.ts, which
 * the run checks took it), on a pod's first scrape, whose hasher is fresh (every value to
 * hash is an HMAC; later scrapes find most in the hasher's cache): the row marked
 * "<- aim". The same with OpenMetrics out (what Prometheus and federation ask for), and
 * with the same exposition served as OpenMetrics (as workloads that speak it answer the
 * agent). The other rows are the general path (scrubScrape + serializeToBuffer, and its steps), which
 * bodies outside the lane take.
 *
 * Each pipeline runs in child processes of its own (so RSS belongs to it), in
 * `rounds` rounds that interleave the pipelines (so a change of load on the machine
 * spreads over all of them); each round warms up (4 runs by default, so that the JIT has
 * compiled the hot paths as in an agent that has scraped for a minute), then runs `runs` times. Printed
 * per pipeline: median and minimum wall time, median CPU time (user + system, GC threads
 * included), the memory one result retains (heap growth plus a result buffer), and RSS
 * after setup, at its peak, and the growth between. "Series" counts sample lines (each
 * histogram bucket is one, as Prometheus counts them). Not a timed test: it prints numbers.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLabelHasher } from '../../src/metrics/hash.ts';
import { parseExposition, decodeBody } from '../../src/metrics/parse.ts';
import { ExpositionBuilder, type SampleSink } from '../../src/metrics/parse-families.ts';
import { resolveParseLimits } from '../../src/metrics/parse-limits.ts';
import { parseTextInto } from '../../src/metrics/parse-text.ts';
import { type ScrubPolicy, parseScrubPolicy } from '../../src/metrics/policy.ts';
import { scrubScrapeToBuffer } from '../../src/metrics/scrub-pipeline.ts';
import { scrubTextLane } from '../../src/metrics/scrub-text-lane.ts';
import { scrub, scrubScrape } from '../../src/metrics/scrub.ts';
import { serializeToBuffer } from '../../src/metrics/serialize.ts';

const TEXT = 'text/plain; version=0.0.4';
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';
const AIM_MS = 150;
const AIM_SERIES = 100_000;

const PIPELINES = [
  ['baseline', 'baseline: parse + serialize, no scrub'],
  ['fused', 'scrub pipeline, first scrape (fresh hasher)  <- aim'],
  ['fused-warm', 'scrub pipeline, later scrapes (hasher reused)'],
  ['fused-om', 'same, OpenMetrics out, first scrape'],
  ['fused-om-warm', 'same, OpenMetrics out, later scrapes'],
  ['fused-om-in', 'same, OpenMetrics in and out, first scrape'],
  ['composed', 'scrubScrape + serializeToBuffer, fresh hasher'],
  ['composed-warm', 'scrubScrape + serializeToBuffer, reused'],
  ['parse', '  parse to the model (parseExposition)'],
  ['parse-check', '  parse, checks only (no model)'],
  ['scrub-only', '  scrub the model, fresh hasher'],
  ['scrub-only-warm', '  scrub the model, hasher reused'],
  ['serialize', '  serialize the scrubbed result (text)'],
  ['serialize-om', '  serialize the scrubbed result (OpenMetrics)'],
] as const;
type Pipeline = (typeof PIPELINES)[number][0];

interface Measurement {
  wall: number[];
  cpu: number[];
  /** Minor page faults per run: fresh memory the kernel had to map. */
  faults: number[];
  retainedMiB: number;
  setupRssMiB: number;
  peakRssMiB: number;
}

interface Check {
  lines: number;
  bodyMiB: number;
  outputMiB: number;
  stats: string;
  sameBytes: boolean;
  lane: string;
}

/** A deterministic exposition of `target` sample lines in the text format. */
function buildExposition(target: number): { body: Buffer; lines: number } {
  const methods = ['GET', 'POST', 'PUT', 'DELETE'];
  const codes = ['200', '201', '400', '404', '500'];
  const handlers = Array.from({ length: 25 }, (_, i) => `/api/v1/resource${i}/items`);
  const parts: string[] = [];
  let lines = 0;
  // 40%: counters with a per-user label (hashed) and an instance label (dropped).
  parts.push('# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n');
  const counterSeries = Math.floor(target * 0.4);
  for (let i = 0; i < counterSeries; i++) {
    parts.push(
      `http_requests_total{method="${methods[i % 4]}",code="${codes[(i >> 2) % 5]}",handler="${handlers[(i >> 4) % 25]}",user_id="user-${i}",instance_id="i-0abc${i % 7}"} ${i * 3}\n`,
    );
    lines++;
  }
  // 40%: histogram lines (13 per series) with a per-tenant label (hashed).
  parts.push('# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n');
  const bounds = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '10', '+Inf'];
  const histograms = Math.floor((target * 0.4) / 13);
  for (let h = 0; h < histograms; h++) {
    const labels = `method="${methods[h % 4]}",handler="${handlers[(h >> 2) % 25]}",tenant="tenant-${h}"`;
    let cumulative = 0;
    for (const le of bounds) {
      cumulative += h % 5;
      parts.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}\n`);
      lines++;
    }
    parts.push(`http_request_duration_seconds_sum{${labels}} ${cumulative * 0.042}\nhttp_request_duration_seconds_count{${labels}} ${cumulative}\n`);
    lines += 2;
  }
  // The rest: an allowed gauge, and a family the policy does not allow.
  parts.push('# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n');
  const gauges = target - lines;
  for (let i = 0; i < Math.floor(gauges / 2); i++) {
    parts.push(`queue_depth{queue="q${i % 50}",tenant="tenant-${i}"} ${i % 100}\n`);
    lines++;
  }
  parts.push('# HELP secret_business_total Not for export.\n# TYPE secret_business_total counter\n');
  while (lines < target) {
    parts.push(`secret_business_total{customer="customer-${lines}"} ${lines}\n`);
    lines++;
  }
  return { body: Buffer.from(parts.join('')), lines };
}

/** Takes every sample and keeps nothing: the parser's checks alone. */
const DISCARD: SampleSink = { sample() {}, familyDone() {} };

function benchPolicy(): ScrubPolicy {
  return parseScrubPolicy(
    {
      families: [
        { name: 'http_requests_total', labels: { method: 'keep', code: 'keep', handler: 'keep', user_id: 'hash' } },
        { name: 'http_request_duration_seconds', labels: { method: 'keep', handler: 'keep', tenant: 'hash' } },
        { name: 'queue_*', labels: { queue: 'keep', tenant: 'hash' } },
      ],
      maxSeriesPerFamily: 1_000_000,
      maxSeries: 1_000_000,
    },
    'bench.metrics',
  );
}

const mib = (n: number): number => n / 1024 / 1024;

function child(pipeline: Pipeline, targetSeries: number, runs: number, warmups: number): Measurement {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const policy = benchPolicy();
  const key = randomBytes(32);
  const { body } = buildExposition(targetSeries);
  const limits = { maxSeries: Math.max(250_000, targetSeries * 2), maxBytes: Math.max(10 * 1024 * 1024, body.length) };
  const resolved = resolveParseLimits(limits);
  // The reused hasher learns this scrape's values in the warm-up runs, as on a pod's later scrapes.
  const warm = createLabelHasher(key, policy.hashLength);
  const fresh = () => createLabelHasher(key, policy.hashLength);
  const parsed = pipeline === 'scrub-only' || pipeline === 'scrub-only-warm' ? parseExposition(body, 'text', limits) : undefined;
  const scrubbed = pipeline === 'serialize' || pipeline === 'serialize-om' ? scrub(parseExposition(body, 'text', limits), policy, key).families : undefined;

  // The same exposition as OpenMetrics, as a workload that answers the agent's preference would serve it.
  const omBody = pipeline === 'fused-om-in' ? serializeToBuffer(parseExposition(body, 'text', limits).families, 'openmetrics') : undefined;
  const fusedBody = (hasher: ReturnType<typeof fresh>, format: 'text' | 'openmetrics' = 'text'): Buffer => {
    const outcome = scrubScrapeToBuffer(body, TEXT, policy, hasher, format, limits);
    if (!outcome.ok) throw new Error(outcome.code);
    return outcome.body;
  };
  const composedBody = (hasher: ReturnType<typeof fresh>): Buffer => {
    const outcome = scrubScrape(body, TEXT, policy, hasher, limits);
    if (!outcome.ok) throw new Error(outcome.code);
    return serializeToBuffer(outcome.families, 'text');
  };
  const run = (): unknown => {
    switch (pipeline) {
      case 'baseline':
        return serializeToBuffer(parseExposition(body, 'text', limits).families, 'text');
      case 'fused':
        return fusedBody(fresh());
      case 'fused-warm':
        return fusedBody(warm);
      case 'fused-om':
        return fusedBody(fresh(), 'openmetrics');
      case 'fused-om-warm':
        return fusedBody(warm, 'openmetrics');
      case 'fused-om-in': {
        const outcome = scrubScrapeToBuffer(omBody!, OPENMETRICS, policy, fresh(), 'openmetrics', limits);
        if (!outcome.ok) throw new Error(outcome.code);
        return outcome.body;
      }
      case 'composed':
        return composedBody(fresh());
      case 'composed-warm':
        return composedBody(warm);
      case 'parse':
        return parseExposition(body, 'text', limits);
      case 'parse-check': {
        const builder = new ExpositionBuilder(false, resolved, DISCARD);
        parseTextInto(decodeBody(body, resolved), resolved, builder);
        return builder;
      }
      case 'scrub-only':
        return scrub(parsed!, policy, fresh());
      case 'scrub-only-warm':
        return scrub(parsed!, policy, warm);
      case 'serialize':
        return serializeToBuffer(scrubbed!, 'text');
      case 'serialize-om':
        return serializeToBuffer(scrubbed!, 'openmetrics');
    }
  };
  gc();
  const setupRss = process.memoryUsage().rss;
  for (let i = 0; i < warmups; i++) run();
  const wall: number[] = [];
  const cpu: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i < runs; i++) {
    gc();
    const f0 = process.resourceUsage().minorPageFault;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    faults.push(process.resourceUsage().minorPageFault - f0);
  }
  gc();
  // Heap growth, plus the backing store of a Buffer result (external memory is freed
  // lazily, so its process-wide counter says little about one result).
  const before = process.memoryUsage().heapUsed;
  const held = run();
  gc();
  const retained = process.memoryUsage().heapUsed - before + (Buffer.isBuffer(held) ? held.buffer.byteLength : 0);
  if (held === undefined) throw new Error('no result');
  return { wall, cpu, faults, retainedMiB: mib(retained), setupRssMiB: mib(setupRss), peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** Once per benchmark, in a process of its own: the input, what the scrub does, and that both paths agree. */
function check(targetSeries: number): Check {
  const policy = benchPolicy();
  const { body, lines } = buildExposition(targetSeries);
  const limits = { maxSeries: Math.max(250_000, targetSeries * 2), maxBytes: Math.max(10 * 1024 * 1024, body.length) };
  const key = randomBytes(32);
  const composed = scrubScrape(body, TEXT, policy, key, limits);
  if (!composed.ok) throw new Error(`the benchmark exposition was refused: ${composed.code}`);
  const composedBytes = serializeToBuffer(composed.families, 'text');
  const fused = scrubScrapeToBuffer(body, TEXT, policy, key, 'text', limits);
  const fusedOm = scrubScrapeToBuffer(body, TEXT, policy, key, 'openmetrics', limits);
  const composedOm = serializeToBuffer(composed.families, 'openmetrics');
  const resolved = resolveParseLimits(limits);
  const omBody = serializeToBuffer(parseExposition(body, 'text', limits).families, 'openmetrics');
  const laneTakes = (format: 'text' | 'openmetrics', input: 'text' | 'openmetrics' = 'text'): boolean =>
    scrubTextLane(input === 'text' ? body : omBody, resolved, policy, createLabelHasher(key, policy.hashLength), format, input) !== undefined;
  const stats = composed.stats;
  return {
    lines,
    bodyMiB: mib(body.length),
    outputMiB: mib(composedBytes.length),
    stats:
      `kept ${stats.keptSamples} samples in ${stats.keptSeries} series; dropped ${stats.droppedSeries} series ` +
      `(${stats.droppedFamilies} family not allowed, ${stats.droppedSeriesCollision} by collision); ${stats.hashedValues} values hashed, ${stats.droppedLabels} labels dropped`,
    sameBytes:
      fused.ok &&
      Buffer.compare(fused.body, composedBytes) === 0 &&
      JSON.stringify(fused.stats) === JSON.stringify(stats) &&
      fusedOm.ok &&
      Buffer.compare(fusedOm.body, composedOm) === 0 &&
      JSON.stringify(fusedOm.stats) === JSON.stringify(stats),
    lane:
      `${laneTakes('text') ? 'took' : 'GAVE UP on'} it for text out, ${laneTakes('openmetrics') ? 'took' : 'GAVE UP on'} it for OpenMetrics out, ` +
      `${laneTakes('openmetrics', 'openmetrics') ? 'took' : 'GAVE UP on'} it served as OpenMetrics`,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function main(): void {
  const args = process.argv.slice(2);
  const targetSeries = Number(args[0] ?? 100_000);
  const runs = Number(args[1] ?? 5);
  const rounds = Number(args[2] ?? 3);
  // At least one: the reused hasher learns the values in the warm-ups.
  const warmups = Math.max(1, Number(args[3] ?? 4));
  const self = fileURLToPath(import.meta.url);
  const first = JSON.parse(execFileSync(process.execPath, [...process.execArgv, self, '--check', String(targetSeries)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as Check;
  const collected = new Map<Pipeline, Measurement[]>(PIPELINES.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name] of PIPELINES) {
      const out = execFileSync(process.execPath, [...process.execArgv, self, '--child', name, String(targetSeries), String(runs), String(warmups)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      collected.get(name)!.push(JSON.parse(out) as Measurement);
    }
  }
  const results = PIPELINES.map(([name, label]) => {
    const ms = collected.get(name)!;
    return {
      name,
      label,
      wallMedian: median(ms.flatMap((m) => m.wall)),
      wallMin: Math.min(...ms.flatMap((m) => m.wall)),
      cpuMedian: median(ms.flatMap((m) => m.cpu)),
      cpuMin: Math.min(...ms.flatMap((m) => m.cpu)),
      faults: median(ms.flatMap((m) => m.faults)),
      retainedMiB: median(ms.map((m) => m.retainedMiB)),
      setupRssMiB: median(ms.map((m) => m.setupRssMiB)),
      peakRssMiB: Math.max(...ms.map((m) => m.peakRssMiB)),
      growthMiB: Math.max(...ms.map((m) => m.peakRssMiB - m.setupRssMiB)),
    };
  });
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  const sameBytes = first.sameBytes;
  process.stdout.write(
    `input: ${first.lines} series, ${first.bodyMiB.toFixed(1)} MiB text; scrubbed output ${first.outputMiB.toFixed(1)} MiB; ` +
      `${rounds} interleaved rounds x ${runs} runs per pipeline after ${warmups} warm-ups; Node ${process.version}; load average at the end ${load} ` +
      `(wall times are only meaningful on an idle machine; CPU medians include GC threads)\n` +
      `scrub: ${first.stats}\nfused output and statistics (text and OpenMetrics out) equal scrubScrape + serializeToBuffer's: ${sameBytes ? 'yes' : 'NO'}\n` +
      `fast lane (src/metrics/scrub-text-lane.ts): ${first.lane}\n\n`,
  );
  const header = ['pipeline', 'wall median ms', 'wall min ms', 'cpu median ms', 'cpu min ms', 'page faults', 'retained MiB', 'rss setup MiB', 'rss peak MiB', 'rss growth MiB'];
  const rows = results.map((r) => [
    r.label,
    r.wallMedian.toFixed(1),
    r.wallMin.toFixed(1),
    r.cpuMedian.toFixed(1),
    r.cpuMin.toFixed(1),
    r.faults.toFixed(0),
    r.retainedMiB.toFixed(1),
    r.setupRssMiB.toFixed(0),
    r.peakRssMiB.toFixed(0),
    r.growthMiB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  process.stdout.write(`${fmt(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(fmt).join('\n')}\n`);
  const get = (name: Pipeline) => results.find((r) => r.name === name)!;
  const aim = get('fused');
  const warm = get('fused-warm');
  const base = get('baseline');
  const verdict = (ms: number) =>
    targetSeries !== AIM_SERIES
      ? `${ms.toFixed(0)} ms`
      : ms <= AIM_MS
        ? `met (${ms.toFixed(0)} ms)`
        : `NOT met (${ms.toFixed(0)} ms, ${(ms - AIM_MS).toFixed(0)} ms or ${((ms / AIM_MS - 1) * 100).toFixed(0)} % over)`;
  const aimLine =
    targetSeries === AIM_SERIES
      ? `\nAim (issue 5): 100,000 series in <= ${AIM_MS} ms, applied to the whole scrub pipeline of one scrape, first scrape (wall median): ${verdict(aim.wallMedian)}.\n`
      : `\nAim (issue 5) not checked: it is for 100,000 series, this run had ${targetSeries.toLocaleString('en')}. Pipeline, first scrape: ${aim.wallMedian.toFixed(0)} ms.\n`;
  process.stdout.write(
    aimLine +
      `  later scrapes (hasher reused): ${verdict(warm.wallMedian)}; ` +
      `baseline (parse + serialize, no scrub) ${base.wallMedian.toFixed(0)} ms, so scrubbing adds ${(aim.wallMedian - base.wallMedian).toFixed(0)} ms ` +
      `(${(warm.wallMedian - base.wallMedian).toFixed(0)} ms reused); pipeline / baseline ${(aim.wallMedian / base.wallMedian).toFixed(2)}x.\n` +
      `  memory: the pipeline's RSS grows by at most ${aim.growthMiB.toFixed(0)} MiB over setup for a ${first.bodyMiB.toFixed(1)} MiB body ` +
      `(baseline ${base.growthMiB.toFixed(0)} MiB); the body size is capped by the parse limits (10 MiB by default).\n` +
      `  this machine: the pipeline's CPU time is ${aim.cpuMin.toFixed(0)} ms at best and ${aim.cpuMedian.toFixed(0)} ms at the median ` +
      `(wall median / CPU minimum ${(aim.wallMedian / aim.cpuMin).toFixed(2)}); each run maps ~${aim.faults.toFixed(0)} fresh pages ` +
      `(${((aim.faults * 4096) / 1024 / 1024).toFixed(0)} MiB: the decoded body, the output, heap growth), which is costly where page faults are slow.\n`,
  );
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  process.stdout.write(JSON.stringify(child(args[1] as Pipeline, Number(args[2]), Number(args[3]), Number(args[4]))));
} else if (args[0] === '--check') {
  process.stdout.write(JSON.stringify(check(Number(args[1]))));
} else {
  main();
}
