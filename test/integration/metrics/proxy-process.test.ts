/**
 * The `shadowplane proxy` command wires the metrics path as the library tests assume: its
 * own process, the manifest's scrapers, the federation and own-metrics endpoints, and a
 * hash key delivered in a file (--metrics-hash-key-file) instead of a random one, so
 * hashed values are the HMAC under exactly that key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelValue } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { createMetricsBed, NS, type MetricsBed, type MetricsPod } from './support/metrics-bed.ts';

const canary = `cli${randomBytes(6).toString('hex')}`;
let bed: MetricsBed;
let pod: MetricsPod;

beforeAll(async () => {
  bed = await createMetricsBed({ proxyProcess: true });
  pod = await bed.startPod({ name: 'conf-cli', env: { CANARY: canary, USERS: `u-${canary}` } });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

describe('shadowplane proxy (the command)', () => {
  it('hashes label values under the key from --metrics-hash-key-file', async () => {
    const r = await bed.request(`/api/v1/namespaces/${NS}/pods/${pod.name}/proxy/metrics`, { token: bed.scrapers.token });
    expect(r.status).toBe(200);
    const fam = parseExposition(r.body, 'text').families.find((f) => f.name === 'http_requests_total')!;
    expect(fam.samples.map((s) => labelValue(s.labels, 'user_id'))).toEqual([bed.hashOf(`u-${canary}`)]);
  });

  it('serves the federation and its own metrics, counting the scrapes', async () => {
    const fed = await bed.request('/.well-known/shadowplane/federate', { as: bed.scrapers.cert, accept: 'application/openmetrics-text; version=1.0.0' });
    expect(fed.status).toBe(200);
    expect(parseExposition(fed.body, 'openmetrics').families.find((f) => f.name === 'http_requests')?.samples.map((s) => labelValue(s.labels, 'pod'))).toEqual(['conf-cli']);
    const self = await bed.request('/.well-known/shadowplane/metrics', { as: bed.scrapers.cert });
    expect(self.status).toBe(200);
    expect(self.body.toString()).toMatch(/shadowplane_metrics_scrapes_total\{code="ok"\} [2-9]/);
    expect(self.body.toString()).toMatch(/shadowplane_requests_total\{route="metrics",code="ok"\} [2-9]/);
    expect(bed.leaks(canary)).toEqual({ apiServer: false, front: false, proxyLog: false, agentLogs: false });
  });
});
