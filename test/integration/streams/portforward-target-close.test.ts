/**
 * port-forward into a confidential pod when the pod's side closes first (a server that
 * sends a banner and closes, an auth rejection, HTTP `Connection: close`), with real
 * kubectl over every transport: SPDY (1.27, 1.30, 1.33 with the opt-out) and the
 * WebSocket tunnel (1.33).
 *
 * kubectl ≤ 1.30 closes the user's local connection only once the server ended the error
 * stream (client-go tools/portforward `handleConnection` waits on `<-errorChan` after the
 * remote copy finished, without resetting the data stream); kubectl ≥ 1.31 resets the data
 * stream first. Either way the local connection must get the pod's bytes and EOF within a
 * few seconds, the client's bytes sent before the close must reach the pod intact, and a
 * half-close from the client side must still work. Nothing of it reaches the API server
 * stand-in or shadowplane's logs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { startKubectl, type KubectlHome, type KubectlProcess, type KubectlVersion } from '../../support/kubectl.ts';
import { exchange } from '../../support/transfer.ts';

/** Longest a local connection may wait for EOF after the pod's side closed. */
const EOF_WITHIN_MS = 5000;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let bed: Bed;
let home: KubectlHome;
const servers: Server[] = [];
/** Per-test markers the targets embed, so leaks can be checked per variant. */
const banners: Buffer[] = [];
let bannerPort = 0;
let requestPort = 0;
let echoPort = 0;
let requestSize = 0;

async function listen(handler: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    handler(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  // Speaks first, then closes (SMTP greeting, a refused login, redis after QUIT).
  bannerPort = await listen((socket) => {
    const banner = Buffer.from(`220 banner-${randomBytes(8).toString('hex')} ready\r\n`);
    banners.push(banner);
    socket.end(banner);
  });
  // Reads a request of `requestSize` bytes, answers with its digest and closes (HTTP with
  // Connection: close): the client never half-closes.
  requestPort = await listen((socket) => {
    const chunks: Buffer[] = [];
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= requestSize) socket.end(`digest ${sha256(Buffer.concat(chunks))}\n`);
    });
  });
  // Echoes and half-closes when the client does.
  echoPort = await listen((socket) => {
    socket.pipe(socket);
  });
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  await bed.startConfidentialPod({ name: 'conf-pfclose', command: ['sleep', '3600'] });
}, 90_000);

afterAll(async () => {
  for (const server of servers) server.close();
  await bed?.close();
});

interface Received {
  readonly data: Buffer;
  /** Milliseconds from the first received byte to EOF. */
  readonly eofAfterMs: number;
}

/** Connects, sends `payload` without half-closing, and collects until EOF (bounded). */
function receiveUntilEof(port: number, payload?: Buffer): Promise<Received> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let firstByteAt = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no EOF within ${EOF_WITHIN_MS * 2} ms; got ${Buffer.concat(chunks).length} bytes`));
    }, EOF_WITHIN_MS * 2);
    socket.on('connect', () => {
      if (payload !== undefined) socket.write(payload);
    });
    socket.on('data', (chunk: Buffer) => {
      if (firstByteAt === 0) firstByteAt = Date.now();
      chunks.push(chunk);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), eofAfterMs: Date.now() - firstByteAt });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function forward(version: KubectlVersion, env: Record<string, string>, remotePort: number): Promise<{ run: KubectlProcess; local: number }> {
  const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'port-forward', 'pod/conf-pfclose', `:${remotePort}`], { env, timeoutMs: 60_000 });
  const [, local] = await run.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
  return { run, local: Number(local) };
}

/** The proxy's 'port-forward ended' log lines so far. */
function sessionsEnded(): Array<{ connections: number; failures: number }> {
  return bed.proxyLog
    .text()
    .split('\n')
    .filter((line) => line.includes('"port-forward ended"'))
    .map((line) => JSON.parse(line) as { connections: number; failures: number });
}

/** Waits (bounded) for the next 'port-forward ended' line after `count` of them. */
async function nextSessionEnd(count: number): Promise<{ connections: number; failures: number }> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const ended = sessionsEnded();
    if (ended.length > count) return ended[count]!;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the proxy did not end the port-forward session within 10 s');
}

function expectNoLeak(value: string | Buffer): void {
  expect(bed.leaks(value)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
}

const variants: [string, KubectlVersion, Record<string, string>][] = [
  ['1.27 (SPDY)', '1.27', {}],
  ['1.30 (SPDY)', '1.30', {}],
  ['1.33 (WebSocket tunnel)', '1.33', {}],
  ['1.33 (SPDY forced)', '1.33', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
];

describe.each(variants)('kubectl %s port-forward, the pod closes first', (_label, version, env) => {
  it('a banner then close: the local connection gets the banner and EOF promptly, repeatedly', async () => {
    const endedBefore = sessionsEnded().length;
    const { run, local } = await forward(version, env, bannerPort);
    try {
      for (let i = 0; i < 3; i++) {
        const before = banners.length;
        const got = await receiveUntilEof(local);
        const banner = banners[before]!;
        expect(got.data.equals(banner)).toBe(true);
        expect(got.eofAfterMs).toBeLessThan(EOF_WITHIN_MS);
        expectNoLeak(banner.subarray(4, 27));
      }
    } finally {
      run.kill();
      await run.result;
    }
    const result = await run.result;
    expect(result.stderr).not.toMatch(/an error occurred forwarding|lost connection/);
    // Each connection ended cleanly, including kubectl ≥ 1.31's reset after the pod's EOF.
    expect(await nextSessionEnd(endedBefore)).toMatchObject({ connections: 3, failures: 0 });
  }, 60_000);

  it('a request answered with Connection: close: every request byte reaches the pod, the answer and EOF reach the client', async () => {
    requestSize = 256 * 1024;
    const marker = Buffer.from(`pf-request-${randomBytes(8).toString('hex')}`);
    const request = Buffer.concat([marker, randomBytes(requestSize - marker.length)]);
    const { run, local } = await forward(version, env, requestPort);
    try {
      const got = await receiveUntilEof(local, request);
      expect(got.data.toString('utf8')).toBe(`digest ${sha256(request)}\n`);
      expect(got.eofAfterMs).toBeLessThan(EOF_WITHIN_MS);
      expectNoLeak(marker);
    } finally {
      run.kill();
      await run.result;
    }
  }, 60_000);

  it('a client that half-closes first still gets the whole answer', async () => {
    const { run, local } = await forward(version, env, echoPort);
    try {
      const payloads = [randomBytes(1000), randomBytes(512 * 1024)];
      const echoed = await Promise.all(payloads.map((p) => exchange(local, p, 20_000)));
      echoed.forEach((got, i) => expect(sha256(got)).toBe(sha256(payloads[i]!)));
    } finally {
      run.kill();
      await run.result;
    }
  }, 60_000);
});
