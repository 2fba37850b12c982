/**
 * Many port-forward connections echoing both ways at once, with real kubectl 1.33 (the
 * WebSocket tunnel): every one of them finishes, and the pod's other operations (an
 * exec) keep working meanwhile.
 *
 * Bug (review F2): 300 connections × 256 KiB froze the one proxy↔agent session of the
 * pod (both ends stopped reading the socket while their writes were pending, see
 * src/channel/session-socket.ts); ~25 s later the proxy's ping ended the session and
 * every operation on the pod failed with SP_AGENT_SESSION_LOST.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, startKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { exchange } from '../../support/transfer.ts';

const CONNECTIONS = 300;
const SIZE = 256 * 1024;
const MARKER = 'pf-heavy-secret-7f3a91';

/** SIZE bytes for connection i: the marker, then a fill that differs per connection. */
function payloadOf(i: number): Buffer {
  const payload = Buffer.alloc(SIZE, i % 251);
  payload.write(MARKER, 0, 'latin1');
  return payload;
}

let bed: Bed;
let home: KubectlHome;
let echo: Server;
let echoPort: number;

beforeAll(async () => {
  // The in-process agents share this loopback: the pod's workload is this echo server.
  echo = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  echoPort = await new Promise<number>((resolve) => echo.listen(0, '127.0.0.1', () => resolve((echo.address() as { port: number }).port)));
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  await bed.startConfidentialPod({ name: 'conf-pf-heavy', command: ['sleep', '3600'] });
}, 90_000);

afterAll(async () => {
  echo?.close();
  await bed?.close();
});

it(`echoes ${CONNECTIONS} concurrent connections × ${SIZE / 1024} KiB both ways through kubectl 1.33, and an exec on the pod meanwhile succeeds`, async () => {
  const run = startKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'port-forward', 'pod/conf-pf-heavy', `:${echoPort}`], { timeoutMs: 120_000 });
  try {
    const [, local] = await run.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
    const started = performance.now();
    const echoes = Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => exchange(Number(local), payloadOf(i), 60_000).then((got) => got.equals(payloadOf(i)), () => false)));
    await new Promise((r) => setTimeout(r, 500));
    const exec = await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-pf-heavy', '--', 'echo', 'exec-ok'], { timeoutMs: 30_000 });
    const results = await echoes;
    const ms = performance.now() - started;
    console.log(`${CONNECTIONS} × ${SIZE / 1024} KiB echoed through kubectl 1.33 port-forward: ${results.filter(Boolean).length} ok in ${ms.toFixed(0)} ms`);
    expect(exec.stderr).toBe('');
    expect(exec.stdout.toString()).toBe('exec-ok\n');
    expect(exec.code).toBe(0);
    expect(results.filter((ok) => !ok).length).toBe(0);
    expect(run.child.exitCode).toBeNull();
    expect(bed.leaks(MARKER)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
  } finally {
    run.kill();
    await run.result;
  }
}, 150_000);
