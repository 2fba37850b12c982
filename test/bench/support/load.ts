/**
 * Closed-loop load generators for benchmarks: `concurrency` requests in flight, each
 * started as the previous one of its slot ends, for a fixed time. Latency per request in
 * milliseconds (hrtime), bytes read, errors. Bounded by the duration; stops by itself.
 */
import http, { type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import http2, { type ClientHttp2Session } from 'node:http2';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly latenciesMs: Float64Array;
}

export interface H2Target {
  readonly url: string;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly headers?: OutgoingHttpHeaders;
}

export async function h2Load(target: H2Target, path: string, opts: { concurrency: number; durationMs: number; sessions?: number }): Promise<LoadResult> {
  const sessions: ClientHttp2Session[] = [];
  for (let i = 0; i < (opts.sessions ?? 1); i++) {
    // Flow-control windows like kubectl's (Go's HTTP/2 client: 4 MiB per stream, 1 GiB per connection).
    const s = http2.connect(target.url, { ca: target.ca, settings: { initialWindowSize: 4 * 1024 * 1024 }, ...(target.cert === undefined ? {} : { cert: target.cert, key: target.key }) });
    s.on('error', () => undefined);
    s.once('connect', () => s.setLocalWindowSize(1024 * 1024 * 1024));
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    sessions.push(s);
  }
  const one = (slot: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = sessions[slot % sessions.length]!.request({ ':path': path, ...target.headers });
      let n = 0;
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => (status === 200 ? resolve(n) : reject(new Error(`HTTP ${status}`))));
      req.on('error', reject);
    });
  try {
    return await closedLoop(one, opts);
  } finally {
    for (const s of sessions) s.close();
  }
}

export async function h1Load(target: { host: string; port: number; tls?: { ca: string; cert?: string; key?: string }; headers?: OutgoingHttpHeaders }, path: string, opts: { concurrency: number; durationMs: number }): Promise<LoadResult> {
  const agent = target.tls === undefined ? new http.Agent({ keepAlive: true, maxSockets: opts.concurrency }) : new https.Agent({ keepAlive: true, maxSockets: opts.concurrency, ...target.tls });
  const mod = target.tls === undefined ? http : https;
  const one = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = mod.request({ host: target.host, port: target.port, path, agent, headers: target.headers }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  try {
    return await closedLoop(one, opts);
  } finally {
    agent.destroy();
  }
}

async function closedLoop(one: (slot: number) => Promise<number>, opts: { concurrency: number; durationMs: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(opts.durationMs) * 1_000_000n;
  const slot = async (i: number): Promise<void> => {
    while (process.hrtime.bigint() < end) {
      const t0 = process.hrtime.bigint();
      try {
        bytes += await one(i);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        errors++;
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => slot(i)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { requests: latencies.length, errors, bytes, seconds, latenciesMs: Float64Array.from(latencies) };
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function summary(r: LoadResult): { rps: number; p50: number; p99: number; mbps: number; errors: number } {
  const sorted = r.latenciesMs.slice().sort();
  return { rps: r.requests / r.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mbps: r.bytes / r.seconds / 1e6, errors: r.errors };
}
