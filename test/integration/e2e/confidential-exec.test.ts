/**
 * exec and attach on a confidential pod with real kubectl: SPDY (1.27), WebSocket v5 (1.30,
 * 1.33) and SPDY forced on a WebSocket-capable client (1.33 with the opt-out). Every test
 * moves a fresh secret and then proves the canary rule: the API server stand-in never saw
 * it, and neither did shadowplane's own logs (proxy and agents).
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, runKubectlPty, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';
import { SpdyFrameDecoder, SpdyFrameEncoder, type SpdyFrame } from '../../../src/kube-streams/spdy-frame.ts';

let bed: Bed;
let home: KubectlHome;
let ttyPods = 0;

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  await bed.startConfidentialPod({ name: 'conf-exec', command: ['sleep', '3600'] });
  await bed.startConfidentialPod({
    name: 'conf-attach',
    stdin: true,
    command: ['sh', '-c', 'while read line; do [ "$line" = quit ] && exit 7; echo "got $line"; done'],
  });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function secret(): string {
  return `canary-${randomBytes(12).toString('hex')}`;
}

function expectNoLeak(value: string | Buffer): void {
  expect(bed.leaks(value)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
}

const variants: [string, KubectlVersion, Record<string, string>][] = [
  ['1.27 (SPDY)', '1.27', {}],
  ['1.30 (WebSocket v5)', '1.30', {}],
  ['1.33 (WebSocket v5)', '1.33', {}],
  ['1.33 (SPDY forced)', '1.33', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }],
];

describe.each(variants)('kubectl %s', (_label, version, env) => {
  const kubectl = (args: readonly string[], stdin?: string | Buffer) =>
    runKubectl(version, home, ['-n', CONFIDENTIAL_NS, ...args], { env, timeoutMs: 30_000, ...(stdin === undefined ? {} : { stdin }) });

  it('runs a command and returns its stdout, stderr and exit code', async () => {
    const s = secret();
    const r = await kubectl(['exec', 'conf-exec', '-c', 'app', '--', 'sh', '-c', `echo out-${s}; echo err-${s} >&2; exit 3`]);
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe(`out-${s}\n`);
    expect(r.stderr).toContain(`err-${s}`);
    expectNoLeak(s);
  });

  it('returns exit code 0 and a zero-byte output cleanly', async () => {
    const r = await kubectl(['exec', 'conf-exec', '--', 'true']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
  });

  it('streams stdin to the command and ends it at EOF (-i)', async () => {
    const s = secret();
    const input = `${s}\n`.repeat(2000);
    const r = await kubectl(['exec', '-i', 'conf-exec', '--', 'sh', '-c', 'cat; echo done'], input);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${input}done\n`);
    expectNoLeak(s);
  });

  it('moves a few megabytes each way intact', async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const r = await kubectl(['exec', '-i', 'conf-exec', '--', 'cat'], payload);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(payload)).toBe(true);
    expectNoLeak(payload.subarray(1000, 1064));
  });

  it('says clearly when the command does not exist', async () => {
    const r = await kubectl(['exec', 'conf-exec', '--', 'definitely-not-a-command']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.length).toBeGreaterThan(0);
  });

  it('gives a terminal with -it, with the client size and resizes', async () => {
    const s = secret();
    const run = await runKubectlPty(version, home, ['-n', CONFIDENTIAL_NS, 'exec', '-it', 'conf-exec', '--', 'sh'], {
      cols: 91,
      rows: 27,
      env,
      timeoutMs: 30_000,
      script: async (io) => {
        io.write('stty size\r');
        await io.waitFor(/27 91/);
        io.resize(120, 40);
        await new Promise((r) => setTimeout(r, 300));
        io.write('stty size\r');
        await io.waitFor(/40 120/);
        io.write(`echo ${s.slice(0, 6)}""${s.slice(6)}\r`);
        await io.waitFor(new RegExp(s));
        io.write('exit 5\r');
      },
    });
    expect(run.scriptError).toBeUndefined();
    expect(run.code).toBe(5);
    expectNoLeak(s);
  });

  it('attaches with -it to a workload on a terminal (tty: true): its size, resizes, keystrokes and exit code', async () => {
    const s = secret();
    const name = `conf-tty-${ttyPods++}`;
    await bed.startConfidentialPod({
      name,
      stdin: true,
      tty: true,
      command: ['sh', '-c', 'while read line; do case "$line" in size) stty size;; quit) exit 6;; *) echo "tty-got $line";; esac; done'],
    });
    const run = await runKubectlPty(version, home, ['-n', CONFIDENTIAL_NS, 'attach', '-it', name, '-c', 'app'], {
      cols: 101,
      rows: 31,
      env,
      timeoutMs: 30_000,
      script: async (io) => {
        // kubectl sends its terminal size as it attaches.
        await new Promise((r) => setTimeout(r, 500));
        io.write('size\r');
        await io.waitFor(/31 101/);
        io.resize(120, 40);
        await new Promise((r) => setTimeout(r, 300));
        io.write('size\r');
        await io.waitFor(/40 120/);
        io.write(`${s}\r`);
        await io.waitFor(new RegExp(`tty-got ${s}`));
        io.write('quit\r');
      },
    });
    expect(run.scriptError).toBeUndefined();
    expect(run.code).toBe(6);
    expectNoLeak(s);
  });

  it('attaches to the workload: its stdin in, its output out', async () => {
    const s = secret();
    const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'attach', '-i', 'conf-attach', '-c', 'app'], { env, timeoutMs: 30_000, stdin: `${s}\n` });
    await run.waitForStdout(new RegExp(`got ${s}`));
    run.kill();
    await run.result;
    expectNoLeak(s);
  });
});

describe('a pod with two containers, each behind its own agent', () => {
  it('serves exec and logs of the container -c names, and refuses a container without an agent', async () => {
    await bed.startConfidentialPod({ name: 'conf-multi', container: 'app', podContainers: ['app', 'sidecar'], command: ['sh', '-c', 'echo from-app; sleep 3600'] });
    await bed.startConfidentialPod({ name: 'conf-multi', container: 'sidecar', command: ['sh', '-c', 'echo from-sidecar; sleep 3600'] });
    const kubectl = (args: readonly string[]) => runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, ...args]);
    // The second agent registers with the one holding the pod's port; give it a moment.
    let sidecar = await kubectl(['exec', 'conf-multi', '-c', 'sidecar', '--', 'sh', '-c', 'echo $0']);
    for (let i = 0; i < 20 && sidecar.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      sidecar = await kubectl(['exec', 'conf-multi', '-c', 'sidecar', '--', 'sh', '-c', 'echo $0']);
    }
    expect(sidecar.stdout.toString()).toBe('sh\n');
    const sidecarLogs = await kubectl(['logs', 'conf-multi', '-c', 'sidecar']);
    expect(sidecarLogs.stderr).toBe('');
    expect(sidecarLogs.stdout.toString()).toBe('from-sidecar\n');
    expect((await kubectl(['logs', 'conf-multi', '-c', 'app'])).stdout.toString()).toBe('from-app\n');
    const missing = await kubectl(['exec', 'conf-multi', '-c', 'nosuch', '--', 'true']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('SP_CONTAINER_NOT_FOUND');
  });
});

describe('audit', () => {
  it('records every confidential operation for auditors only, without command arguments', async () => {
    const s = secret();
    expect((await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-exec', '--', 'echo', s])).code).toBe(0);
    const auditor = await bed.verifiedHome(bed.users.auditor);
    const r = await runKubectl('1.33', auditor, ['get', '--raw', '/.well-known/shadowplane/audit']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout.toString()) as { items: { user: string; operation: string; pod: string; exitCode?: number; bytesOut: number; end?: string }[] };
    const mine = list.items.filter((i) => i.pod === 'conf-exec' && i.operation === 'exec' && i.user === 'alice');
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.at(-1)).toMatchObject({ exitCode: 0, bytesOut: s.length + 1 });
    expect(mine.at(-1)?.end).toBeDefined();
    expect(r.stdout.toString()).not.toContain(s);
    const denied = await runKubectl('1.33', home, ['get', '--raw', '/.well-known/shadowplane/audit']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('SP_FORBIDDEN');
  });

  // Bug (user review): a client that quit (Ctrl-C, a killed kubectl) was recorded and counted as
  // SP_AGENT_SESSION_LOST, an agent failure, which alerts on agent failures would page for.
  it.each([
    ['1.27', 'exec', '(no stdin)'],
    ['1.33', 'exec', '(no stdin)'],
    ['1.27', 'exec', '-i'],
    ['1.33', 'exec', '-i'],
    ['1.33', 'attach', '-i'],
  ] as const)('records a kubectl %s %s %s the user quits as SP_CLIENT_GONE, not as an agent failure', async (version, op, stdinFlag) => {
    const auditor = await bed.verifiedHome(bed.users.auditor);
    type Item = { user: string; operation: string; pod: string; error?: string; end?: string; start: string };
    const items = async (): Promise<Item[]> => (JSON.parse((await runKubectl('1.33', auditor, ['get', '--raw', '/.well-known/shadowplane/audit'])).stdout.toString()) as { items: Item[] }).items;
    const pod = op === 'exec' ? 'conf-exec' : 'conf-attach';
    const before = (await items()).filter((i) => i.pod === pod && i.operation === op).length;
    const flags = stdinFlag === '-i' ? ['-i'] : [];
    const args = op === 'exec' ? ['exec', ...flags, pod, '--', 'sh', '-c', 'echo ready; exec sleep 30'] : ['attach', ...flags, pod, '-c', 'app'];
    // stdin stays open: the operation runs until kubectl is killed.
    const stdin = new PassThrough();
    if (op === 'attach') stdin.write('hello\n');
    const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, ...args], { timeoutMs: 30_000, stdin });
    await run.waitForStdout(op === 'exec' ? /ready/ : /got hello/);
    run.kill();
    await run.result;
    let mine: Item | undefined;
    for (let i = 0; i < 50 && mine?.end === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      mine = (await items()).filter((i) => i.pod === pod && i.operation === op).slice(before).at(-1);
    }
    expect(mine).toMatchObject({ user: 'alice', error: 'SP_CLIENT_GONE' });
  });

  // Bug (review): every client abort was recorded as SP_CLIENT_GONE, so a client that broke
  // the SPDY protocol mid-exec looked like an ordinary Ctrl-C in the audit and the counters.
  it('records an exec whose client breaks the SPDY protocol mid-session with the protocol error, not as SP_CLIENT_GONE', async () => {
    const auditor = await bed.verifiedHome(bed.users.auditor);
    type Item = { user: string; operation: string; pod: string; protocol: string; error?: string; end?: string };
    const items = async (): Promise<Item[]> => (JSON.parse((await runKubectl('1.33', auditor, ['get', '--raw', '/.well-known/shadowplane/audit'])).stdout.toString()) as { items: Item[] }).items;
    const before = (await items()).filter((i) => i.pod === 'conf-exec' && i.operation === 'exec').length;
    const query = ['sh', '-c', 'echo ready; exec sleep 30'].map((c) => `command=${encodeURIComponent(c)}`).join('&');
    const socket = tlsConnect({ host: '127.0.0.1', port: bed.proxy.port, ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, ALPNProtocols: ['http/1.1'] });
    try {
      const frames: SpdyFrame[] = [];
      const decoder = new SpdyFrameDecoder((f) => frames.push(f.type === 'data' ? { ...f, data: Buffer.from(f.data) } : f));
      let head = Buffer.alloc(0);
      let upgraded = false;
      socket.on('data', (chunk: Buffer) => {
        if (upgraded) return decoder.push(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return undefined;
        upgraded = head.toString('latin1', 0, end).startsWith('HTTP/1.1 101');
        if (upgraded) decoder.push(head.subarray(end + 4));
        return undefined;
      });
      socket.write(
        `POST /api/v1/namespaces/${CONFIDENTIAL_NS}/pods/conf-exec/exec?${query}&container=app&stdout=true HTTP/1.1\r\nHost: shadowplane\r\n` +
          'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n',
      );
      await vi.waitFor(() => expect(upgraded).toBe(true), { timeout: 10_000 });
      const encoder = new SpdyFrameEncoder();
      socket.write(encoder.synStream(1, [['streamtype', 'error']]));
      socket.write(encoder.synStream(3, [['streamtype', 'stdout']]));
      const stdout = (): string => Buffer.concat(frames.flatMap((f) => (f.type === 'data' && f.streamId === 3 ? [f.data] : []))).toString();
      await vi.waitFor(() => expect(stdout()).toBe('ready\n'), { timeout: 10_000 });
      // A control frame of SPDY version 2: the proxy ends the connection with a protocol error.
      socket.write(Buffer.from([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01]));
      let mine: Item | undefined;
      for (let i = 0; i < 50 && mine?.end === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        mine = (await items()).filter((i) => i.pod === 'conf-exec' && i.operation === 'exec').slice(before).at(-1);
      }
      expect(mine).toMatchObject({ user: 'alice', protocol: 'spdy/v4.channel.k8s.io', error: 'SP_FRAME_INVALID' });
      expect(frames.some((f) => f.type === 'goaway')).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('records refused operations too, with the refusal code and without their arguments', async () => {
    const s = secret();
    const bob = await bed.verifiedHome(bed.users.bob);
    // Not authorised (bob has no permissions), over SPDY and WebSocket.
    for (const version of ['1.27', '1.33'] as const) {
      const r = await runKubectl(version, bob, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-exec', '--', 'echo', s], { timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('SP_FORBIDDEN');
    }
    // Authorised, but nothing answers at the pod's address.
    bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: 'conf-no-agent', containers: [{ name: 'app' }], podIP: '127.0.3.9' });
    const gone = await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-no-agent'], { timeoutMs: 30_000 });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('SP_AGENT_UNREACHABLE');
    const auditor = await bed.verifiedHome(bed.users.auditor);
    const r = await runKubectl('1.33', auditor, ['get', '--raw', '/.well-known/shadowplane/audit']);
    expect(r.code).toBe(0);
    const items = (JSON.parse(r.stdout.toString()) as { items: { user: string; operation: string; pod: string; protocol: string; error?: string; end?: string }[] }).items;
    const refused = items.filter((i) => i.user === 'bob');
    // 1.27 asks once over SPDY; 1.33 over WebSocket, then again over SPDY (its fallback).
    expect(refused.map((i) => [i.operation, i.pod, i.error])).toEqual(Array(3).fill(['exec', 'conf-exec', 'SP_FORBIDDEN']));
    expect(refused.map((i) => i.protocol)).toEqual([expect.stringContaining('spdy'), expect.stringContaining('websocket'), expect.stringContaining('spdy')]);
    for (const i of refused) expect(i.end).toBeDefined();
    const lost = items.filter((i) => i.user === 'alice' && i.pod === 'conf-no-agent');
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ operation: 'logs', protocol: 'h2', error: 'SP_AGENT_UNREACHABLE' });
    expect(r.stdout.toString()).not.toContain(s);
    expectNoLeak(s);
    // The proxy's log names who was refused, and not what they asked to run.
    expect(bed.proxyLog.text()).toMatch(/"user":"bob"[^\n]*confidential operation refused|confidential operation refused[^\n]*"user":"bob"/);
  });
});
