/**
 * Benchmark: scrub 100,000 series (several families, realistic labels) against a
 * same-run baseline of parse-and-reserialise without scrubbing.
 *
 *   npx node test/bench/scrub.ts [series] [runs]
 *
 * Serialization writes UTF-8 bytes (`serializeToBuffer`), what a response or the agent
 * channel sends. Each pipeline runs in its own child process (so peak RSS belongs to that pipeline),
 * warms up twice, then runs `runs` times. Printed per pipeline: median and minimum wall
 * time, median CPU time (user + system, including GC threads; less sensitive to other
 * load on the machine), the memory retained by one result (heap growth plus a result
 * buffer), and the child's RSS after setup and at its peak. "Series" counts sample lines (each histogram bucket is one, as
 * Prometheus counts them). Not a timed test: it prints numbers.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLabelHasher } from '../../src/metrics/hash.ts';
import { parseExposition } from '../../src/metrics/parse.ts';
import { parseScrubPolicy } from '../../src/metrics/policy.ts';
import { scrub } from '../../src/metrics/scrub.ts';
import { serializeToBuffer } from '../../src/metrics/serialize.ts';

const PIPELINES = [
  ['baseline', 'baseline: parse + serialize, no scrub'],
  ['scrub', 'scrub pipeline: parse + scrub + serialize'],
  ['scrub-warm', 'scrub pipeline, hasher reused across scrapes'],
  ['parse', '  parse only'],
  ['scrub-only', '  scrub only (fresh hasher)'],
  ['scrub-only-warm', '  scrub only (hasher reused)'],
  ['serialize', '  serialize the scrubbed result (text)'],
  ['serialize-om', '  serialize the scrubbed result (OpenMetrics)'],
] as const;
type Pipeline = (typeof PIPELINES)[number][0];

interface Measurement {
  wallMedian: number;
  wallMin: number;
  cpuMedian: number;
  retainedMiB: number;
  setupRssMiB: number;
  peakRssMiB: number;
  lines: number;
  bodyMiB: number;
  stats: string;
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

function child(pipeline: Pipeline, targetSeries: number, runs: number): Measurement {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const policy = parseScrubPolicy(
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
  const key = randomBytes(32);
  const { body, lines } = buildExposition(targetSeries);
  const limits = { maxSeries: Math.max(250_000, targetSeries * 2), maxBytes: Math.max(10 * 1024 * 1024, body.length) };
  const warm = createLabelHasher(key, policy.hashLength);
  const needsParsed = pipeline === 'scrub-only' || pipeline === 'scrub-only-warm' || pipeline === 'serialize' || pipeline === 'serialize-om';
  const parsed = needsParsed ? parseExposition(body, 'text', limits) : undefined;
  const scrubbed = pipeline === 'serialize' || pipeline === 'serialize-om' ? scrub(parsed!, policy, key) : undefined;
  const stats = scrub(parseExposition(body, 'text', limits), policy, key).stats;

  const run = (): unknown => {
    switch (pipeline) {
      case 'baseline':
        return serializeToBuffer(parseExposition(body, 'text', limits).families, 'text');
      case 'scrub':
        return serializeToBuffer(scrub(parseExposition(body, 'text', limits), policy, key).families, 'text');
      case 'scrub-warm':
        return serializeToBuffer(scrub(parseExposition(body, 'text', limits), policy, warm).families, 'text');
      case 'parse':
        return parseExposition(body, 'text', limits);
      case 'scrub-only':
        return scrub(parsed!, policy, key);
      case 'scrub-only-warm':
        return scrub(parsed!, policy, warm);
      case 'serialize':
        return serializeToBuffer(scrubbed!.families, 'text');
      case 'serialize-om':
        return serializeToBuffer(scrubbed!.families, 'openmetrics');
    }
  };
  gc();
  const setupRss = process.memoryUsage().rss;
  run();
  run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    gc();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  gc();
  // Heap growth, plus the backing store of a Buffer result (external memory is freed
  // lazily, so its process-wide counter says little about one result).
  const before = process.memoryUsage().heapUsed;
  const held = run();
  gc();
  const retained = process.memoryUsage().heapUsed - before + (Buffer.isBuffer(held) ? held.buffer.byteLength : 0);
  if (held === undefined) throw new Error('no result');
  const mib = (n: number) => n / 1024 / 1024;
  return {
    wallMedian: wall[Math.floor(runs / 2)]!,
    wallMin: wall[0]!,
    cpuMedian: cpu[Math.floor(runs / 2)]!,
    retainedMiB: mib(retained),
    setupRssMiB: mib(setupRss),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    lines,
    bodyMiB: mib(body.length),
    stats:
      `kept ${stats.keptSamples} samples in ${stats.keptSeries} series; dropped ${stats.droppedSeries} series ` +
      `(${stats.droppedFamilies} family not allowed, ${stats.droppedSeriesCollision} by collision); ${stats.hashedValues} values hashed, ${stats.droppedLabels} labels dropped`,
  };
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  process.stdout.write(JSON.stringify(child(args[1] as Pipeline, Number(args[2]), Number(args[3]))));
} else {
  const targetSeries = Number(args[0] ?? 100_000);
  const runs = Number(args[1] ?? 9);
  const self = fileURLToPath(import.meta.url);
  const results = PIPELINES.map(([name, label]) => {
    const out = execFileSync(process.execPath, [...process.execArgv, self, '--child', name, String(targetSeries), String(runs)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    return { label, m: JSON.parse(out) as Measurement };
  });
  const first = results[0]!.m;
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  process.stdout.write(
    `input: ${first.lines} series, ${first.bodyMiB.toFixed(1)} MiB text; ${runs} runs per pipeline after 2 warm-ups; Node ${process.version}; ` +
      `load average at the end ${load} (wall times are only meaningful on an idle machine)\nscrub: ${first.stats}\n\n`,
  );
  const header = ['pipeline', 'wall median ms', 'wall min ms', 'cpu median ms', 'retained MiB', 'rss setup MiB', 'rss peak MiB'];
  const rows = results.map(({ label, m }) => [
    label,
    m.wallMedian.toFixed(1),
    m.wallMin.toFixed(1),
    m.cpuMedian.toFixed(1),
    m.retainedMiB.toFixed(1),
    m.setupRssMiB.toFixed(0),
    m.peakRssMiB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  process.stdout.write(`${fmt(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(fmt).join('\n')}\n`);
  const base = results[0]!.m.wallMedian;
  const pipeline = results[1]!.m.wallMedian;
  const scrubOnly = results[4]!.m.wallMedian;
  process.stdout.write(
    `\nscrub pipeline / baseline: ${(pipeline / base).toFixed(2)}x (wall medians). ` +
      `Aim (100,000 series in <= 150 ms): scrub step alone ${scrubOnly <= 150 ? 'met' : 'NOT met'} (${scrubOnly.toFixed(0)} ms); ` +
      `whole pipeline ${pipeline <= 150 ? 'met' : 'NOT met'} (${pipeline.toFixed(0)} ms).\n`,
  );
}
