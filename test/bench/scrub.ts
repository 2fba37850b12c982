/**
 * Benchmark: scrub 100,000 series (several families, realistic labels) against a
 * same-run baseline of parse-and-reserialise without scrubbing.
 *
 *   npx node test/bench/scrub.ts [series] [runs]
 *
 * Prints, per pipeline, the median and min wall time over the runs, the heap retained by
 * one run's result, and the process's peak RSS. "Series" counts sample lines (each
 * histogram bucket is a series, as Prometheus counts them). Not a timed test.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLabelHasher } from '../../src/metrics/hash.ts';
import { parseExposition } from '../../src/metrics/parse.ts';
import { parseScrubPolicy } from '../../src/metrics/policy.ts';
import { scrub } from '../../src/metrics/scrub.ts';
import { serialize } from '../../src/metrics/serialize.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const targetSeries = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 9);

/** A deterministic exposition of about `target` sample lines in the text format. */
function buildExposition(target: number): { body: Buffer; lines: number } {
  const methods = ['GET', 'POST', 'PUT', 'DELETE'];
  const codes = ['200', '201', '400', '404', '500'];
  const handlers = Array.from({ length: 25 }, (_, i) => `/api/v1/resource${i}/items`);
  const parts: string[] = [];
  let lines = 0;
  // 40% counters with a per-user label.
  parts.push('# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n');
  const counterSeries = Math.floor(target * 0.4);
  for (let i = 0; i < counterSeries; i++) {
    parts.push(
      `http_requests_total{method="${methods[i % 4]}",code="${codes[(i >> 2) % 5]}",handler="${handlers[(i >> 4) % 25]}",user_id="user-${i}",instance_id="i-0abc${i % 7}"} ${i * 3}\n`,
    );
    lines++;
  }
  // 40% histogram buckets (13 lines per histogram series).
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
  // The rest: gauges, some of which the policy does not allow.
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

interface Row {
  name: string;
  median: number;
  min: number;
  retainedMiB: number;
  outBytes: number;
}

function measure(name: string, fn: () => string | number): Row {
  fn(); // warm up
  fn();
  const times: number[] = [];
  let outBytes = 0;
  for (let i = 0; i < runs; i++) {
    gc();
    const t0 = performance.now();
    const r = fn();
    times.push(performance.now() - t0);
    outBytes = typeof r === 'string' ? Buffer.byteLength(r) : r;
  }
  times.sort((a, b) => a - b);
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: unknown[] = [];
  const captured = { value: undefined as unknown };
  kept.push(captured);
  captured.value = fn();
  gc();
  const retained = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  kept.length = 0;
  return { name, median: times[Math.floor(times.length / 2)]!, min: times[0]!, retainedMiB: retained, outBytes };
}

const parsedOnce = parseExposition(body, 'text', limits);
const hasher = createLabelHasher(key, policy.hashLength);
const scrubbedOnce = scrub(parsedOnce, policy, createLabelHasher(key, policy.hashLength));

const rows: Row[] = [
  measure('baseline: parse + serialize (no scrub)', () => serialize(parseExposition(body, 'text', limits).families, 'text')),
  measure('scrub pipeline: parse + scrub + serialize (fresh hasher)', () => serialize(scrub(parseExposition(body, 'text', limits), policy, key).families, 'text')),
  measure('scrub pipeline, hasher reused across scrapes', () => serialize(scrub(parseExposition(body, 'text', limits), policy, hasher).families, 'text')),
  measure('  parse only', () => parseExposition(body, 'text', limits).sampleCount),
  measure('  scrub only (fresh hasher)', () => scrub(parsedOnce, policy, key).stats.keptSamples),
  measure('  serialize scrubbed only (text)', () => serialize(scrubbedOnce.families, 'text')),
  measure('  serialize scrubbed only (OpenMetrics)', () => serialize(scrubbedOnce.families, 'openmetrics')),
];

const s = scrubbedOnce.stats;
process.stdout.write(
  `input: ${lines} series, ${(body.length / 1024 / 1024).toFixed(1)} MiB text; runs: ${runs}; Node ${process.version}\n` +
    `scrub: kept ${s.keptSamples} samples in ${s.keptSeries} series, dropped ${s.droppedSeries} series ` +
    `(${s.droppedFamilies} families not allowed), ${s.hashedValues} values hashed, ${s.droppedLabels} labels dropped\n\n`,
);
const header = ['pipeline', 'median ms', 'min ms', 'retained MiB', 'output bytes'];
const table = rows.map((r) => [r.name, r.median.toFixed(1), r.min.toFixed(1), r.retainedMiB.toFixed(1), String(r.outBytes)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
process.stdout.write(`${fmt(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${table.map(fmt).join('\n')}\n`);
const base = rows[0]!.median;
const pipeline = rows[1]!.median;
process.stdout.write(
  `\nscrub pipeline / baseline: ${(pipeline / base).toFixed(2)}x; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; ` +
    `aim ${pipeline <= 150 ? 'met' : 'NOT met'} (100,000 series in <= 150 ms)\n`,
);
