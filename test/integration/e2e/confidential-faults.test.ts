/**
 * Faults on confidential routes: every one ends in a clear error within seconds, and
 * none falls back to the API server (its request log never shows the operation).
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, startKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

let bed: Bed;
let home: KubectlHome;
const servers: { close: () => void }[] = [];

beforeAll(async () => {
  bed = await createBed();
  home = await bed.verifiedHome(bed.users.alice);
}, 90_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await bed?.close();
});

function noFallback(pod: string): void {
  expect(bed.api.requests.filter((r) => r.path.startsWith(`/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/${pod}/`))).toEqual([]);
}

async function timedExec(version: KubectlVersion, pod: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  const r = await runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'exec', pod, '--', 'true'], { timeoutMs: 30_000 });
  return { code: r.code, stderr: r.stderr, ms: Date.now() - t0 };
}

async function listen(server: Server | http2.Http2SecureServer, host: string): Promise<void> {
  server.listen(bed.manifest.agent.port, host);
  await once(server, 'listening');
  servers.push(server);
}

describe.each(['1.27', '1.33'] as KubectlVersion[])('kubectl %s', (version) => {
  it('says the agent is unreachable, within 5 s, when nothing listens at the pod', async () => {
    const pod = `conf-down-${version.replace('.', '')}`;
    bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: pod, containers: [{ name: 'app' }], podIP: version === '1.27' ? '127.0.3.1' : '127.0.3.2' });
    const r = await timedExec(version, pod);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_AGENT_UNREACHABLE');
    expect(r.ms).toBeLessThan(5000);
    noFallback(pod);
  });

  it('gives up within 5 s on a pod address that accepts TCP but never answers TLS', async () => {
    const ip = version === '1.27' ? '127.0.3.3' : '127.0.3.4';
    const tarpit = createServer(() => undefined);
    await listen(tarpit, ip);
    const pod = `conf-tarpit-${version.replace('.', '')}`;
    bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: pod, containers: [{ name: 'app' }], podIP: ip });
    const r = await timedExec(version, pod);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SP_AGENT_UNREACHABLE|SP_AGENT_ATTESTATION_FAILED/);
    expect(r.ms).toBeLessThan(5000);
    noFallback(pod);
  });

  it('refuses a plain TLS server at the pod address that has no attestation', async () => {
    const ip = version === '1.27' ? '127.0.3.5' : '127.0.3.6';
    const cert = await createSelfSigned({ commonName: 'impostor', ipAddresses: [ip], validityMs: 3600_000, usage: 'server' });
    const impostor = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, requestCert: true, rejectUnauthorized: false }, (_req, res) => res.end('{}'));
    await listen(impostor, ip);
    const pod = `conf-plain-${version.replace('.', '')}`;
    bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: pod, containers: [{ name: 'app' }], podIP: ip });
    const r = await timedExec(version, pod);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_AGENT_ATTESTATION_FAILED');
    noFallback(pod);
  });
});

describe('attestation of agents', () => {
  it('refuses an agent whose measurement is not in the manifest', async () => {
    await bed.startConfidentialPod({ name: 'conf-rogue', command: ['sleep', '3600'], measurement: 'cd'.repeat(48) });
    const r = await timedExec('1.33', 'conf-rogue');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SP_ATTEST_MEASUREMENT_MISMATCH|SP_AGENT_ATTESTATION_FAILED/);
    noFallback('conf-rogue');
  });

  it('refuses a genuine agent of another pod that the API server points at', async () => {
    const real = await bed.startConfidentialPod({ name: 'conf-real', command: ['sleep', '3600'] });
    // The untrusted API server claims conf-victim lives at conf-real's address.
    bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: 'conf-victim', containers: [{ name: 'app' }], podIP: real.podIP });
    const r = await timedExec('1.33', 'conf-victim');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_AGENT_IDENTITY_MISMATCH');
    noFallback('conf-victim');
  });
});

describe('agent and proxy restarts', () => {
  it('ends a running exec with a clear error when the agent is killed mid-session', async () => {
    const agent = await bed.startConfidentialPod({ name: 'conf-dies', command: ['sleep', '3600'] });
    const run = startKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-dies', '--', 'sh', '-c', 'echo started; sleep 30'], { timeoutMs: 30_000 });
    await run.waitForStdout(/started/);
    const t0 = Date.now();
    agent.kill('SIGKILL');
    const r = await run.result;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_AGENT_SESSION_LOST');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('serves again after the proxy restarts: the user re-verifies, the proxy re-attests to the agents', async () => {
    await bed.startConfidentialPod({ name: 'conf-survivor', command: ['sleep', '3600'] });
    expect((await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-survivor', '--', 'true'])).code).toBe(0);
    await bed.restartProxy();
    // A restarted proxy has a new key: the old kubeconfig no longer trusts it.
    const stale = await runKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-survivor', '--', 'true']);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/certificate|x509/);
    const fresh = await bed.verifiedHome(bed.users.alice);
    const again = await runKubectl('1.33', fresh, ['-n', CONFIDENTIAL_NS, 'exec', 'conf-survivor', '--', 'echo', 'back']);
    expect(again.code).toBe(0);
    expect(again.stdout.toString()).toBe('back\n');
    home = fresh;
  });
});
