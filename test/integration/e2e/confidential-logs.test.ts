/**
 * kubectl logs on a confidential pod: served from the agent's log store inside the pod,
 * with every flag kubectl has, --previous after a container restart, and the canary rule
 * (log lines never reach the API server, the host's view of the container's stdout, or
 * shadowplane's logs).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type AgentHandle, type Bed } from '../../support/bed.ts';
import { runKubectl, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

let bed: Bed;
let home: KubectlHome;
const secret = `log-canary-${randomBytes(12).toString('hex')}`;
let writer: AgentHandle;

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
  // Five lines at once, then a line every 200 ms for follow.
  writer = await bed.startConfidentialPod({
    name: 'conf-logs',
    command: ['sh', '-c', `for i in 1 2 3 4 5; do echo "line $i ${secret}"; done; echo "to stderr" >&2; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done`],
  });
  // Wait (bounded) until the workload has ticked a few times, however busy the machine is.
  for (let i = 0; i < 100; i++) {
    const r = await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-logs', '--tail=1']);
    if (/^tick [3-9]|^tick \d\d/.test(r.stdout.toString())) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function expectNoLeak(value: string | Buffer): void {
  expect(bed.leaks(value)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
}

describe.each(['1.27', '1.33'] as KubectlVersion[])('kubectl %s logs', (version) => {
  const kubectl = (args: readonly string[]) => runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-logs', '-c', 'app', ...args], { timeoutMs: 20_000 });

  it('shows the log from the start, stdout and stderr interleaved', async () => {
    const r = await kubectl([]);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text.startsWith(`line 1 ${secret}\nline 2 ${secret}\n`)).toBe(true);
    expect(text).toContain('to stderr\n');
    expect(text).toMatch(/tick 1\n/);
    expectNoLeak(secret);
  });

  it('honours --tail', async () => {
    const r = await kubectl(['--tail=2']);
    const lines = r.stdout.toString().split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^tick \d+$/);
  });

  it('honours --limit-bytes', async () => {
    const r = await kubectl(['--limit-bytes=9']);
    expect(r.stdout.toString()).toBe('line 1 lo');
  });

  it('honours --timestamps with RFC 3339 nanosecond times', async () => {
    const r = await kubectl(['--timestamps', '--tail=1']);
    expect(r.stdout.toString()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n$/);
  });

  it('honours --since and --since-time', async () => {
    // Deterministic under any load: judge by the lines' own timestamps, not by wall-clock luck.
    const stampedLines = (await kubectl(['--timestamps'])).stdout.toString().split('\n').filter(Boolean);
    const timeOf = (line: string): number => Date.parse(line.slice(0, line.indexOf(' ')));
    const pivot = Math.floor(timeOf(stampedLines[Math.floor(stampedLines.length / 2)]!) / 1000) * 1000;
    const fromPivot = (await kubectl([`--since-time=${new Date(pivot).toISOString().replace('.000Z', 'Z')}`, '--timestamps'])).stdout.toString().split('\n').filter(Boolean);
    expect(fromPivot[0]).toBe(stampedLines.find((l) => timeOf(l) >= pivot));
    const asked = Date.now();
    const recent = (await kubectl(['--since=1s', '--timestamps'])).stdout.toString().split('\n').filter(Boolean);
    for (const line of recent) expect(timeOf(line)).toBeGreaterThanOrEqual(asked - 1000 - 1);
    const future = await kubectl([`--since-time=${new Date(Date.now() + 3600_000).toISOString()}`]);
    expect(future.stdout.toString()).toBe('');
    const past = await kubectl(['--since-time=2020-01-01T00:00:00Z']);
    expect(past.stdout.toString().startsWith(`line 1 ${secret}`)).toBe(true);
  });

  it('follows new lines with -f', async () => {
    const run = startKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'logs', '-f', '--tail=1', 'conf-logs'], { timeoutMs: 20_000 });
    const first = await run.waitForStdout(/tick (\d+)\n/);
    const next = Number(first[1]) + 2;
    await run.waitForStdout(new RegExp(`tick ${next}\\n`));
    run.kill();
    await run.result;
  });
});

describe('--previous', () => {
  it('shows the previous run of a restarted container, and the current one without the flag', async () => {
    const prev = `previous-${randomBytes(8).toString('hex')}`;
    const first = await bed.startConfidentialPod({ name: 'conf-restart', command: ['sh', '-c', `echo "${prev}"; exit 2`] });
    expect(await first.exited).toBe(2);
    const cur = `current-${randomBytes(8).toString('hex')}`;
    await bed.startConfidentialPod({ name: 'conf-restart', command: ['sh', '-c', `echo "${cur}"; sleep 3600`] });
    await new Promise((r) => setTimeout(r, 300));
    const kubectl = (args: readonly string[]) => runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'logs', 'conf-restart', ...args]);
    const p = await kubectl(['--previous']);
    expect(p.stderr).toBe('');
    expect(p.stdout.toString()).toBe(`${prev}\n`);
    expect((await kubectl([])).stdout.toString()).toBe(`${cur}\n`);
    expectNoLeak(prev);
    expectNoLeak(cur);
  });

  it('keeps workload output off the container\'s real stdout (what the host logs)', () => {
    expect(writer.stdout.contains(secret)).toBe(false);
    expect(writer.stdout.text().length).toBeGreaterThan(0);
    expect(writer.stdout.text().length).toBeLessThan(500);
  });
});
