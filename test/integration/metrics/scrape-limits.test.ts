/**
 * A workload's own scrape limits (the manifest's `workloads[].metrics.limits`), end to
 * end: real agents scrape real workloads under the limits of the workload their pod
 * belongs to, while the pods of a workload without `limits` keep the defaults (10 MiB,
 * 250,000 samples, 5 s). Raising a limit lets through what the defaults drop, lowering
 * one drops what they let through, and the proxy waits for a workload whose deadline is
 * longer than its own default wait. Nothing of the expositions reaches the untrusted side
 * or any log.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsBed, NS, POLICY, type MetricsBed, type MetricsPod } from './support/metrics-bed.ts';

const canary = `cnry${randomBytes(6).toString('hex')}`;

let bed: MetricsBed;

beforeAll(async () => {
  bed = await createMetricsBed({
    extraWorkloads: [
      // Over the defaults: an 11 MB exposition of about 270,000 samples, and a deadline
      // past the proxy's own 10 s wait.
      { name: 'big', pods: ['big-*'], metrics: { ...POLICY, limits: { maxBytes: 12 * 1024 * 1024, maxSamples: 400_000, timeoutMs: 12_000 } } },
      // The largest body cap a workload may set: two such scrapes fill the agent's 64 MiB in flight.
      { name: 'wide', pods: ['wide-*'], metrics: { ...POLICY, limits: { maxBytes: 32 * 1024 * 1024 } } },
      // Under them.
      { name: 'tight', pods: ['tight-*'], metrics: { ...POLICY, limits: { maxSamples: 500, timeoutMs: 1000 } } },
    ],
  });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function podPath(pod: MetricsPod): string {
  return `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/proxy/metrics`;
}

async function withPod<T>(name: string, env: Record<string, string>, use: (pod: MetricsPod) => Promise<T>): Promise<T> {
  const pod = await bed.startPod({ name, env: { CANARY: canary, ...env } });
  try {
    return await use(pod);
  } finally {
    pod.agent.kill();
    await pod.agent.exited;
    bed.api.deletePod(NS, name);
  }
}

/** The status and, for an error, the Status message of a scrape of `pod` by the certificate scraper. */
async function scrape(pod: MetricsPod): Promise<{ status: number; body: string }> {
  const r = await bed.request(podPath(pod), { as: bed.scrapers.cert, timeoutMs: 40_000 });
  return { status: r.status, body: r.body.toString() };
}

function expectNoLeak(): void {
  expect(bed.leaks(canary)).toEqual({ apiServer: false, front: false, proxyLog: false, agentLogs: false });
}

describe('a workload\'s own scrape limits', () => {
  it('lets an 11 MB exposition through for the workload that raised its limits, and drops it for one that did not', async () => {
    const raised = await withPod('big-huge', { METRICS_MODE: 'huge' }, scrape);
    expect(raised.status).toBe(200);
    // Its one family is not in the policy: nothing of it leaves, but the scrape was kept.
    expect(raised.body).not.toContain('filler');
    const defaults = await withPod('conf-huge', { METRICS_MODE: 'huge' }, scrape);
    expect(defaults.status).toBe(502);
    expect(defaults.body).toContain('SP_METRICS_TOO_LARGE');
    expectNoLeak();
  }, 90_000);

  it('drops a scrape over the workload\'s lowered sample limit, saying on which line, and keeps it under the default', async () => {
    const env = { METRICS_MODE: 'many', SERIES: '600' };
    const lowered = await withPod('tight-many', env, scrape);
    expect(lowered.status).toBe(502);
    // Line 1 is the TYPE line: the 501st sample is on line 502.
    expect((JSON.parse(lowered.body) as { message: string }).message).toMatch(/^SP_METRICS_TOO_LARGE: .*: line 502: more series than the limit$/);
    const defaults = await withPod('conf-many', env, scrape);
    expect(defaults.status).toBe(200);
    expect(defaults.body.split('\n').filter((l) => l.startsWith('app_temperature_celsius{'))).toHaveLength(600);
    expectNoLeak();
  }, 60_000);

  it('times out a slow workload at its lowered deadline, and waits past the proxy\'s own 10 s for one that raised it', async () => {
    const lowered = await withPod('tight-slow', { METRICS_MODE: 'slow', SLOW_MS: '2500' }, scrape);
    expect(lowered.status).toBe(504);
    expect(lowered.body).toContain('SP_METRICS_SCRAPE_TIMEOUT');
    const defaults = await withPod('conf-slow', { METRICS_MODE: 'slow', SLOW_MS: '2500' }, scrape);
    expect(defaults.status).toBe(200);
    const started = Date.now();
    const raised = await withPod('big-slow', { METRICS_MODE: 'slow', SLOW_MS: '10500' }, scrape);
    expect(raised.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThan(10_000);
    expect(raised.body).toContain('app_temperature_celsius{room="lab"} 21.5');
    expectNoLeak();
  }, 90_000);

  it('holds at most 64 MiB of body caps at once in one agent: a third 32 MiB scrape while two run is refused as busy', async () => {
    await withPod('wide-slow', { METRICS_MODE: 'slow', SLOW_MS: '1500' }, async (pod) => {
      const results = await Promise.all([scrape(pod), scrape(pod), scrape(pod)]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 503]);
      expect(results.find((r) => r.status === 503)!.body).toContain('SP_AGENT_BUSY');
      // Once they are done the budget is whole again.
      expect((await scrape(pod)).status).toBe(200);
    });
    expectNoLeak();
  }, 60_000);
});
