/**
 * A real Prometheus (Debian's `prometheus` package) scrapes the proxy with the scrape
 * configuration `shadowplane verify --prometheus-config` rendered from
 * kubeconfig-templates/prometheus-scrape.yaml: the federation endpoint and per-pod
 * targets, TLS pinned to the verified serving certificate, as a scraper with a client
 * certificate and as one with a bearer token file.
 *
 * What arrives is checked through Prometheus' own HTTP API (allowed series, hashed values
 * stable across scrapes and pods, no dropped label or family), and what it stored is
 * searched byte for byte for the workload's secrets, as are the bytes the untrusted side
 * (API server stand-in and Service front) saw and shadowplane's logs.
 *
 * The test fails, loudly, when the prometheus binary is missing: `.ci/run` installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/transfer.ts';
import { Capture } from '../../support/bed.ts';
import { createMetricsBed, NS, type MetricsBed, type MetricsPod } from './support/metrics-bed.ts';

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));
const canary = `cnry${randomBytes(6).toString('hex')}`;
const userA = `user-${canary}-a`;
const userB = `user-${canary}-b`;

let bed: MetricsBed;
let pods: MetricsPod[];
let workDir: string;
let prometheus: ChildProcess | undefined;
let promPort: number;
const promLog = new Capture();
const verifyOutput: Record<string, { code: number | null; stdout: string; stderr: string }> = {};

interface Series {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
}

function promGet<T>(path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: promPort, path, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { status: string; data: T };
          if (body.status !== 'success') reject(new Error(`prometheus answered ${body.status}`));
          else resolve(body.data);
        } catch (err) {
          reject(err instanceof Error ? err : new Error('prometheus answer'));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('prometheus did not answer')));
    req.on('error', reject);
  });
}

const query = async (q: string): Promise<Series[]> => (await promGet<{ result: Series[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; prometheus log:\n${promLog.text().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every file under `dir`, bounded (a short test run writes a few MB). */
function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

function storedContains(needle: string): boolean {
  const n = Buffer.from(needle);
  return filesUnder(join(workDir, 'tsdb')).some((f) => statSync(f).size < 256 * 1024 * 1024 && readFileSync(f).includes(n));
}

