/**
 * Real kubectl 1.27 … 1.33 straight against the API server stand-in (no proxy): the
 * everyday read commands, a watch that ends by its timeout, client-side and server-side
 * apply, logs with flags, and exec, attach and port-forward of an ordinary pod through the
 * stand-in's kubelet (the suite is test/support/kubectl-suite.ts; the e2e tests run it
 * again through the proxy). Each version works in its own namespace of one shared server.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApiServer } from '../../support/fake-apiserver/index.ts';
import { createKubectlHome, runKubectl, type KubectlVersion } from '../../support/kubectl.ts';
import { defineKubectlSuite } from '../../support/kubectl-suite.ts';

let server: FakeApiServer;
const ECHO_IP = '127.0.1.77';
let echo: Server;
let echoPort = 0;

beforeAll(async () => {
  server = await startFakeApiServer();
  echo = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, ECHO_IP, resolve));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  await server.close();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

describe.each(['1.27', '1.33'] as const)('kubectl %s with aggregated discovery turned off', (version: KubectlVersion) => {
  it('falls back to legacy discovery (/api, /apis, /api/v1) and still works', async () => {
    const legacy = await startFakeApiServer({ aggregatedDiscovery: false });
    const home = createKubectlHome({ server: legacy.url, caPem: legacy.caPem, token: legacy.tokens.admin });
    try {
      const r = await runKubectl(version, home, ['api-resources'], { timeoutMs: 20_000 });
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
      expect(legacy.requests.some((q) => q.path === '/api/v1' && q.status === 200)).toBe(true);
    } finally {
      home.dispose();
      await legacy.close();
    }
  });
});

defineKubectlSuite('against the stand-in', () => ({
  server,
  echoIp: ECHO_IP,
  echoPort,
  home: (_version, ns) => Promise.resolve(createKubectlHome({ server: server.url, caPem: server.caPem, token: server.tokens.admin, namespace: ns })),
}));
