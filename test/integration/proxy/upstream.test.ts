/**
 * The proxy towards the upstream: forward-token mode end to end, an unreachable or silent
 * upstream answered with 503 within seconds, and redirects never followed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http2 from 'node:http2';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT, simulateInit } from '../../../src/attestation/index.ts';
import { parseManifest } from '../../../src/config/manifest.ts';
import { createLogger } from '../../../src/log.ts';
import { startProxy, type RunningProxy } from '../../../src/proxy/start.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { Capture, createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl } from '../../support/kubectl.ts';
import { makeTestUser, type TestUser } from '../../support/users.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('forward-token mode', () => {
  let bed: Bed;
  const token = `upstream-token-${randomBytes(16).toString('hex')}`;

  it('forwards the caller\'s own upstream token, which the upstream sees and shadowplane never logs', async () => {
    bed = await createBed({ auth: 'forward-token', api: { tokens: { [token]: { user: 'alice@upstream', groups: ['team'] } } } });
    cleanups.push(() => bed.close());
    const tokenFile = join(bed.dir, 'alice.token');
    writeFileSync(tokenFile, `${token}\n`);
    const home = await bed.verifiedHome(bed.users.alice, ['--token-file', tokenFile]);
    bed.api.clearRequests();
    const r = await runKubectl('1.33', home, ['get', 'pods', '-A', '-o', 'name']);
    expect(r.code).toBe(0);
    const seen = bed.api.requests.filter((q) => q.path === '/api/v1/pods');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((q) => q.effectiveUser?.user === 'alice@upstream' && q.bearerTokenPresented && Object.keys(q.impersonationHeaders).length === 0)).toBe(true);
    expect(bed.proxyLog.contains(token)).toBe(false);
  });

  it('serves confidential routes with no proxy credential, looking the pod up with the caller\'s token', async () => {
    await bed.startConfidentialPod({ name: 'conf-ft', command: ['sleep', '3600'] });
    const tokenFile = join(bed.dir, 'alice.token');
    const home = await bed.verifiedHome(bed.users.alice, ['--token-file', tokenFile]);
    const r = await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-ft', '--', 'echo', 'hi']);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hi\n');
  });
});

async function proxyTo(server: string, caPem: string | undefined, user: TestUser): Promise<RunningProxy> {
  const manifest = parseManifest({
    apiVersion: 'shadowplane.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'upstream-test' },
    confidential: [{ namespace: 'secure' }],
    users: [{ name: user.name, publicKey: user.publicKeyPem }],
    upstream: { server, ...(caPem === undefined ? {} : { certificateAuthority: caPem }), auth: 'forward-token' },
  });
  const dir = mkdtempSync(join(tmpdir(), 'sp-up-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  await simulateInit(dir);
  const proxy = await startProxy({
    manifest,
    issuer: createSimulatedIssuer({ dir, measurement: SIMULATED_DEFAULT_MEASUREMENT }),
    listen: { host: '127.0.0.1', port: 0 },
    subjectAltNames: ['127.0.0.1'],
    upstreamConnectTimeoutMs: 2000,
    logger: createLogger({ destination: new Capture(), level: 'debug' }),
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

function get(proxy: RunningProxy, user: TestUser, path: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const s = http2.connect(proxy.url, { ca: proxy.servingCertPem, cert: user.certPem, key: user.keyPem });
    s.on('error', reject);
    const req = s.request({ ':path': path });
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (headers = h));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      s.close();
      resolve({ status: Number(headers[':status']), headers, body, ms: Date.now() - t0 });
    });
    req.on('error', reject);
  });
}

describe('an upstream that cannot serve', () => {
  it('answers 503 with a Status at once when nothing listens upstream', async () => {
    const user = await makeTestUser('u1');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const proxy = await proxyTo(`https://127.0.0.1:${port}`, undefined, user);
    const r = await get(proxy, user, '/api/v1/namespaces');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
    expect(r.body).toContain('SP_UPSTREAM_UNAVAILABLE');
    expect(r.ms).toBeLessThan(3000);
  });

  it('answers 503 within the connect timeout when the upstream accepts TCP but never speaks TLS', async () => {
    const user = await makeTestUser('u2');
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => void silent.close());
    const proxy = await proxyTo(`https://127.0.0.1:${(silent.address() as AddressInfo).port}`, undefined, user);
    const r = await get(proxy, user, '/api/v1/namespaces');
    expect(r.status).toBe(503);
    expect(r.ms).toBeLessThan(4000);
  });

  it('never follows an upstream redirect: the 3xx goes back to the client as it came', async () => {
    const user = await makeTestUser('u3');
    const cert = await createSelfSigned({ commonName: 'upstream', ipAddresses: ['127.0.0.1'], validityMs: 3600_000, usage: 'server' });
    let hits = 0;
    const upstream = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem }, (_req, res) => {
      hits++;
      res.writeHead(302, { location: 'https://attacker.invalid/steal' });
      res.end();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => void upstream.close());
    const proxy = await proxyTo(`https://127.0.0.1:${(upstream.address() as AddressInfo).port}`, cert.certPem, user);
    const r = await get(proxy, user, '/api/v1/namespaces');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('https://attacker.invalid/steal');
    expect(hits).toBe(1);
  });
});
