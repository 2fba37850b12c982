/**
 * `kubectl cp` both ways over SPDY (1.27) and WebSocket v5 (1.33). The stand-in's "pod"
 * is this machine, so the remote paths are private temporary directories: cp exercises
 * tar over stdout, tar over stdin ended by the v5 close signal or SPDY FIN, and the exit
 * code of `test -d`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubectlHome, runKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let server: StreamTestServer;
let home: KubectlHome;
let remote: string;
let local: string;

beforeAll(async () => {
  server = await startStreamTestServer();
  home = createKubectlHome({ server: server.url, caPem: server.caPem, token: server.token });
  remote = mkdtempSync(join(tmpdir(), 'sp-cp-remote-'));
  local = mkdtempSync(join(tmpdir(), 'sp-cp-local-'));
});

afterAll(async () => {
  await server.close();
  home.dispose();
  rmSync(remote, { recursive: true, force: true });
  rmSync(local, { recursive: true, force: true });
});

describe.each(['1.27', '1.33'] as const)('kubectl %s cp', (version) => {
  it('copies a 2 MiB file from the pod and back intact', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const source = join(remote, `from-pod-${version}.bin`);
    writeFileSync(source, content);
    const downloaded = join(local, `downloaded-${version}.bin`);
    const down = await runKubectl(version, home, ['cp', `p1:${source}`, downloaded], { timeoutMs: 30_000 });
    expect(down.code, down.stderr).toBe(0);
    expect(sha256(readFileSync(downloaded))).toBe(sha256(content));

    const uploaded = join(remote, `uploaded-${version}.bin`);
    const up = await runKubectl(version, home, ['cp', downloaded, `p1:${uploaded}`], { timeoutMs: 30_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(sha256(readFileSync(uploaded))).toBe(sha256(content));
  });
});
