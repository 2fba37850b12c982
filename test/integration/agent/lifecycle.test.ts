/**
 * The agent as a real process with simulated RA-TLS on both ends: killed mid-session,
 * restarted, signalled. The proxy side uses the same RA-TLS verifier it uses in production.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createAttestedCredentials,
  createSimulatedIssuer,
  loadReferenceValues,
  parseReferenceValues,
  simulateInit,
  type ReferenceValues,
} from '../../../src/attestation/index.ts';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import { proxyClaims, raTlsAgentVerifier, agentClaims } from '../../../src/channel/ra-tls-trust.ts';
import type { ChannelCredentials } from '../../../src/channel/trust.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { captureLogger, tempRoot } from './support/agents.ts';
import { freePort, startProcessAgent, type ProcessAgent } from './support/process-agent.ts';
import { commandStreams, readAll } from './support/streams.ts';

const ADDRESS = '127.0.2.7';
const IDENTITY = { namespace: 'payments', pod: 'api-0' };
const SECRET = 'lifecycle-secret-91be';

async function connectWhenReady(pool: AgentPool, port: number, timeoutMs = 15_000): Promise<AgentConnection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await pool.connect({ address: ADDRESS, port, identity: IDENTITY });
    } catch (err) {
      if (!isShadowplaneError(err, 'SP_AGENT_UNREACHABLE') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent process with simulated RA-TLS', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  const started: ProcessAgent[] = [];
  let reference: ReferenceValues;
  let referenceFile: string;
  let simulatedDir: string;
  let proxyCredentials: ChannelCredentials;
  let pool: AgentPool;
  let port: number;

  function agent(command: readonly string[], extraConfig?: Record<string, unknown>): ProcessAgent {
    const a = startProcessAgent({ root: root.path, address: ADDRESS, port, simulatedDir, proxyReferenceFile: referenceFile, command, ...(extraConfig === undefined ? {} : { extraConfig }) });
    started.push(a);
    return a;
  }

  beforeAll(async () => {
    const sim = await simulateInit(join(root.path, 'sim'));
    simulatedDir = sim.dir;
    referenceFile = sim.referenceValuesPath;
    reference = loadReferenceValues(referenceFile);
    const issuer = createSimulatedIssuer({ dir: sim.dir, measurement: SIMULATED_DEFAULT_MEASUREMENT });
    const creds = await createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)) });
    proxyCredentials = { key: creds.keyPem, cert: creds.certPem };
    pool = new AgentPool({
      credentials: proxyCredentials,
      verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true, logger: captureLogger(logLines, 'verifier') }),
      logger: captureLogger(logLines, 'proxy'),
      negativeCacheMs: 200,
    });
    port = await freePort(ADDRESS);
  });

  // Every test starts with no agent running and no session left from the one before
  // (a killed agent's exit and its socket's close reach us in either order).
  beforeEach(async () => {
    for (const a of started) a.killGroup();
    await Promise.all(started.map((a) => a.exit));
    await waitFor(() => pool.size === 0);
  });

  afterAll(() => {
    pool.close();
    for (const a of started) a.killGroup();
    root.remove();
    expect(logLines.join('\n')).not.toContain(SECRET);
  });

  it('serves a proxy whose evidence matches the reference values, and the proxy verifies the agent', async () => {
    const a = agent(['sh', '-c', `echo ${SECRET}-hello; exec sleep 30`]);
    const conn = await connectWhenReady(pool, port);
    const io = commandStreams();
    expect(await conn.exec({ container: 'app', command: ['sh', '-c', 'echo ok; exit 5'], stdin: false, stdout: true, stderr: true, tty: false }, io)).toEqual({ kind: 'exit', code: 5 });
    expect(io.stdout.text()).toBe('ok\n');
    expect((await readAll(await conn.logs({ container: 'app' }))).toString()).toBe(`${SECRET}-hello\n`);
    // The agent's real stdout (what the host keeps as container logs) holds only notices.
    expect(a.stdout()).not.toContain(SECRET);
    expect(a.stderr()).not.toContain(SECRET);
    expect(a.stdout()).toContain('output is kept inside the TEE');
    a.killGroup();
    await a.exit;
  });

  it('fails running operations with SP_AGENT_SESSION_LOST promptly when the agent is killed', async () => {
    const a = agent(['sh', '-c', 'echo first-run; exec sleep 30']);
    const conn = await connectWhenReady(pool, port);
    // A target for port-forward inside the "pod" (same loopback).
    const { createServer } = await import('node:net');
    const target = createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetPort = (target.address() as { port: number }).port;
    const io = commandStreams();
    const exec = conn.exec({ container: 'app', command: ['sleep', '30'], stdin: true, stdout: true, stderr: true, tty: false }, io);
    const forward = await conn.portForward(targetPort);
    const forwardError = new Promise<unknown>((resolve) => forward.once('error', resolve));
    const follow = await conn.logs({ container: 'app', follow: true });
    const followError = new Promise<unknown>((resolve) => follow.once('error', resolve));
    follow.resume();
    await new Promise((r) => setTimeout(r, 100));
    const killedAt = performance.now();
    a.killGroup();
    const [execResult, fwdErr, followErr] = await Promise.all([exec, forwardError, followError]);
    const elapsed = performance.now() - killedAt;
    expect(execResult).toMatchObject({ kind: 'error', error: { code: 'SP_AGENT_SESSION_LOST' } });
    expect(fwdErr).toMatchObject({ code: 'SP_AGENT_SESSION_LOST' });
    expect(followErr).toMatchObject({ code: 'SP_AGENT_SESSION_LOST' });
    expect(elapsed).toBeLessThan(1000);
    expect(conn.usable).toBe(false);
    target.close();
    await a.exit;
  });

  it('reconnects to a restarted agent, which serves the last run as previous', async () => {
    const first = agent(['sh', '-c', 'echo first-run; exec sleep 30']);
    const old = await connectWhenReady(pool, port);
    await waitFor(async () => (await readAll(await old.logs({ container: 'app' }))).toString() === 'first-run\n');
    first.killGroup();
    await first.exit;
    await waitFor(() => !old.usable);
    agent(['sh', '-c', 'echo second-run; exec sleep 30']);
    const conn = await connectWhenReady(pool, port);
    await waitFor(async () => (await readAll(await conn.logs({ container: 'app' }))).toString() === 'second-run\n');
    expect((await readAll(await conn.logs({ container: 'app', previous: true }))).toString()).toBe('first-run\n');
    const io = commandStreams();
    expect(await conn.exec({ container: 'app', command: ['true'], stdin: false, stdout: true, stderr: true, tty: false }, io)).toEqual({ kind: 'exit', code: 0 });
    (started.at(-1) as ProcessAgent).killGroup();
    await (started.at(-1) as ProcessAgent).exit;
  });

  it('forwards SIGTERM to the workload and exits with its exit code', async () => {
    const a = agent(['sh', '-c', `trap 'echo ${SECRET}-bye; exit 42' TERM; echo ready; while :; do sleep 0.05; done`]);
    const conn = await connectWhenReady(pool, port);
    await waitFor(async () => (await readAll(await conn.logs({ container: 'app' }))).toString().includes('ready'));
    a.child.kill('SIGTERM');
    expect(await a.exit).toEqual({ code: 42, signal: null });
    expect(a.stdout()).toBe('shadowplane agent: WARNING: simulated attestation is allowed; this pod is not protected\nshadowplane agent: workload started; output is kept inside the TEE\nshadowplane agent: workload exited with code 42\n');
    expect(a.stderr()).not.toContain(SECRET);
  });

  it('forwards SIGUSR1 to the workload and never opens its own inspector on it', async () => {
    const a = agent(['sh', '-c', `trap 'echo got-usr1' USR1; trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`]);
    const conn = await connectWhenReady(pool, port);
    await waitFor(async () => (await readAll(await conn.logs({ container: 'app' }))).toString().includes('ready'));
    a.child.kill('SIGUSR1');
    await waitFor(async () => (await readAll(await conn.logs({ container: 'app' }))).toString().includes('got-usr1'));
    // Without a SIGUSR1 listener of its own, Node would have started a debugger here.
    expect(a.stderr()).not.toContain('Debugger listening');
    a.child.kill('SIGTERM');
    expect(await a.exit).toEqual({ code: 0, signal: null });
    expect(a.stderr()).not.toContain('Debugger listening');
  });

  it('exits with 128 + signal when a signal ended the workload, and 127 when it cannot start', async () => {
    expect(await agent(['sh', '-c', 'kill -KILL $$']).exit).toEqual({ code: 137, signal: null });
    expect(await agent(['/no/such/workload']).exit).toEqual({ code: 127, signal: null });
  });

  it('refuses a proxy whose evidence does not match its reference values', async () => {
    agent(['sleep', '30']);
    const otherMeasurement = 'cd'.repeat(48);
    const issuer = createSimulatedIssuer({ dir: simulatedDir, measurement: otherMeasurement });
    const creds = await createAttestedCredentials({ issuer, claims: proxyClaims('ab'.repeat(32)) });
    const wrongPool = new AgentPool({ credentials: { key: creds.keyPem, cert: creds.certPem }, verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true }), logger: captureLogger(logLines, 'proxy2') });
    const conn = await (async () => {
      for (let i = 0; ; i++) {
        try {
          return await wrongPool.connect({ address: ADDRESS, port, identity: IDENTITY });
        } catch (err) {
          if (i > 60) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })();
    const result = await conn.exec({ container: 'app', command: ['touch', join(root.path, 'must-not-exist')], stdin: false, stdout: true, stderr: true, tty: false }, commandStreams());
    expect(result).toMatchObject({ kind: 'error', error: { code: 'SP_AGENT_REFUSED' } });
    // The refused session is closed right after it answered; a later call finds it refused or gone.
    const infoError: unknown = await conn.info().catch((e: unknown) => e);
    expect(isShadowplaneError(infoError) ? infoError.code : infoError).toMatch(/^(SP_AGENT_REFUSED|SP_AGENT_SESSION_LOST)$/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(root.path, 'must-not-exist'))).toBe(false);
    // An agent's own certificate is never accepted as a proxy's.
    const agentCreds = await createAttestedCredentials({ issuer: createSimulatedIssuer({ dir: simulatedDir, measurement: SIMULATED_DEFAULT_MEASUREMENT }), claims: agentClaims({ ...IDENTITY, container: 'app' }) });
    const impostor = new AgentPool({ credentials: { key: agentCreds.keyPem, cert: agentCreds.certPem }, verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference, allowSimulated: true }), logger: captureLogger(logLines, 'proxy3') });
    const impostorConn = await impostor.connect({ address: ADDRESS, port, identity: IDENTITY });
    await expect(impostorConn.logs({ container: 'app' })).rejects.toMatchObject({ code: 'SP_AGENT_REFUSED' });
    wrongPool.close();
    impostor.close();
  });

  it('with proxy.requireCrls, refuses a proxy whose chain it holds no current CRL for (the simulated one has none)', async () => {
    agent(['sleep', '30'], { proxy: { referenceValuesFile: referenceFile, allowSimulated: true, requireCrls: true } });
    const conn = await connectWhenReady(pool, port);
    const result = await conn.exec({ container: 'app', command: ['touch', join(root.path, 'must-not-exist-crl')], stdin: false, stdout: true, stderr: true, tty: false }, commandStreams());
    expect(result).toMatchObject({ kind: 'error', error: { code: 'SP_AGENT_REFUSED' } });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(root.path, 'must-not-exist-crl'))).toBe(false);
  });

  it('does not start with a CRL file it cannot read or parse', async () => {
    const bad = join(root.path, 'not-a.crl');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, 'garbage');
    for (const file of [bad, join(root.path, 'missing.crl')]) {
      const a = agent(['sleep', '30'], { proxy: { referenceValuesFile: referenceFile, allowSimulated: true, crlFiles: [file] } });
      expect((await a.exit).code).toBe(1);
      expect(a.stderr()).toContain('agent failed: SP_CONFIG_INVALID');
    }
  });

  it('refuses an agent whose evidence is not among the workload reference values', async () => {
    agent(['sleep', '30']);
    await connectWhenReady(pool, port);
    const strict = parseReferenceValues({ version: 1, entries: [{ ...(reference.entries[0] as object), measurements: ['ef'.repeat(48)] }] }, 'test');
    const strictPool = new AgentPool({ credentials: proxyCredentials, verifyAgent: raTlsAgentVerifier({ referenceFor: () => strict, allowSimulated: true }), logger: captureLogger(logLines, 'proxy4') });
    const err: unknown = await strictPool.connect({ address: ADDRESS, port, identity: IDENTITY }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SP_AGENT_ATTESTATION_FAILED', detail: 'SP_ATTEST_MEASUREMENT_MISMATCH' });
    const noSimulated = new AgentPool({ credentials: proxyCredentials, verifyAgent: raTlsAgentVerifier({ referenceFor: () => reference }), logger: captureLogger(logLines, 'proxy5') });
    expect(await noSimulated.connect({ address: ADDRESS, port, identity: IDENTITY }).catch((e: unknown) => e)).toMatchObject({ code: 'SP_AGENT_ATTESTATION_FAILED', detail: 'SP_ATTEST_SIMULATED_REFUSED' });
    const otherPod = await pool.connect({ address: ADDRESS, port, identity: { namespace: 'payments', pod: 'api-1' } }).catch((e: unknown) => e);
    expect(otherPod).toMatchObject({ code: 'SP_AGENT_IDENTITY_MISMATCH' });
    strictPool.close();
    noSimulated.close();
  });
});
