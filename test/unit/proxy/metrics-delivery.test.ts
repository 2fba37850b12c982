/**
 * What the metrics endpoints hold for a client that stops reading, over real TLS and
 * HTTP/2 with stand-ins for the pods' agents: the federation's slots and a caller's
 * per-pod requests are held until the answer is delivered or its response ended, and a
 * response whose client takes none of it is ended after the stall bound.
 *
 * Regression (review): an HTTP/2 scraper with a flow-control window of 0 kept every
 * metrics body in the proxy's memory indefinitely (no stall watch on the metrics
 * endpoints), the federation slot was given back as soon as the body was handed to the
 * response (a third federation was served while two bodies waited), and per-pod metrics
 * requests had no bound at all.
 */
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ShadowplaneError, asShadowplaneError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/log.ts';
import { createShadowplaneMetrics } from '../../../src/metrics/self.ts';
import { PodMetricsScraper, servePodMetrics, type PodMetricsOptions } from '../../../src/proxy/confidential/pod-metrics.ts';
import { scraperOf, type MetricsCaller } from '../../../src/proxy/confidential/scrapers.ts';
import { createMetricsEndpoints, type MetricsEndpointsOptions } from '../../../src/proxy/metrics-endpoints.ts';
import { tlsSocketOf, type AnyRequest } from '../../../src/proxy/request.ts';
import { respondError } from '../../../src/proxy/respond.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { within } from '../../support/testing.ts';
import { nonReadingClient, type NonReadingClient } from '../../integration/metrics/support/non-reading-client.ts';
import { agentsAnswering, answer, caller, manifest, pods } from './support/metrics-stand-ins.ts';
import { slowPingClient } from './support/slow-ping-client.ts';

const FEDERATE = '/.well-known/shadowplane/federate';
const SELF = '/.well-known/shadowplane/metrics';
const POD = '/api/v1/namespaces/payments/pods/api-0/proxy/metrics';
const BEARER_T = { authorization: 'Bearer t' };
const canary = `cnry${randomBytes(6).toString('hex')}`;

