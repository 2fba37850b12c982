/**
 * Real kubectl (1.27 … 1.33) running exec and attach against the stream test server,
 * whose sessions are served by shadowplane's terminators. Each case names the protocol
 * that kubectl version negotiates by default or under its opt-in/opt-out variables
 * (PROTOCOLS.md A.1).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShadowplaneError } from '../../../src/errors.ts';
import { createKubectlHome, runKubectl, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';
import { runLocalProcess, startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';

interface Case {
  readonly name: string;
  readonly version: KubectlVersion;
  readonly env?: Readonly<Record<string, string>>;
  readonly protocol: string;
}

const CASES: readonly Case[] = [
  { name: 'kubectl 1.27 (SPDY only)', version: '1.27', protocol: 'spdy/v4.channel.k8s.io' },
  { name: 'kubectl 1.29 (SPDY by default)', version: '1.29', protocol: 'spdy/v4.channel.k8s.io' },
  { name: 'kubectl 1.29 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true', version: '1.29', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true' }, protocol: 'v5.channel.k8s.io' },
  { name: 'kubectl 1.30 (WebSocket v5)', version: '1.30', protocol: 'v5.channel.k8s.io' },
  { name: 'kubectl 1.31 (WebSocket v5)', version: '1.31', protocol: 'v5.channel.k8s.io' },
  { name: 'kubectl 1.33 (WebSocket v5)', version: '1.33', protocol: 'v5.channel.k8s.io' },
  { name: 'kubectl 1.33 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false', version: '1.33', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, protocol: 'spdy/v4.channel.k8s.io' },
];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let server: StreamTestServer;
let home: KubectlHome;

beforeAll(async () => {
  server = await startStreamTestServer({
    // `sp-error` ends the session with a shadowplane error instead of running anything.
    exec: async (session, request) => {
      if (request.command[0] === 'sp-error') {
        await session.finish({ kind: 'error', error: new ShadowplaneError('SP_AGENT_UNREACHABLE') });
        return;
      }
      await runLocalProcess(session, request);
    },
    refuse: (_operation, req) => (req.url?.includes('/pods/denied/') ? new ShadowplaneError('SP_FORBIDDEN', 'exec in default') : undefined),
  });
  home = createKubectlHome({ server: server.url, caPem: server.caPem, token: server.token });
});

afterAll(async () => {
  await server.close();
  home.dispose();
});

describe.each(CASES)('exec with $name', ({ version, env, protocol }) => {
  it('keeps stdout and stderr apart and exits with the remote exit code', async () => {
    const before = server.sessions.length;
    const result = await runKubectl(version, home, ['exec', 'p1', '--', 'sh', '-c', 'printf out; printf err >&2; exit 3'], { env });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(3);
    expect(result.stdout.toString()).toBe('out');
    expect(result.stderr).toContain('err');
    expect(server.sessions.slice(before).map((s) => s.protocol)).toEqual([protocol]);
    expect(server.sessions.at(-1)?.result).toEqual({ kind: 'exit', code: 3 });
  });

  it('exits 0 after a successful command', async () => {
    const result = await runKubectl(version, home, ['exec', 'p1', '-c', 'c1', '--', 'true'], { env });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('passes stdin through and ends it at EOF (echo data | kubectl exec -i … cat)', async () => {
    const result = await runKubectl(version, home, ['exec', '-i', 'p1', '--', 'cat'], { env, stdin: 'data\n' });
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe('data\n');
  });

  it('round-trips 4 MiB through stdin and stdout intact (sha256)', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const result = await runKubectl(version, home, ['exec', '-i', 'p1', '--', 'cat'], { env, stdin: payload, timeoutMs: 30_000 });
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(payload.length);
    expect(sha256(result.stdout)).toBe(sha256(payload));
    expect(server.sessions.at(-1)?.counters).toEqual({ bytesIn: payload.length, bytesOut: payload.length });
  });

  it('downloads 3 MiB of stdout while uploading 3 MiB of stdin (sha256 both ways)', async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const result = await runKubectl(version, home, ['exec', '-i', 'p1', '--', 'sh', '-c', 'sha256sum >&2; head -c 3145728 /dev/zero'], {
      env,
      stdin: payload,
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(sha256(payload));
    expect(sha256(result.stdout)).toBe(sha256(Buffer.alloc(3 * 1024 * 1024)));
  });

  it('shows a shadowplane error Status as the error message and exits 1', async () => {
    const result = await runKubectl(version, home, ['exec', 'p1', '--', 'sp-error'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SP_AGENT_UNREACHABLE: the pod agent cannot be reached');
  });

  it('attaches with stdin (served as cat by the stand-in)', async () => {
    const result = await runKubectl(version, home, ['attach', '-i', 'p1', '-c', 'c1'], { env, stdin: 'attached\n' });
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toContain('attached\n');
    expect(server.sessions.at(-1)?.operation).toBe('attach');
  });

  it('prints the Status of a refused upgrade', async () => {
    const before = server.upgrades.length;
    const result = await runKubectl(version, home, ['exec', 'denied', '--', 'true'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SP_FORBIDDEN');
    const attempts = server.upgrades.slice(before);
    expect(attempts.every((a) => a.refused)).toBe(true);
    // kubectl 1.30+ retries a refused WebSocket upgrade over SPDY: the same answer twice.
    expect(attempts.map((a) => a.transport)).toEqual(protocol.startsWith('v5') ? ['websocket', 'spdy/3.1'] : ['spdy/3.1']);
  });

  it('aborts the session when kubectl goes away mid-command', async () => {
    const before = server.sessions.length;
    const kubectl = startKubectl(version, home, ['exec', 'p1', '--', 'sh', '-c', 'echo started; sleep 30'], { env });
    await kubectl.waitForStdout(/started/);
    const record = server.sessions[before]!;
    expect(record.aborted.aborted).toBe(false);
    kubectl.child.kill('SIGKILL');
    await kubectl.result;
    const deadline = Date.now() + 5000;
    while (!record.aborted.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(record.aborted.aborted).toBe(true);
    expect(record.aborted.reason).toMatchObject({ code: 'SP_CLIENT_GONE' });
  });
});
