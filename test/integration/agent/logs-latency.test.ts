/**
 * `kubectl logs -f` latency: a line the workload writes reaches the proxy's reader within
 * 50 ms at p99 (the product target), measured end to end through the channel: attach
 * stdin → workload (`cat`) → its stdout pipe → log store → follower → channel → reader.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import { agentVerifier, makeCredentials, proxyVerifier } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { commandStreams } from './support/streams.ts';

const ADDRESS = '127.0.7.1';
const IDENTITY = { namespace: 'payments', pod: 'api-0' };
const SAMPLES = 200;

describe('logs follow latency', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  let test: TestAgent;
  let pool: AgentPool;
  let conn: AgentConnection;

  beforeAll(async () => {
    const [proxyCreds, agentCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent')]);
    test = await startTestAgent({ address: ADDRESS, command: ['cat'], attachStdin: true, root: root.path, credentials: agentCreds, verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])), logLines });
    pool = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]])), logger: captureLogger(logLines, 'proxy') });
    conn = await pool.connect({ address: ADDRESS, port: await heldPort(test.agent), identity: IDENTITY });
  });

  afterAll(async () => {
    pool.close();
    await test.agent.stop();
    root.remove();
  });

  it('delivers a followed line within 50 ms at p99', async () => {
    const abort = new AbortController();
    const stream = await conn.logs({ container: 'app', follow: true, tailLines: 0 }, { signal: abort.signal });
    const arrivals = new Map<number, number>();
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      const now = performance.now();
      buffered += chunk.toString();
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        const n = Number(/^tick-(\d+)$/.exec(buffered.slice(0, nl))?.[1]);
        if (!arrivals.has(n)) arrivals.set(n, now);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    });
    stream.on('error', () => undefined);
    const io = commandStreams();
    const attach = conn.attach({ container: 'app', stdin: true, stdout: false, stderr: false, tty: false }, io, { signal: abort.signal });
    const sent = new Map<number, number>();
    for (let i = 0; i < SAMPLES; i++) {
      sent.set(i, performance.now());
      io.stdin.write(`tick-${i}\n`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const deadline = Date.now() + 5000;
    while (arrivals.size < SAMPLES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await attach;
    const latencies = [...sent].map(([i, t]) => (arrivals.get(i) ?? Number.POSITIVE_INFINITY) - t).sort((a, b) => a - b);
    const at = (q: number): number => latencies[Math.ceil(q * SAMPLES) - 1] as number;
    console.log(`logs -f latency over ${SAMPLES} lines: p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${at(1).toFixed(2)} ms`);
    expect(at(0.99)).toBeLessThan(50);
  });
});
