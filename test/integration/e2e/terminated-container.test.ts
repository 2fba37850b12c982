/**
 * `kubectl logs` for a confidential pod whose container no longer runs. Its agent ends
 * with the container, so nothing inside the pod can answer; the proxy, which still never
 * asks the API server for the logs, says why (SP_CONTAINER_NOT_RUNNING, with where the
 * logs are: the next run's `--previous`) instead of a network error. A pod whose container
 * the API server reports running while its agent does not answer keeps
 * SP_AGENT_UNREACHABLE. Real kubectl 1.27 (SPDY era) and 1.33.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type AgentHandle, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

const canary = `canary-${randomBytes(12).toString('hex')}`;
let bed: Bed;
let home: KubectlHome;
let down: AgentHandle;

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  // A workload that prints a line with the canary and crashes: its agent exits with it.
  const crashed = await bed.startConfidentialPod({ name: 'conf-crashed', command: ['sh', '-c', `echo ${canary}; exit 3`] });
  expect(await crashed.exited).toBe(3);
  bed.api.setPodPhase(CONFIDENTIAL_NS, 'conf-crashed', 'Failed');
  // One whose agent is gone while the API server still says its container runs.
  down = await bed.startConfidentialPod({ name: 'conf-down', command: ['sleep', '3600'] });
  down.child.kill('SIGKILL');
  await down.exited;
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

describe.each([
  ['1.27', '1.27'],
  ['1.33', '1.33'],
] as [string, KubectlVersion][])('kubectl %s logs', (_label, version) => {
  it('of a pod whose container no longer runs says so and where its logs are, and asks the API server nothing', async () => {
    const r = await runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-crashed'], { timeoutMs: 30_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('SP_CONTAINER_NOT_RUNNING');
    expect(r.stderr).toContain('kubectl logs --previous');
    expect(bed.api.requests.filter((q) => q.path.startsWith(`/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/conf-crashed/`))).toEqual([]);
    expect(bed.leaks(canary)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
  });

  it('of a pod whose agent does not answer while its container runs stays SP_AGENT_UNREACHABLE', async () => {
    const r = await runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-down'], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_AGENT_UNREACHABLE');
    expect(bed.api.requests.filter((q) => q.path.startsWith(`/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/conf-down/`))).toEqual([]);
  });
});