beforeAll(async () => {
  if (PROMETHEUS === undefined) throw new Error('the prometheus binary is missing: install Debian\'s prometheus package (apt-get install prometheus; .ci/run does)');
  bed = await createMetricsBed();
  const env = { CANARY: canary, USERS: `${userA},${userB}` };
  pods = await Promise.all([bed.startPod({ name: 'conf-a', env }), bed.startPod({ name: 'conf-b', env: { ...env, METRICS_MODE: 'openmetrics' } })]);
  workDir = mkdtempSync(join(tmpdir(), 'sp-prometheus-'));

  // The scrapers' credentials, where Prometheus reads them.
  writeFileSync(join(workDir, 'scraper.crt'), bed.scrapers.cert.certPem);
  writeFileSync(join(workDir, 'scraper.key'), bed.scrapers.cert.keyPem, { mode: 0o600 });
  writeFileSync(join(workDir, 'scraper.token'), bed.scrapers.token, { mode: 0o600 });
  const verifyHome = mkdtempSync(join(workDir, 'verify-'));
  writeFileSync(join(verifyHome, 'user.crt'), bed.users.alice.certPem);
  writeFileSync(join(verifyHome, 'user.key'), bed.users.alice.keyPem, { mode: 0o600 });
  // As a user of the manifest (kubeconfig and Prometheus configuration), and as a
  // Prometheus operator who is no user (the Prometheus configuration only).
  const render = async (name: string, credential: string[], asUser: boolean): Promise<Record<string, unknown>> => {
    const out = join(workDir, `${name}.yml`);
    // Bug (review finding 3): an existing file kept its mode; it must end up 0600 (asserted below).
    writeFileSync(out, 'old\n');
    chmodSync(out, 0o644);
    const user = asUser ? ['--client-cert', join(verifyHome, 'user.crt'), '--client-key', join(verifyHome, 'user.key'), '--out', join(verifyHome, `${name}.kubeconfig`)] : [];
    const r = await bed.cli([
      'verify', '--server', bed.proxy.url, '--manifest', bed.manifestPath, '--reference-values', bed.referenceValuesPath, '--allow-simulated', ...user,
      '--prometheus-config', out, '--prometheus-scrape-interval', '1s', '--prometheus-pods-file', join(workDir, 'pods.json'), ...credential,
    ]);
    if (r.code !== 0) throw new Error(`shadowplane verify --prometheus-config failed (${r.code}): ${r.stderr}`);
    verifyOutput[name] = r;
    return parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  };
  const byCert = await render('cert', ['--scraper-cert', join(workDir, 'scraper.crt'), '--scraper-key', join(workDir, 'scraper.key')], true);
  const byToken = await render('token', ['--scraper-token-file', join(workDir, 'scraper.token')], false);
  // One Prometheus for both credentials: the token configuration's jobs, renamed, join the certificate's.
  const tokenJobs = (byToken.scrape_configs as { job_name: string }[]).map((j) => ({ ...j, job_name: `${j.job_name}-token` }));
  const config = { ...byCert, scrape_configs: [...(byCert.scrape_configs as unknown[]), ...tokenJobs] };
  writeFileSync(join(workDir, 'prometheus.yml'), stringify(config));
  writeFileSync(join(workDir, 'pods.json'), JSON.stringify([{ targets: [`${NS}/conf-a`, `${NS}/conf-b:${pods[1]!.metricsPort}`] }]));

  const check = spawnSync(join(PROMETHEUS, '..', 'promtool'), ['check', 'config', join(workDir, 'prometheus.yml')], { encoding: 'utf8', timeout: 30_000 });
  if (check.status !== 0) throw new Error(`promtool refused the rendered configuration: ${check.stdout}${check.stderr}`);

  promPort = await freePort();
  prometheus = spawn(PROMETHEUS, [`--config.file=${join(workDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(workDir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout!.pipe(promLog);
  prometheus.stderr!.pipe(promLog);
  await waitFor('prometheus to be ready', async () => (await promGet<unknown>('/api/v1/status/buildinfo')) !== undefined, 30_000);
  // Six targets (federation and two pods, for each credential), each scraped successfully at least three times.
  await waitFor('every target up, three scrapes each', async () => {
    const ups = await query('sum_over_time(up[1m])');
    return ups.length === 6 && ups.every((s) => Number(s.value?.[1]) >= 3);
  }, 60_000);
}, 150_000);

afterAll(async () => {
  if (prometheus !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('close', resolve));
    prometheus.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    prometheus.kill('SIGKILL');
  }
  await bed?.close();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('a real Prometheus scraping the proxy', () => {
  it('gets the allowed series through the federation and per pod, for both scraper credentials', async () => {
    const jobs = ['shadowplane-federate', 'shadowplane-pods', 'shadowplane-federate-token', 'shadowplane-pods-token'];
    for (const job of jobs) {
      const series = await query(`http_requests_total{job="${job}"}`);
      expect(series.map((s) => `${s.metric.namespace}/${s.metric.pod}`).sort(), job).toEqual([`${NS}/conf-a`, `${NS}/conf-a`, `${NS}/conf-b`, `${NS}/conf-b`]);
      expect((await query(`app_temperature_celsius{job="${job}"}`)).map((s) => s.value?.[1])).toEqual(['21.5', '21.5']);
    }
    expect((await query('request_seconds_bucket{job="shadowplane-federate",pod="conf-a"}')).length).toBe(3);
  });

  it('stores each raw user only as its keyed hash, the same in every scrape, pod and job', async () => {
    const values = await promGet<string[]>('/api/v1/label/user_id/values');
    expect(values.sort()).toEqual([bed.hashOf(userA), bed.hashOf(userB)].sort());
  });

  it('never sees a dropped label, a dropped family, help text, exemplars or a raw value', async () => {
    const labels = await promGet<string[]>('/api/v1/labels');
    for (const dropped of ['session', 'customer', 'trace_id', 'exported_namespace', 'exported_pod']) expect(labels).not.toContain(dropped);
    const names = await promGet<string[]>('/api/v1/label/__name__/values');
    expect(names.filter((n) => n.includes(canary) || n.startsWith('secret_'))).toEqual([]);
    const metadata = await promGet<Record<string, { help: string }[]>>('/api/v1/metadata');
    expect(JSON.stringify(metadata)).not.toContain(canary);
    // Positive control for the byte search below: the hashes are in Prometheus' storage.
    expect(storedContains(bed.hashOf(userA))).toBe(true);
    for (const secret of [canary, userA, userB, '31415926535']) {
      expect(storedContains(secret), secret).toBe(false);
      expect(bed.leaks(secret), secret).toEqual({ apiServer: false, front: false, proxyLog: false, agentLogs: false });
    }
  });

  it('finds shadowplane\'s own scrape counters consistent with what it scraped', async () => {
    const r = await bed.request('/.well-known/shadowplane/metrics', { as: bed.scrapers.cert });
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(text).toMatch(/shadowplane_metrics_scrapes_total\{code="ok"\} [1-9]\d*/);
    expect(text).not.toContain(canary);
  });

  it('writes the configuration with mode 0600 over an existing world-readable file, the pinned certificate 0644', () => {
    for (const name of ['cert', 'token']) {
      expect(statSync(join(workDir, `${name}.yml`)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(workDir, `${name}.yml`), 'utf8')).toContain('scrape_configs');
      expect(statSync(join(workDir, `${name}.yml.ca.pem`)).mode & 0o777).toBe(0o644);
    }
  });

  it('renders the configuration for a Prometheus operator who is no user of the manifest, naming the scraper it checked', () => {
    // The token job above came from this mode: no kubeconfig on stdout, the scraper named.
    const r = verifyOutput.token!;
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('scraper        ');
    expect(r.stderr).not.toContain('you are');
    expect(verifyOutput.cert!.stderr).toContain('you are');
  });

  it('refuses, before connecting, a scraper credential the manifest does not list, and a kubeconfig without a user certificate', async () => {
    const stranger = join(workDir, 'stranger.token');
    writeFileSync(stranger, 'not-a-listed-token\n', { mode: 0o600 });
    const base = ['verify', '--server', 'https://127.0.0.1:1', '--manifest', bed.manifestPath, '--reference-values', bed.referenceValuesPath, '--allow-simulated', '--prometheus-config', join(workDir, 'never.yml')];
    const byToken = await bed.cli([...base, '--scraper-token-file', stranger]);
    expect(byToken.code).not.toBe(0);
    expect(byToken.stderr).toContain('is not a scraper of this manifest');
    expect(byToken.stderr).not.toContain('not-a-listed-token');
    // A user's certificate is not a scraper's.
    const userCert = join(workDir, 'user-as-scraper.crt');
    writeFileSync(userCert, bed.users.alice.certPem);
    const byCert = await bed.cli([...base, '--scraper-cert', userCert, '--scraper-key', join(workDir, 'scraper.key')]);
    expect(byCert.code).not.toBe(0);
    expect(byCert.stderr).toContain('is not a scraper of this manifest');
    // A device is refused after a bound, not read to the end of memory (user review).
    const endless = await bed.cli([...base, '--scraper-token-file', '/dev/zero']);
    expect(endless.code).toBe(2);
    expect(endless.stderr).toContain('--scraper-token-file /dev/zero: not a regular file');
    const noUser = await bed.cli([...base, '--scraper-token-file', join(workDir, 'scraper.token'), '--out', join(workDir, 'never.kubeconfig')]);
    expect(noUser.code).not.toBe(0);
    expect(noUser.stderr).toContain('--client-cert is required');
    expect(existsSync(join(workDir, 'never.yml'))).toBe(false);
  });
});
