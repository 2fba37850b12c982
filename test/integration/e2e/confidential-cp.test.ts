/**
 * kubectl cp into and out of a confidential pod (tar over exec: stdin half-close, exit
 * codes, no flow-control stall), 100 MB each way checked by SHA-256, with kubectl 1.27
 * (SPDY) and 1.33 (WebSocket v5). The file's bytes never reach the API server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

const SIZE = 100 * 1024 * 1024;
let bed: Bed;
let home: KubectlHome;
let source: string;
let sourceSha: string;
const marker = Buffer.from(`cp-canary-${randomBytes(8).toString('hex')}`);

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  await bed.startConfidentialPod({ name: 'conf-cp', command: ['sleep', '3600'] });
  source = join(bed.dir, 'payload.bin');
  const data = randomBytes(SIZE);
  marker.copy(data, 4096);
  writeFileSync(source, data);
  sourceSha = createHash('sha256').update(data).digest('hex');
}, 120_000);

afterAll(async () => {
  await bed?.close();
});

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

describe.each(['1.27', '1.33'] as KubectlVersion[])('kubectl %s cp', (version) => {
  it('copies 100 MB into the pod and back out, byte for byte', async () => {
    // The "container filesystem" of a test pod is this machine's; give it its own directory.
    const podDir = join(bed.dir, `pod-fs-${version}`);
    mkdirSync(podDir);
    const up = await runKubectl(version, home, ['cp', source, `${CONFIDENTIAL_NS}/conf-cp:${podDir}/in.bin`, '-c', 'app'], { timeoutMs: 180_000 });
    expect(up.stderr.replace(/tar: Removing leading .*\n/g, '')).toBe('');
    expect(up.code).toBe(0);
    expect(await sha256File(join(podDir, 'in.bin'))).toBe(sourceSha);

    const back = join(bed.dir, `back-${version}.bin`);
    const down = await runKubectl(version, home, ['cp', `${CONFIDENTIAL_NS}/conf-cp:${podDir}/in.bin`, back, '-c', 'app'], { timeoutMs: 180_000 });
    expect(down.code).toBe(0);
    expect(await sha256File(back)).toBe(sourceSha);

    expect(bed.leaks(marker)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
  }, 240_000);
});
