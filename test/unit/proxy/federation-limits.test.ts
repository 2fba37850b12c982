/**
 * The federation endpoint's own bounds, over a real HTTP server with a stand-in for the
 * pods' metrics source: what one federation holds, and how many run at once.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/log.ts';
import { heldBytesEstimate, parseLimitsWithin, POD_UP_FAMILY } from '../../../src/metrics/federate.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { createShadowplaneMetrics } from '../../../src/metrics/self.ts';
import type { PodMetricsScraper } from '../../../src/proxy/confidential/pod-metrics.ts';
import { createMetricsEndpoints, type MetricsEndpointsOptions } from '../../../src/proxy/metrics-endpoints.ts';
import { respondError } from '../../../src/proxy/respond.ts';
import { asShadowplaneError } from '../../../src/errors.ts';
import { answer, caller, manifest, pods } from './support/metrics-stand-ins.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(options: Partial<MetricsEndpointsOptions>, source: PodMetricsScraper): Promise<number> {
  const endpoints = createMetricsEndpoints({ manifest, podMetrics: () => source, metrics: createShadowplaneMetrics(), logger: silentLogger(), ...options });
  const server = createServer((req, res) => {
    endpoints.federate(req, res, caller).catch((err: unknown) => respondError(res, asShadowplaneError(err)));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/.well-known/shadowplane/federate' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('federation limits', () => {
  it('holds at most maxBytes of what the parsed answers cost, not of their size on the wire: pods past it are left out', async () => {
    // Regression: the budget counted the answers' wire bytes, and a compact answer
    // expands many times once parsed and merged (about 25 times for one-label samples of
    // 14 bytes), so 64 MiB of answers could hold gigabytes.
    const wire = answer(0, 10_000).length;
    const cost = heldBytesEstimate({ namespace: 'payments', pod: 'p0', families: parseExposition(answer(0, 10_000), 'openmetrics').families }, wire);
    expect(cost).toBeGreaterThan(15 * wire);
    const maxBytes = Math.floor(2.5 * cost);
    // Counted by their wire bytes, all five pods would fit.
    expect(5 * wire).toBeLessThan(maxBytes);
    const port = await serve({ maxBytes, concurrency: 1 }, pods(5, 10_000));
    const r = await get(port);
    expect(r.status).toBe(200);
    const families = parseExposition(r.body, 'text').families;
    const served = new Set(families.filter((f) => f.name !== POD_UP_FAMILY).flatMap((f) => f.samples.map((s) => s.labels[3])));
    expect([...served].sort()).toEqual(['p0', 'p1']);
    // The pods left out are named (shadowplane_federation_pod_up 0).
    expect(families.find((f) => f.name === POD_UP_FAMILY)!.samples.map((s) => `${s.labels[3]} ${s.value}`)).toEqual(['p0 1', 'p1 1', 'p2 0', 'p3 0', 'p4 0']);
  });

  it('stops parsing an answer at what is left of the budget, before building what it could not hold', () => {
    const body = answer(0, 100_000);
    const pod = { namespace: 'payments', pod: 'p0' };
    const cost = heldBytesEstimate({ ...pod, families: parseExposition(body, 'openmetrics').families }, body.length);
    expect(parseExposition(body, 'openmetrics', parseLimitsWithin(cost, pod)).sampleCount).toBeGreaterThan(3000);
    for (const left of [cost / 2, 4 * body.length, 200_000]) {
      let code: string | undefined;
      try {
        parseExposition(body, 'openmetrics', parseLimitsWithin(left, pod));
      } catch (err) {
        code = asShadowplaneError(err).code;
      }
      expect(code).toBe('SP_METRICS_TOO_LARGE');
    }
    expect(parseLimitsWithin(100, pod)).toBeUndefined();
  });

  it('serves maxConcurrent federations at once and refuses the next with SP_METRICS_BUSY', async () => {
    const port = await serve({ maxConcurrent: 2 }, pods(1, 100, 300));
    const three = await Promise.all([get(port), get(port), get(port)]);
    expect(three.map((r) => r.status).sort()).toEqual([200, 200, 503]);
    expect(three.find((r) => r.status === 503)!.body).toContain('SP_METRICS_BUSY');
    // A slot frees once its federation's worker thread has ended, which may be just after
    // the answer reached the client: the next federation is served once it has.
    await vi.waitFor(async () => expect((await get(port)).status).toBe(200), { timeout: 5000, interval: 50 });
  });
});
