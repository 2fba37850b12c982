/**
 * pods/proxy and services/proxy of confidential pods: HTTP both ways (streaming), a
 * WebSocket, redirects and headers as the API server's proxy treats them, all through the
 * pod's attested agent to its loopback and never through the API server; the `proxy`
 * verb governs it, and the metrics path is the scrubbed endpoint for metrics readers.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import http2 from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelValue } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { waitForListening } from '../../support/bed.ts';
import { runKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { within } from '../../support/testing.ts';
import { freePort } from '../../support/transfer.ts';
import { createMetricsBed, NS, type MetricsBed, type MetricsPod } from './support/metrics-bed.ts';
import { nonReadingClient } from './support/non-reading-client.ts';

const canary = `pxy${randomBytes(6).toString('hex')}`;

let bed: MetricsBed;
let web: MetricsPod;
let home: KubectlHome;

let tlsPort: number;

beforeAll(async () => {
  bed = await createMetricsBed();
  // The workload also serves HTTPS, with a self-signed certificate for another name.
  tlsPort = await freePort();
  const podCert = await createSelfSigned({ commonName: 'not-the-pod', ipAddresses: ['192.0.2.1'], validityMs: 3600_000, usage: 'server' });
  web = await bed.startPod({ name: 'conf-web', env: { CANARY: canary, USERS: `u-${canary}`, TLS_PORT: String(tlsPort), TLS_CERT: podCert.certPem, TLS_KEY: podCert.keyPem }, labels: { app: 'web' }, namedPort: 'http' });
  await waitForListening('127.0.0.1', tlsPort, web.agent.exited);
  // An ordinary pod the service's selector also matches: it must never get a request.
  bed.api.addPod({ namespace: NS, name: 'plain-web', containers: [{ name: 'app' }], podIP: '127.0.0.1', labels: { app: 'web' } });
  bed.front.services.set(`${NS}/web`, { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'other', port: 81, targetPort: web.metricsPort }, { name: 'tls', port: 443, targetPort: tlsPort }] });
  bed.front.services.set(`${NS}/nobody`, { selector: { app: 'nobody' }, ports: [{ port: 80 }] });
  home = await bed.verifiedHome(bed.users.alice);
}, 90_000);

afterAll(async () => {
  home?.dispose();
  await bed?.close();
});

const podBase = (): string => `/api/v1/namespaces/${NS}/pods/${web.name}:${web.metricsPort}/proxy`;

function expectNoLeak(secret: string): void {
  expect(bed.leaks(secret)).toEqual({ apiServer: false, front: false, proxyLog: false, agentLogs: false });
}

describe('pods/proxy', () => {
  it('answers kubectl get --raw from the pod (HTTP/2 client), path after /proxy and query kept', async () => {
    bed.api.clearRequests();
    const r = await runKubectl('1.33', home, ['get', '--raw', `${podBase()}/hello?x=${canary}`]);
    expect(r.stderr).toBe('');
    // kubectl adds its own timeout parameter; the query reaches the pod as sent.
    expect(r.stdout.toString()).toMatch(new RegExp(`^hello from the pod\\?(timeout=\\d+s&)?x=${canary}$`));
    expect(bed.api.requests.filter((q) => q.path.includes('/proxy'))).toHaveLength(0);
    expectNoLeak(canary);
  });

  it('streams a 4 MB request body to the pod and the echo back, intact', async () => {
    const body = Buffer.concat([Buffer.from(canary), randomBytes(4 * 1024 * 1024)]);
    const r = await bed.request(`${podBase()}/echo`, { as: bed.users.alice, method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(200);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expectNoLeak(canary);
  });

  it('delivers a streamed response chunk by chunk, not at the end', async () => {
    const arrivals: number[] = [];
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: bed.proxy.port, path: `${podBase()}/stream?n=10`, ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, agent: false });
      const timer = setTimeout(() => req.destroy(new Error('stream timed out')), 10_000);
      req.on('response', (res) => {
        res.on('data', () => arrivals.push(Date.now() - started));
        res.on('end', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(arrivals.length).toBeGreaterThan(3);
    // Ten chunks 20 ms apart: the first arrives well before the last.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(100);
  });

  it('sends the pod no client credentials and no hop-by-hop headers, and names its own host', async () => {
    const r = await bed.request(`${podBase()}/headers`, { as: bed.users.alice, headers: { authorization: `Bearer tok-${canary}`, connection: 'keep-alive, x-hop', 'x-hop': 'gone', 'x-kept': 'yes' } });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString()) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/headers');
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-hop']).toBeUndefined();
    expect(seen.headers['x-kept']).toBe('yes');
    expect(seen.headers.host).toBe(`127.0.0.1:${web.metricsPort}`);
    expectNoLeak(`tok-${canary}`);
  });

  it('rewrites a redirect into the pod to go through the proxy again', async () => {
    const r = await bed.request(`${podBase()}/redirect`, { as: bed.users.alice });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(`${podBase()}/hello?from=redirect`);
  });

  it('rewrites the links of an HTML page into the pod, plain and gzip-encoded, and no other byte', async () => {
    const expected = (prefix: string): string =>
      `<!DOCTYPE html><html><head><link rel="stylesheet" href="${prefix}/static/site.css"></head><body>` +
      `<a href="${prefix}/debug/">debug</a> <a href="${prefix}/abs?q=1">abs</a> <a href="relative">rel</a> ` +
      `<a href="https://example.com/elsewhere">out</a><script>var s = "<a href='/in-script'>";</script><p>${canary}</p></body></html>\n`;
    const plain = await bed.request(`${podBase()}/page`, { as: bed.users.alice });
    expect(plain.status).toBe(200);
    expect(plain.headers['content-length']).toBeUndefined();
    expect(plain.body.toString()).toBe(expected(podBase()));
    const zipped = await bed.request(`${podBase()}/page?gzip`, { as: bed.users.alice, headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.body).toString()).toBe(expected(podBase()));
    // kubectl asks for gzip itself and decodes it; through a service the prefix is the service's.
    const r = await runKubectl('1.33', home, ['get', '--raw', `/api/v1/namespaces/${NS}/services/web:http/proxy/page?gzip`]);
    expect(r.stdout.toString()).toBe(expected(`/api/v1/namespaces/${NS}/services/web:http/proxy`));
    expectNoLeak(canary);
  });

  it('answers a status no client can be given as SP_POD_PROXY_FAILED, and keeps serving', async () => {
    for (const code of [600, 999, 150]) {
      const r = await bed.request(`${podBase()}/status?code=${code}`, { as: bed.users.alice });
      expect(r.status, String(code)).toBe(502);
      expect(r.body.toString()).toContain('SP_POD_PROXY_FAILED');
    }
    expect((await bed.request(`${podBase()}/status?code=418`, { as: bed.users.alice })).status).toBe(418);
    expect((await bed.request(`${podBase()}/hello`, { as: bed.users.alice })).status).toBe(200);
    expectNoLeak(`status body ${canary}`);
  });

  it('scopes the pod\'s cookies to its proxy path, and refuses its page\'s requests that would go to the API server', async () => {
    const r = await bed.request(`${podBase()}/app/cookie`, { as: bed.users.alice });
    expect(r.status).toBe(200);
    // A browser sends these back only under the pod's proxy path, never with requests passed to the API server.
    expect(r.headers['set-cookie']).toEqual([`sid=${canary}; HttpOnly; SameSite=Lax; Path=${podBase()}/`, `pref=1; Path=${podBase()}/app`]);
    expect(r.headers['referrer-policy']).toBe('unsafe-url');
    expect((await bed.request(`${podBase()}/hello`, { as: bed.users.alice })).headers['referrer-policy']).toBe('same-origin');
    // A request from that page that would pass through to the API server is refused, and never reaches it.
    const before = bed.api.requests.length;
    const leak = await bed.request(`/internal/report?customer=c-${canary}`, { as: bed.users.alice, headers: { referer: `http://127.0.0.1:8001${podBase()}/app/cookie` } });
    expect(leak.status).toBe(403);
    expect(leak.body.toString()).toContain('SP_CONFIDENTIAL_FORBIDDEN_ROUTE');
    expect(bed.api.requests.length).toBe(before);
    expectNoLeak(`c-${canary}`);
    // From another page it passes through as before.
    expect((await bed.request('/version', { as: bed.users.alice, headers: { referer: 'http://127.0.0.1:8001/api/v1/namespaces/default/pods/x/proxy/' } })).status).toBe(200);
    const svc = await bed.request(`/api/v1/namespaces/${NS}/services/web:http/proxy/app/cookie`, { as: bed.users.alice });
    expect(svc.headers['set-cookie']).toEqual([`sid=${canary}; HttpOnly; SameSite=Lax; Path=/api/v1/namespaces/${NS}/services/web:http/proxy/`, `pref=1; Path=/api/v1/namespaces/${NS}/services/web:http/proxy/app`]);
    expectNoLeak(canary);
  });

  it('tells the pod the path the client asked for in X-Forwarded-Uri, replacing the client\'s own', async () => {
    const r = await bed.request(`${podBase()}/headers?x=1`, { as: bed.users.alice, headers: { 'x-forwarded-uri': '/forged', 'accept-encoding': 'br, deflate, gzip;q=0.9' } });
    const seen = JSON.parse(r.body.toString()) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-uri']).toBe(`${podBase()}/headers`);
    // Only codings whose HTML the rewriter can read are asked of the pod.
    expect(seen.headers['accept-encoding']).toBe('gzip;q=0.9');
  });

  it('carries a WebSocket to the pod and back (text and binary)', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${bed.proxy.port}${podBase()}/ws`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      });
      const next = (): Promise<{ data: Buffer; binary: boolean }> => new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));
      ws.send(`hi ${canary}`);
      expect((await next()).data.toString()).toBe(`echo: hi ${canary}`);
      const blob = randomBytes(100_000);
      ws.send(blob);
      const back = await next();
      expect(back.binary).toBe(true);
      expect(back.data.equals(blob)).toBe(true);
    } finally {
      ws.close();
    }
    expectNoLeak(canary);
  });

  it('refuses a user without the proxy verb, and answers a non-upgraded WebSocket attempt with the pod\'s own status', async () => {
    const mia = await bed.request(`${podBase()}/hello`, { as: bed.users.mia });
    expect(mia.status).toBe(403);
    expect(mia.body.toString()).toContain('SP_FORBIDDEN');
    const ws = new WebSocket(`wss://127.0.0.1:${bed.proxy.port}${podBase()}/not-a-socket`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });

  // Bug: a pod's 426 lost its Upgrade header (dropped as hop-by-hop), though a 426 must name the protocols it wants.
  it('relays a 426 with the Upgrade header that names the protocol, to a plain request and to an upgrade', async () => {
    const plain = await bed.request(`${podBase()}/upgrade-required`, { as: bed.users.alice });
    expect(plain.status).toBe(426);
    expect(plain.headers.upgrade).toBe('websocket');
    expect(plain.body.toString()).toBe(`use a WebSocket ${canary}`);
    const ws = new WebSocket(`wss://127.0.0.1:${bed.proxy.port}${podBase()}/upgrade-required`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    const answer = await new Promise<{ status: number; upgrade: unknown; connection: unknown }>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, upgrade: res.headers.upgrade, connection: res.headers.connection }));
      ws.once('error', () => resolve({ status: -1, upgrade: undefined, connection: undefined }));
    });
    expect(answer).toEqual({ status: 426, upgrade: 'websocket-v2', connection: 'close' });
    expectNoLeak(`use a WebSocket ${canary}`);
  });

  it('reports a port nothing listens on as SP_PORT_FORWARD_FAILED', async () => {
    const r = await bed.request(`/api/v1/namespaces/${NS}/pods/${web.name}:1/proxy/`, { as: bed.users.alice });
    expect(r.status).toBe(502);
    expect(r.body.toString()).toContain('SP_PORT_FORWARD_FAILED');
  });

  it('speaks TLS to an https: target inside the channel, for kubectl and for a WebSocket, without verifying the pod', async () => {
    bed.api.clearRequests();
    const base = `/api/v1/namespaces/${NS}/pods/https:${web.name}:${tlsPort}/proxy`;
    const r = await runKubectl('1.33', home, ['get', '--raw', `${base}/hello?x=${canary}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toMatch(new RegExp(`^hello from the pod\\?(timeout=\\d+s&)?x=${canary}$`));
    const redirect = await bed.request(`${base}/redirect`, { as: bed.users.alice });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe(`${base}/hello?from=redirect`);
    const ws = new WebSocket(`wss://127.0.0.1:${bed.proxy.port}${base}/ws`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      });
      const answer = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())));
      ws.send(`tls ${canary}`);
      expect(await answer).toBe(`echo: tls ${canary}`);
    } finally {
      ws.close();
    }
    expect(bed.api.requests.filter((q) => q.path.includes('/proxy'))).toHaveLength(0);
    expectNoLeak(canary);
  });

  it('answers SP_POD_PROXY_FAILED for an https: target that speaks plain HTTP, and SP_BAD_REQUEST for another scheme', async () => {
    const plain = await bed.request(`/api/v1/namespaces/${NS}/pods/https:${web.name}:${web.metricsPort}/proxy/hello`, { as: bed.users.alice });
    expect(plain.status).toBe(502);
    expect(plain.body.toString()).toContain('SP_POD_PROXY_FAILED');
    const ftp = await bed.request(`/api/v1/namespaces/${NS}/pods/ftp:${web.name}:${web.metricsPort}/proxy/hello`, { as: bed.users.alice });
    expect(ftp.status).toBe(400);
    expect(ftp.body.toString()).toContain('SP_BAD_REQUEST');
  });

  it('serves the metrics path scrubbed to users with the metrics verb', async () => {
    const r = await bed.request(`/api/v1/namespaces/${NS}/pods/${web.name}/proxy/metrics`, { as: bed.users.alice });
    expect(r.status).toBe(200);
    const fam = parseExposition(r.body, 'text').families.find((f) => f.name === 'http_requests_total')!;
    expect(fam.samples.map((s) => labelValue(s.labels, 'user_id'))).toEqual([bed.hashOf(`u-${canary}`)]);
    expect(r.body.toString()).not.toContain(canary);
  });
});

describe('pods/proxy/metrics at a port the proxy does not know', () => {
  // Regression (SRE review, finding 5): with the scrape port in the agent configuration
  // (the policy names no `scrape`), every port counted as the metrics port, so a user with
  // `proxy` and `metrics` got 404 SP_METRICS_NOT_CONFIGURED for another server's /metrics
  // on the pod, which a user with `proxy` alone was served.
  it('is ordinary pods/proxy for users with the proxy verb, with or without metrics, and the agent-checked metrics endpoint for the others', async () => {
    const page = `sidecar_up{build="b-${canary}"} 1\n`;
    const sidecarPort = await freePort();
    const sidecar = createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(req.url === '/metrics' ? page : '');
    });
    await new Promise<void>((resolve) => sidecar.listen(sidecarPort, '127.0.0.1', resolve));
    try {
      const path = (port?: number): string => `/api/v1/namespaces/${NS}/pods/${web.name}${port === undefined ? '' : `:${port}`}/proxy/metrics`;
      for (const user of [bed.users.alice, bed.users.pete]) {
        const r = await bed.request(path(sidecarPort), { as: user });
        expect(r.status, user.name).toBe(200);
        expect(r.body.toString(), user.name).toBe(page);
      }
      // Without a port it is the scrubbed endpoint for alice, as before.
      const scrubbed = await bed.request(path(), { as: bed.users.alice });
      expect(scrubbed.status).toBe(200);
      expect(scrubbed.body.toString()).toContain(bed.hashOf(`u-${canary}`));
      expect(scrubbed.body.toString()).not.toContain(canary);
      // mia (metrics, no proxy) and scrapers still get the metrics endpoint, whose agent checks the port.
      for (const as of [{ as: bed.users.mia }, { as: bed.scrapers.cert }]) {
        const other = await bed.request(path(sidecarPort), as);
        expect(other.status).toBe(404);
        expect(other.body.toString()).toContain('SP_METRICS_NOT_CONFIGURED');
        const own = await bed.request(path(web.metricsPort), as);
        expect(own.status).toBe(200);
        expect(own.body.toString()).not.toContain(canary);
      }
      expectNoLeak(canary);
    } finally {
      await new Promise((resolve) => sidecar.close(resolve));
    }
  });
});

describe('services/proxy', () => {
  it('reaches the confidential pod behind the service by named target port, never the ordinary pod', async () => {
    bed.api.clearRequests();
    for (let i = 0; i < 8; i++) {
      const r = await bed.request(`/api/v1/namespaces/${NS}/services/web:http/proxy/hello?i=${i}`, { as: bed.users.alice });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`hello from the pod?i=${i}`);
    }
    const other = await runKubectl('1.27', home, ['get', '--raw', `/api/v1/namespaces/${NS}/services/web:81/proxy/hello`]);
    expect(other.stdout.toString()).toMatch(/^hello from the pod(\?timeout=\d+s)?$/);
    expect(bed.api.requests.filter((q) => q.path.includes('/proxy'))).toHaveLength(0);
  });

  it('reaches an https: service port over TLS to the pod', async () => {
    const r = await bed.request(`/api/v1/namespaces/${NS}/services/https:web:tls/proxy/hello?x=${canary}`, { as: bed.users.alice });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`hello from the pod?x=${canary}`);
    expectNoLeak(canary);
  });

  it('carries a WebSocket through a service', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${bed.proxy.port}/api/v1/namespaces/${NS}/services/web:http/proxy/ws`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
      ws.send('via service');
      expect(await reply).toBe('echo: via service');
    } finally {
      ws.close();
    }
  });

  it('answers 503 SP_SERVICE_NO_ENDPOINTS for a service with no confidential pod, and names a missing port', async () => {
    const none = await bed.request(`/api/v1/namespaces/${NS}/services/nobody/proxy/`, { as: bed.users.alice });
    expect(none.status).toBe(503);
    expect(none.body.toString()).toContain('SP_SERVICE_NO_ENDPOINTS');
    const ambiguous = await bed.request(`/api/v1/namespaces/${NS}/services/web/proxy/`, { as: bed.users.alice });
    expect(ambiguous.status).toBe(400);
    const missing = await bed.request(`/api/v1/namespaces/${NS}/services/absent/proxy/`, { as: bed.users.alice });
    expect(missing.status).toBe(503);
  });

  it('uses only ready pods, as the service\'s endpoints do, unless the service publishes not-ready addresses', async () => {
    // A confidential pod that runs but is not ready; nothing answers at its address.
    bed.api.addPod({ namespace: NS, name: 'conf-late', containers: [{ name: 'app' }], podIP: '127.0.0.77', labels: { app: 'late' }, ready: false });
    bed.front.services.set(`${NS}/late`, { selector: { app: 'late' }, ports: [{ port: 80, targetPort: 8080 }] });
    bed.front.services.set(`${NS}/late-published`, { selector: { app: 'late' }, ports: [{ port: 80, targetPort: 8080 }], publishNotReadyAddresses: true });
    const unready = await bed.request(`/api/v1/namespaces/${NS}/services/late/proxy/`, { as: bed.users.alice });
    expect(unready.status).toBe(503);
    expect(unready.body.toString()).toContain('SP_SERVICE_NO_ENDPOINTS');
    // Published: the pod is a candidate, so the proxy tries its agent (and fails closed).
    const published = await bed.request(`/api/v1/namespaces/${NS}/services/late-published/proxy/`, { as: bed.users.alice });
    expect(published.status).toBeGreaterThanOrEqual(500);
    expect(published.body.toString()).not.toContain('SP_SERVICE_NO_ENDPOINTS');
    expect(published.body.toString()).toMatch(/SP_AGENT_[A-Z_]+/);
  });
});

describe('clients that leave a download', () => {
  // Review finding (SRE, high): an HTTP/2 client that left while its flow-control window was
  // full left the exchange open for good (Node emitted no 'close'): one stream of the agent's
  // session and one connection in the pod each, until the pod answered nothing more.
  it('ends the exchange, in the proxy and in the pod, when an HTTP/2 client stops reading and leaves', async () => {
    const dir = mkdtempSync(join(bed.dir, 'curl-'));
    writeFileSync(join(dir, 'ca.pem'), bed.proxy.servingCertPem);
    writeFileSync(join(dir, 'alice.crt'), bed.users.alice.certPem);
    writeFileSync(join(dir, 'alice.key'), bed.users.alice.keyPem, { mode: 0o600 });
    const openProxySessions = async (): Promise<number> => {
      const families = parseExposition((await bed.request('/.well-known/shadowplane/metrics', { as: bed.users.alice })).body, 'text').families;
      const sample = families.find((f) => f.name === 'shadowplane_open_sessions')!.samples.find((x) => labelValue(x.labels, 'kind') === 'proxy');
      return Number(sample?.value ?? 0);
    };
    const before = await openProxySessions();
    // Three clients each read 64 KB/s of a 64 MiB answer for 2 s, then exit.
    const downloads = Array.from({ length: 3 }, () =>
      new Promise<void>((resolve) => {
        execFile('curl', ['-s', '--http2', '--limit-rate', '64K', '--max-time', '2', '-o', '/dev/null', '--cacert', join(dir, 'ca.pem'), '--cert', join(dir, 'alice.crt'), '--key', join(dir, 'alice.key'), `https://127.0.0.1:${bed.proxy.port}${podBase()}/big?mb=64`], () => resolve());
      }),
    );
    await Promise.all(downloads);
    // Within a few looks of the stall watch (every 5 s; a PING unanswered for 10 s), every
    // exchange is over: about 20 s, given 45 for a loaded machine.
    const deadline = Date.now() + 45_000;
    let open = await openProxySessions();
    while (open > before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      open = await openProxySessions();
    }
    expect(open).toBe(before);
    // And the pod still answers through its agent.
    const hello = await bed.request(`${podBase()}/hello`, { as: bed.users.alice });
    expect(hello.status).toBe(200);
    expectNoLeak(canary);
  }, 70_000);

  // Regression (review): the stall watch counted the connection's bytes as the client's
  // progress, and its own PINGs are bytes the connection writes, so a client that stayed,
  // answering PINGs and reading nothing, was never stalled.
  it('ends the exchange when an HTTP/2 client stays connected but reads nothing, within the stall bound', async () => {
    const client = nonReadingClient(`https://127.0.0.1:${bed.proxy.port}`, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
    try {
      const download = await client.open(`${podBase()}/big?mb=64`);
      expect(download.status).toBe(200);
      // 30 s without progress, looked at every 5 s: about 35 s, given 75 on a loaded machine.
      expect(await within(75_000, 'the proxy ending the unread download', download.closed)).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      client.close();
    }
    const hello = await bed.request(`${podBase()}/hello`, { as: bed.users.alice });
    expect(hello.status).toBe(200);
    expectNoLeak(canary);
  }, 100_000);

  it('lets a slow HTTP/2 client that keeps reading finish, however long its buffers stay full', async () => {
    const dir = mkdtempSync(join(bed.dir, 'curl-slow-'));
    writeFileSync(join(dir, 'ca.pem'), bed.proxy.servingCertPem);
    writeFileSync(join(dir, 'alice.crt'), bed.users.alice.certPem);
    writeFileSync(join(dir, 'alice.key'), bed.users.alice.keyPem, { mode: 0o600 });
    // 5 MiB at 200 KB/s: about 26 s, longer than the stall watch's PING timeout and checks.
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile('curl', ['-s', '--http2', '--limit-rate', '200K', '--max-time', '60', '-o', join(dir, 'out'), '--cacert', join(dir, 'ca.pem'), '--cert', join(dir, 'alice.crt'), '--key', join(dir, 'alice.key'), `https://127.0.0.1:${bed.proxy.port}${podBase()}/big?mb=5`]);
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(0);
    expect(statSync(join(dir, 'out')).size).toBe(5 * 1024 * 1024);
    expect(readFileSync(join(dir, 'out')).subarray(0, canary.length).toString()).toBe(canary);
    expectNoLeak(canary);
  }, 70_000);
});

describe('shadowplane\'s own metrics after proxy traffic', () => {
  it('counts proxy requests by route kind and has no open session left', async () => {
    const r = await bed.request('/.well-known/shadowplane/metrics', { as: bed.users.alice });
    const families = parseExposition(r.body, 'text').families;
    const requests = families.find((f) => f.name === 'shadowplane_requests_total')!;
    const proxyOk = requests.samples.find((s) => labelValue(s.labels, 'route') === 'proxy' && labelValue(s.labels, 'code') === 'ok');
    expect(Number(proxyOk?.value)).toBeGreaterThan(5);
    expect(requests.samples.some((s) => labelValue(s.labels, 'route') === 'proxy' && labelValue(s.labels, 'code') === 'SP_FORBIDDEN')).toBe(true);
    const durations = families.find((f) => f.name === 'shadowplane_request_duration_seconds')!;
    expect(durations.samples.some((s) => s.name.endsWith('_count') && labelValue(s.labels, 'route') === 'proxy' && Number(s.value) > 0)).toBe(true);
    // The WebSockets above were closed: their sessions end once both sides have closed.
    const openSessions = async (): Promise<string[]> => {
      const again = parseExposition((await bed.request('/.well-known/shadowplane/metrics', { as: bed.users.alice })).body, 'text').families;
      return again.find((f) => f.name === 'shadowplane_open_sessions')!.samples.map((s) => s.value);
    };
    expect((await openSessions()).length).toBeGreaterThan(0);
    const deadline = Date.now() + 5000;
    while ((await openSessions()).some((v) => v !== '0') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(new Set(await openSessions())).toEqual(new Set(['0']));
  });
});
