/**
 * Regression (review finding 1, "npm run demo -- --keep dies"): port-forwarding to an
 * *ordinary* pod through the proxy and then stopping kubectl killed the process that runs
 * the API server stand-in (and the in-process proxy with it). The stand-in's recording
 * tap wrapped each forwarded connection in a Duplex nobody listened to for 'error'; when
 * the pod refused the connection and kubectl then reset the stream (SP_STREAM_RESET), the
 * error was unhandled.
 *
 * Each case port-forwards with real kubectl (1.27: SPDY; 1.33: the WebSocket tunnel),
 * makes one request, kills kubectl, and checks that nothing was thrown and that the same
 * process still serves the next kubectl call. The ordinary pod's bytes are passthrough,
 * so they reach the stand-in by design; they must never reach shadowplane's own logs.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBed, type Bed } from '../../support/bed.ts';
import { runKubectl, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';
import { freePort } from '../../support/transfer.ts';

/** Pod addresses of this file (no other test file uses them). */
const REFUSING_IP = '127.0.4.21';
const ECHO_IP = '127.0.4.22';

let bed: Bed;
let home: KubectlHome;
let echo: Server;
let echoPort: number;
let refusedPort: number;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => void uncaught.push(err);

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  echo = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, ECHO_IP, resolve));
  echoPort = (echo.address() as { port: number }).port;
  // A port nothing listens on at the refusing pod's address (the demo's ordinary-web:80).
  refusedPort = await freePort();
  bed.api.addPod({ namespace: 'default', name: 'ordinary-refusing', containers: [{ name: 'web' }], podIP: REFUSING_IP });
  bed.api.addPod({ namespace: 'default', name: 'ordinary-echo', containers: [{ name: 'web' }], podIP: ECHO_IP });
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => echo?.close(() => resolve()));
  await bed?.close();
});

beforeEach(() => {
  uncaught.length = 0;
  process.on('uncaughtException', onUncaught);
});

afterEach(() => {
  process.off('uncaughtException', onUncaught);
});

/** Sends `data` and collects what comes back until the peer closes, resets, or 3 s pass. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(done, 3000);
    socket.on('data', (chunk: Buffer) => {
      got.push(chunk);
      if (Buffer.concat(got).length >= data.length) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(data);
  });
}

/** Opens a connection through the port-forward that stays open (kubectl is killed under it). */
function openConnection(port: number, data: Buffer): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.once('data', () => resolve(() => socket.destroy()));
    socket.once('close', () => reject(new Error('the forwarded connection closed before its echo')));
    socket.write(data);
  });
}

async function expectStillServing(version: KubectlVersion): Promise<void> {
  // Resets propagate asynchronously; give them time to surface before judging.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(uncaught).toEqual([]);
  const after = await runKubectl(version, home, ['get', 'pods', '-A', '-o', 'name']);
  expect(after.stderr).toBe('');
  expect(after.code).toBe(0);
  expect(after.stdout.toString()).toContain('pod/ordinary-echo');
}

describe.each(['1.27', '1.33'] as const)('kubectl %s port-forward to an ordinary pod', (version) => {
  it('keeps serving after kubectl is stopped following a connection the pod refused', async () => {
    const pf = startKubectl(version, home, ['port-forward', 'pod/ordinary-refusing', `:${refusedPort}`], { timeoutMs: 30_000 });
    const payload = Buffer.from(`refused-${randomBytes(8).toString('hex')}`);
    try {
      const [, local] = await pf.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
      expect((await exchange(Number(local), payload)).length).toBe(0);
      // kubectl resets the stream of the refused connection as it stops.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      pf.kill();
      await pf.result;
    }
    await expectStillServing(version);
    expect(bed.leaks(payload)).toMatchObject({ proxyLog: false, agentLogs: false });
  });

  it('keeps serving after kubectl is killed with a forwarded connection open', async () => {
    const pf = startKubectl(version, home, ['port-forward', 'pod/ordinary-echo', `:${echoPort}`], { timeoutMs: 30_000 });
    const payload = Buffer.from(`ordinary-${randomBytes(8).toString('hex')}`);
    try {
      const [, local] = await pf.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
      const close = await openConnection(Number(local), payload);
      pf.child.kill('SIGKILL');
      await pf.result;
      close();
    } finally {
      pf.kill();
      await pf.result;
    }
    await expectStillServing(version);
    // Passthrough: the ordinary pod's bytes went through the stand-in's kubelet, and nowhere into shadowplane's logs.
    expect(bed.leaks(payload)).toEqual({ apiServer: true, proxyLog: false, agentLogs: false });
  });
});
