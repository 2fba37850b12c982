import { randomBytes } from 'node:crypto';
/**
 * `kubectl logs -f` on a confidential pod whose agent dies mid-stream, with real kubectl
 * 1.27 and 1.33. The API server copies the kubelet's log stream and ignores a copy error
 * (apiserver endpoints/handlers/responsewriters `StreamObject`: `io.Copy(writer, out)`), so
 * when the node side breaks the body simply ends and kubectl exits 0 with what it got.
 * shadowplane must do the same: the lines already sent stay, the stream ends cleanly (no
 * raw "stream error: ... INTERNAL_ERROR" from kubectl), and the proxy logs the channel's
 * error code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type AgentHandle, type Bed } from '../../support/bed.ts';
import { startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

let bed: Bed;
let home: KubectlHome;

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

/** The proxy's 'logs served' lines for `pod`. */
function logsServed(pod: string): Array<{ code?: string; follow: boolean; bytesOut: number }> {
  return bed.proxyLog
    .text()
    .split('\n')
    .filter((line) => line.includes('"logs served"') && line.includes(`"pod":"${pod}"`))
    .map((line) => JSON.parse(line) as { code?: string; follow: boolean; bytesOut: number });
}

describe.each(['1.27', '1.33'] as KubectlVersion[])('kubectl %s logs -f', (version) => {
  it('ends cleanly, keeping the lines already shown, when the pod agent dies mid-stream', async () => {
    const pod = `conf-dying-${version.replace('.', '')}`;
    // Each line carries a canary: the log lines must reach kubectl and nothing else.
    const canary = `canary${randomBytes(8).toString('hex')}`;
    const agent: AgentHandle = await bed.startConfidentialPod({ name: pod, command: ['sh', '-c', `i=0; while :; do i=$((i+1)); echo "d$i ${canary}"; sleep 0.2; done`] });
    const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'logs', '-f', pod], { timeoutMs: 30_000 });
    await run.waitForStdout(/^d3 /m);
    // The whole pod at once: the agent and its workload (their own process group).
    process.kill(-agent.child.pid!, 'SIGKILL');
    const result = await run.result;
    expect(result.timedOut).toBe(false);
    expect(result.stderr).not.toMatch(/stream error|INTERNAL_ERROR|unexpected EOF/);
    expect(result.code).toBe(0);
    const lines = result.stdout.toString().split('\n').filter(Boolean);
    expect(lines.slice(0, 3)).toEqual([`d1 ${canary}`, `d2 ${canary}`, `d3 ${canary}`]);
    lines.forEach((line, i) => expect(line).toBe(`d${i + 1} ${canary}`));
    expect(bed.leaks(canary)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
    // The proxy says why the stream ended (bounded wait for its log line).
    for (let waited = 0; waited < 5000 && logsServed(pod).length === 0; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(logsServed(pod)).toEqual([expect.objectContaining({ follow: true, code: 'SP_AGENT_SESSION_LOST' })]);
  }, 60_000);
});