interface Served {
  readonly url: string;
  readonly port: number;
  readonly ca: string;
  /** The proxy's log so far. */
  log(): string;
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** The scraper a request's bearer token names, as the front door admits it (server.ts). */
function scraperAsAdmitted(req: AnyRequest): MetricsCaller {
  const scraper = scraperOf(manifest, tlsSocketOf(req), req.headers);
  if (scraper === undefined) throw new ShadowplaneError('SP_UNAUTHENTICATED');
  return scraper;
}

/** The metrics endpoints behind a TLS HTTP/2 server, as the proxy's front door hands them requests. */
async function serve(options: { readonly endpoints?: Partial<MetricsEndpointsOptions>; readonly podMetrics?: Partial<PodMetricsOptions> } = {}): Promise<Served> {
  const serving = await createSelfSigned({ commonName: 'localhost', dnsNames: ['localhost'], validityMs: 3_600_000, usage: 'server' });
  const lines: string[] = [];
  const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
  const metrics = createShadowplaneMetrics();
  // Federations of two pods whose answers render to more than one 256 KiB slice; per-pod
  // answers of one.
  const endpoints = createMetricsEndpoints({ manifest, podMetrics: () => pods(2, 200_000, 0, canary), metrics, logger, ...options.endpoints });
  const podMetrics = new PodMetricsScraper({ manifest, agents: agentsAnswering(answer(0, 1000, canary)), hashKey: Buffer.alloc(32), metrics, logger, ...options.podMetrics });
  const server = http2.createSecureServer({ key: serving.keyPem, cert: serving.certPem, allowHTTP1: true }, (req, res) => {
    const handled =
      req.url === FEDERATE
        ? endpoints.federate(req, res, caller)
        : req.url === SELF
          ? endpoints.metrics(req, res, caller)
          : (async () => servePodMetrics(podMetrics, req, res, { namespace: 'payments', pod: 'api-0', port: undefined, callerAuth: {} }, scraperAsAdmitted(req), logger))();
    handled.catch((err: unknown) => respondError(res, asShadowplaneError(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    server.close();
    void endpoints.close();
  });
  const { port } = server.address() as AddressInfo;
  return { url: `https://localhost:${port}`, port, ca: serving.certPem, log: () => lines.join('') };
}

/** A client that never reads a body, closed after the test. */
function unreading(served: Served): NonReadingClient {
  const client = nonReadingClient(served.url, { ca: served.ca });
  closers.push(() => client.close());
  return client;
}

/** A client that reads: `path`'s status and body. */
async function get(served: Served, path: string, token = 't'): Promise<{ status: number; body: string }> {
  const session = http2.connect(served.url, { ca: served.ca });
  try {
    return await within(
      10_000,
      `GET ${path}`,
      new Promise((resolve, reject) => {
        session.once('error', reject);
        const stream = session.request({ ':path': path, authorization: `Bearer ${token}` });
        let status = 0;
        let body = '';
        stream.once('response', (headers) => (status = Number(headers[':status'])));
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.once('end', () => resolve({ status, body }));
        stream.once('error', reject);
      }),
    );
  } finally {
    session.destroy();
  }
}

describe('metrics answers to a client that stops reading', () => {
  it('ends every metrics stream of a non-reading HTTP/2 client after the stall bound, and holds no slot afterwards', async () => {
    const served = await serve({ endpoints: { maxConcurrent: 2, maxWriteStallMs: 500 }, podMetrics: { maxRequestsPerCaller: 2, maxWriteStallMs: 500 } });
    const client = unreading(served);
    const opened = [];
    for (const path of [FEDERATE, FEDERATE, POD, POD, SELF]) opened.push(await client.open(path, BEARER_T));
    expect(opened.map((o) => o.status)).toEqual([200, 200, 200, 200, 200]);
    // Bounded wait: 0.5 s without progress, looked at every 83 ms; the client still answers PINGs.
    const codes = await within(15_000, 'the proxy ending the unread streams', Promise.all(opened.map((o) => o.closed)));
    expect(codes).toEqual(Array(5).fill(http2.constants.NGHTTP2_CANCEL));
    // Both federation slots and both of the scraper's per-pod requests are free again.
    const again = await Promise.all([get(served, FEDERATE), get(served, FEDERATE), get(served, POD), get(served, POD)]);
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(again[2].body).toContain(canary);
    const log = served.log();
    expect(log.match(/"delivery":"stalled","msg":"federation served"/g)).toHaveLength(2);
    expect(log.match(/"delivery":"stalled","msg":"pod metrics served"/g)).toHaveLength(2);
    expect(log).not.toContain(canary);
  });

  // Node cancels a session's PINGs past 10 outstanding, and a cancelled PING read as a
  // client gone: with one PING per blocked response, the 11th blocked stream of a live
  // client whose answers take a while was ended at the first look, long before the bound.
  it('keeps the blocked streams of a client that answers PINGs, however many and however late, until the stall bound', async () => {
    const served = await serve({ podMetrics: { maxRequestsPerCaller: 12, maxWriteStallMs: 6000 } });
    const client = await slowPingClient(served.port, served.ca, 1500);
    closers.push(() => client.close());
    const opened = await Promise.all(Array.from({ length: 12 }, () => client.open(POD, 'Bearer t')));
    let reset = 0;
    for (const o of opened) void o.reset.then(() => reset++);
    // Looked at every second: PINGs go out at the first look and are answered 1.5 s later;
    // the stall bound is 6 s after that look.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(reset).toBe(0);
    const codes = await within(20_000, 'the proxy ending the unread streams', Promise.all(opened.map((o) => o.reset)));
    expect(codes).toEqual(Array(12).fill(http2.constants.NGHTTP2_CANCEL));
  });

  it('refuses a third federation with SP_METRICS_BUSY while two are still being delivered to non-reading clients', async () => {
    const served = await serve({ endpoints: { maxConcurrent: 2 } });
    const client = unreading(served);
    const opened = [await client.open(FEDERATE), await client.open(FEDERATE)];
    expect(opened.map((o) => o.status)).toEqual([200, 200]);
    const third = await get(served, FEDERATE);
    expect(third.status).toBe(503);
    expect(third.body).toContain('SP_METRICS_BUSY');
    expect(third.body).not.toContain(canary);
    // The client leaves: its answers are let go, and their slots with them.
    client.close();
    await vi.waitFor(async () => expect((await get(served, FEDERATE)).status).toBe(200), { timeout: 5000, interval: 50 });
    expect(served.log()).toMatch(/"delivery":"client-gone","msg":"federation served"/);
  });

  it('refuses a scraper its per-pod request past its limit with SP_METRICS_CALLER_BUSY while its answers wait on a non-reading client, and serves another scraper meanwhile', async () => {
    const served = await serve({ podMetrics: { maxRequestsPerCaller: 3 } });
    const client = unreading(served);
    const opened = [];
    for (let i = 0; i < 3; i++) opened.push(await client.open(POD, BEARER_T));
    expect(opened.map((o) => o.status)).toEqual([200, 200, 200]);
    // Another connection, the same credential: the same bound.
    const fourth = await get(served, POD, 't');
    expect(fourth.status).toBe(503);
    expect(fourth.body).toContain('SP_METRICS_CALLER_BUSY');
    expect(fourth.body).not.toContain(canary);
    const other = await get(served, POD, 'u');
    expect(other.status).toBe(200);
    expect(other.body).toContain(canary);
    client.close();
    await vi.waitFor(async () => expect((await get(served, POD, 't')).status).toBe(200), { timeout: 5000, interval: 50 });
    expect(served.log()).not.toContain(canary);
  });
});
