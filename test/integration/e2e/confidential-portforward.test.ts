/**
 * port-forward into a confidential pod with real kubectl, over every transport kubectl has:
 * SPDY (1.27, 1.30, 1.33 with the opt-out) and the WebSocket tunnel (1.31+ default).
 * Several concurrent connections move 100 MB each way, checked by SHA-256; a real debugging
 * session drives a Node inspector inside the pod; nothing of it reaches the API server.
 */
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { startKubectl, type KubectlHome, type KubectlProcess, type KubectlVersion } from '../../support/kubectl.ts';
import { echoTransfer, freePort } from '../../support/transfer.ts';

const ECHO = fileURLToPath(new URL('../../fixtures/workloads/echo.mjs', import.meta.url));
const INSPECTEE = fileURLToPath(new URL('../../fixtures/workloads/inspectee.mjs', import.meta.url));
const MB = 1024 * 1024;

let bed: Bed;
let home: KubectlHome;
let echoPort: number;

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  echoPort = await freePort();
  await bed.startConfidentialPod({ name: 'conf-pf', command: [process.execPath, ECHO, String(echoPort)] });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function expectNoLeak(value: string | Buffer): void {
  expect(bed.leaks(value)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
}

async function forward(version: KubectlVersion, env: Record<string, string>, pod: string, remotePort: number): Promise<{ run: KubectlProcess; local: number }> {
  const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'port-forward', `pod/${pod}`, `:${remotePort}`], { env, timeoutMs: 240_000 });
  const [, local] = await run.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
  return { run, local: Number(local) };
}

const variants: [string, KubectlVersion, Record<string, string>, number][] = [
  ['1.27 (SPDY)', '1.27', {}, 100 * MB],
  ['1.30 (SPDY)', '1.30', {}, 16 * MB],
  ['1.33 (WebSocket tunnel)', '1.33', {}, 100 * MB],
  ['1.33 (SPDY forced)', '1.33', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, 16 * MB],
];

describe.each(variants)('kubectl %s port-forward', (_label, version, env, size) => {
  it(`moves ${size / MB} MB each way on each of 3 concurrent connections, intact`, async () => {
    const { run, local } = await forward(version, env, 'conf-pf', echoPort);
    try {
      const marker = Buffer.from(`pf-canary-${randomBytes(8).toString('hex')}`);
      const results = await Promise.all([0, 1, 2].map((i) => echoTransfer(local, size, { marker: i === 0 ? marker : undefined, timeoutMs: 200_000 })));
      for (const r of results) {
        expect(r.bytes).toBe(size);
        expect(r.receivedSha256).toBe(r.sentSha256);
      }
      expectNoLeak(marker);
    } finally {
      run.kill();
      await run.result;
    }
  }, 240_000);

  it('reports a port nothing listens on, the way kubectl prints it', async () => {
    const closed = await freePort();
    const { run, local } = await forward(version, env, 'conf-pf', closed);
    try {
      await echoTransfer(local, 10, { timeoutMs: 10_000 }).catch(() => undefined);
      const r = await run.result;
      expect(r.stderr).toMatch(/an error occurred forwarding \d+ -> \d+: .*SP_PORT_FORWARD_FAILED/);
    } finally {
      run.kill();
      await run.result;
    }
  }, 60_000);
});

describe('a real debugging session through port-forward', () => {
  it('drives a Node inspector inside the pod: evaluates an expression and stops at a breakpoint', async () => {
    const secret = `dbg-${randomBytes(8).toString('hex')}`;
    const inspectPort = await freePort();
    await bed.startConfidentialPod({ name: 'conf-debug', command: [process.execPath, `--inspect=127.0.0.1:${inspectPort}`, INSPECTEE, secret] });
    await new Promise((r) => setTimeout(r, 300));
    const { run, local } = await forward('1.33', {}, 'conf-debug', inspectPort);
    try {
      const targets = await getJson<{ webSocketDebuggerUrl: string }[]>(`http://127.0.0.1:${local}/json/list`);
      const wsUrl = targets[0]!.webSocketDebuggerUrl.replace(`127.0.0.1:${inspectPort}`, `127.0.0.1:${local}`);
      const cdp = await Cdp.connect(wsUrl);
      try {
        expect(await cdp.send('Runtime.evaluate', { expression: '6 * 7' })).toMatchObject({ result: { value: 42 } });
        await cdp.send('Debugger.enable', {});
        // tick() body: `const local = ...` is line 7 (0-based 6) of inspectee.mjs.
        await cdp.send('Debugger.setBreakpointByUrl', { urlRegex: 'inspectee\\.mjs$', lineNumber: 6 });
        const paused = (await cdp.next('Debugger.paused')) as { callFrames: { functionName: string; callFrameId: string }[] };
        expect(paused.callFrames[0]?.functionName).toBe('tick');
        await cdp.send('Debugger.stepOver', {});
        const stepped = (await cdp.next('Debugger.paused')) as { callFrames: { callFrameId: string }[] };
        const value = await cdp.send('Debugger.evaluateOnCallFrame', { callFrameId: stepped.callFrames[0]!.callFrameId, expression: 'local' });
        expect((value as { result: { value: string } }).result.value).toMatch(new RegExp(`^${secret}-\\d+$`));
        await cdp.send('Debugger.removeBreakpoint', { breakpointId: 'all' }).catch(() => undefined);
        await cdp.send('Debugger.resume', {});
      } finally {
        cdp.close();
      }
      expectNoLeak(secret);
    } finally {
      run.kill();
      await run.result;
    }
  }, 60_000);
});

function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T));
    }).on('error', reject);
  });
}

/** A minimal Chrome DevTools Protocol client over `ws`. */
class Cdp {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #events: { method: string; params: unknown }[] = [];
  #waiters: { method: string; resolve: (v: unknown) => void }[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method !== undefined) {
        const w = this.#waiters.findIndex((x) => x.method === msg.method);
        if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(msg.params);
        else this.#events.push({ method: msg.method, params: msg.params });
      }
    });
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(new Cdp(ws)));
      ws.once('error', reject);
    });
  }

  send(method: string, params: object): Promise<unknown> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return withTimeout(new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject })), `${method} answer`);
  }

  next(method: string): Promise<unknown> {
    const i = this.#events.findIndex((e) => e.method === method);
    if (i >= 0) return Promise.resolve(this.#events.splice(i, 1)[0]!.params);
    return withTimeout(new Promise((resolve) => this.#waiters.push({ method, resolve })), method);
  }

  close(): void {
    this.#ws.close();
  }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000))]);
}
