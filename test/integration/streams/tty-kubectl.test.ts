/**
 * `kubectl exec -it` under a real pseudo-terminal (node-pty), over SPDY (1.27, and 1.33
 * with WebSockets off) and WebSocket v5 (1.33): the initial terminal size and a later
 * resize reach the remote command, typed input reaches it, and its exit code comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubectlHome, runKubectlPty, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';
import { startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';

const CASES: ReadonlyArray<{ name: string; version: KubectlVersion; env?: Record<string, string>; protocol: string }> = [
  { name: 'kubectl 1.27 (SPDY)', version: '1.27', protocol: 'spdy/v4.channel.k8s.io' },
  { name: 'kubectl 1.33 (WebSocket v5)', version: '1.33', protocol: 'v5.channel.k8s.io' },
  { name: 'kubectl 1.33 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false', version: '1.33', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, protocol: 'spdy/v4.channel.k8s.io' },
];

let server: StreamTestServer;
let home: KubectlHome;

beforeAll(async () => {
  server = await startStreamTestServer();
  home = createKubectlHome({ server: server.url, caPem: server.caPem, token: server.token });
});

afterAll(async () => {
  await server.close();
  home.dispose();
});

describe.each(CASES)('exec -it with $name', ({ version, env, protocol }) => {
  it('carries the terminal size, a resize, typed input and the exit code', async () => {
    const before = server.sessions.length;
    const script = 'stty size; read first; stty size; read second; echo "got:$second"; exit 5';
    const run = await runKubectlPty(version, home, ['exec', '-it', 'p1', '--', 'sh', '-c', script], {
      cols: 100,
      rows: 30,
      env,
      script: async ({ waitFor, write, resize }) => {
        await waitFor(/30 100/);
        resize(120, 40);
        // Give kubectl's SIGWINCH handler a moment to send the new size before stty runs.
        await new Promise((resolve) => setTimeout(resolve, 300));
        write('x\r');
        await waitFor(/40 120/);
        write('bye\r');
        await waitFor(/got:bye/);
      },
    });
    expect(run.scriptError).toBeUndefined();
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(5);
    expect(server.sessions.slice(before).map((s) => s.protocol)).toEqual([protocol]);
    expect(server.sessions.at(-1)?.result).toEqual({ kind: 'exit', code: 5 });
  });
});
