/**
 * Real kubectl port-forward through shadowplane's terminators: SPDY (1.27, 1.30, and
 * 1.33 with KUBECTL_PORT_FORWARD_WEBSOCKETS=false) and the WebSocket tunnel of KEP-4006
 * (1.31 and 1.33 by default, 1.30 with the opt-in variable). The stand-in connects each
 * forwarded connection to a local echo server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubectlHome, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';
import { startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';
import { exchange } from '../../support/transfer.ts';

interface Case {
  readonly name: string;
  readonly version: KubectlVersion;
  readonly env?: Readonly<Record<string, string>>;
  readonly protocol: string;
}

const CASES: readonly Case[] = [
  { name: 'kubectl 1.27 (SPDY)', version: '1.27', protocol: 'spdy/portforward.k8s.io' },
  { name: 'kubectl 1.30 (SPDY by default)', version: '1.30', protocol: 'spdy/portforward.k8s.io' },
  { name: 'kubectl 1.30 with KUBECTL_PORT_FORWARD_WEBSOCKETS=true', version: '1.30', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' }, protocol: 'websocket/SPDY/3.1+portforward.k8s.io' },
  { name: 'kubectl 1.31 (WebSocket tunnel)', version: '1.31', protocol: 'websocket/SPDY/3.1+portforward.k8s.io' },
  { name: 'kubectl 1.33 (WebSocket tunnel)', version: '1.33', protocol: 'websocket/SPDY/3.1+portforward.k8s.io' },
  { name: 'kubectl 1.33 with KUBECTL_PORT_FORWARD_WEBSOCKETS=false', version: '1.33', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, protocol: 'spdy/portforward.k8s.io' },
];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** An echo server that answers every byte and half-closes when the client does. */
async function startEchoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

let server: StreamTestServer;
let home: KubectlHome;
let echo: { server: Server; port: number };
let closedPort: number;

beforeAll(async () => {
  server = await startStreamTestServer();
  home = createKubectlHome({ server: server.url, caPem: server.caPem, token: server.token });
  echo = await startEchoServer();
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => echo.server.close(resolve));
  home.dispose();
});

describe.each(CASES)('port-forward with $name', ({ version, env, protocol }) => {
  it('forwards several concurrent connections intact, with half-close both ways', async () => {
    const before = server.sessions.length;
    const kubectl = startKubectl(version, home, ['port-forward', '--address', '127.0.0.1', 'pod/p1', `:${echo.port}`], { env, timeoutMs: 30_000 });
    try {
      const match = await kubectl.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+) ->/);
      const localPort = Number(match[1]);
      const payloads = Array.from({ length: 6 }, (_, i) => randomBytes(64 * 1024 * (i + 1)));
      const echoed = await Promise.all(payloads.map((p) => exchange(localPort, p)));
      echoed.forEach((got, i) => expect(sha256(got)).toBe(sha256(payloads[i]!)));
      // The session outlives its connections: a later one still works.
      const later = randomBytes(1000);
      expect((await exchange(localPort, later)).equals(later)).toBe(true);
      expect(server.sessions.slice(before).map((s) => s.protocol)).toEqual([protocol]);
    } finally {
      kubectl.kill();
      await kubectl.result;
    }
  });

  it('shows the error of a connection that fails (fail() on the error stream)', async () => {
    const kubectl = startKubectl(version, home, ['port-forward', '--address', '127.0.0.1', 'pod/p1', `:${closedPort}`], { env, timeoutMs: 30_000 });
    try {
      const match = await kubectl.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+) ->/);
      const localPort = Number(match[1]);
      const got = await exchange(Number(localPort), Buffer.from('hello')).catch(() => Buffer.alloc(0));
      expect(got.length).toBe(0);
      const result = await kubectl.result;
      expect(result.stderr).toContain(`an error occurred forwarding ${localPort} -> ${closedPort}: nothing listens on port ${closedPort}`);
    } finally {
      kubectl.kill();
      await kubectl.result;
    }
  });
});
