/**
 * A scraper that stops reading, end to end: the proxy as deployed (its default bounds),
 * a real agent scraping a real workload, and a scraper's HTTP/2 client whose flow-control
 * window is 0 (it answers PINGs, reads nothing).
 *
 * Regression (review): such a client opened 6 federations and 12 per-pod requests and got
 * 200 for all 18 (no SP_METRICS_BUSY), and the proxy kept every body: arrayBuffers grew
 * 0.7 → 58.8 MiB, all 18 streams were still open after 45 s. The federation slot was
 * given back once the body was handed to the response, the metrics endpoints had no stall
 * watch, and per-pod requests had no bound.
 */
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUESTS_PER_CALLER } from '../../../src/proxy/confidential/pod-metrics.ts';
import { within } from '../../support/testing.ts';
import { createMetricsBed, type MetricsBed, type MetricsPod } from './support/metrics-bed.ts';
import { nonReadingClient } from './support/non-reading-client.ts';

const FEDERATE = '/.well-known/shadowplane/federate';
const canary = `cnry${randomBytes(6).toString('hex')}`;

let bed: MetricsBed;
let pod: MetricsPod;

beforeAll(async () => {
  bed = await createMetricsBed();
  // About 1 MB of scrubbed metrics, the canary a kept label value: several 256 KiB slices.
  pod = await bed.startPod({ name: 'conf-many', env: { CANARY: canary, METRICS_MODE: 'many', SERIES: '20000' } });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function podPath(): string {
  return `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/proxy/metrics`;
}

describe('a scraper that stops reading', () => {
  it('is refused a third federation and a per-pod request past its bound while its answers wait, and has its streams ended within the stall bound, holding nothing afterwards', async () => {
    const scraper = bed.scrapers.cert;
    const client = nonReadingClient(`https://127.0.0.1:${bed.proxy.port}`, { ca: bed.proxy.servingCertPem, cert: scraper.certPem, key: scraper.keyPem });
    try {
      const opened = [];
      for (let i = 0; i < 2; i++) opened.push(await client.open(FEDERATE));
      for (let i = 0; i < MAX_REQUESTS_PER_CALLER; i++) opened.push(await client.open(podPath()));
      expect(opened.map((o) => o.status)).toEqual(Array(2 + MAX_REQUESTS_PER_CALLER).fill(200));

      // While its answers wait: the two federation slots are taken, and so are all of this
      // scraper's per-pod requests; another scraper's credential has its own.
      const federation = await bed.request(FEDERATE, { as: scraper });
      expect(federation.status).toBe(503);
      expect(federation.body.toString()).toContain('SP_METRICS_BUSY');
      const perPod = await bed.request(podPath(), { as: scraper });
      expect(perPod.status).toBe(503);
      expect(perPod.body.toString()).toContain('SP_METRICS_CALLER_BUSY');
      const other = await bed.request(podPath(), { token: bed.scrapers.token });
      expect(other.status).toBe(200);
      expect(other.body.toString()).toContain(canary);

      // The stall bound is 30 s, looked at every 5 s: every stream is reset within about
      // 40 s; given 75 on a loaded machine.
      const codes = await within(75_000, 'the proxy ending the unread metrics streams', Promise.all(opened.map((o) => o.closed)));
      expect(codes).toEqual(Array(opened.length).fill(http2.constants.NGHTTP2_CANCEL));

      // Nothing is held for them any more.
      const again = await Promise.all([bed.request(FEDERATE, { as: scraper }), bed.request(FEDERATE, { as: scraper }), bed.request(podPath(), { as: scraper })]);
      expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(again[2].body.toString()).toContain(canary);
    } finally {
      client.close();
    }
    expect(bed.leaks(canary)).toEqual({ apiServer: false, front: false, proxyLog: false, agentLogs: false });
  }, 150_000);
});
