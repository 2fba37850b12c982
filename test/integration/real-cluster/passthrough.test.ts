/**
 * The front door against a REAL Kubernetes API server, when one is configured.
 *
 * Runs only when KUBECONFIG (or SHADOWPLANE_E2E_KUBECONFIG) names a kubeconfig whose
 * current context answers /version within 5 s. The proxy uses that kubeconfig as its own
 * credential in impersonate mode, impersonating SHADOWPLANE_E2E_USER (default
 * `shadowplane-e2e`) in SHADOWPLANE_E2E_GROUPS (default `system:masters`), so the
 * credential needs the impersonate verb (a cluster-admin kubeconfig of kind or minikube
 * has it). Everything it creates lives in a fresh namespace that it deletes at the end.
 *
 * No real cluster is reachable on the project's CI machines: there this file reports
 * that it did not run, and why, instead of passing silently.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT, simulateInit } from '../../../src/attestation/index.ts';
import { parseManifest } from '../../../src/config/manifest.ts';
import { createLogger } from '../../../src/log.ts';
import { startProxy, type RunningProxy } from '../../../src/proxy/start.ts';
import { Capture, CLI } from '../../support/bed.ts';
import { kubectlPath, runKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { makeTestUser } from '../../support/users.ts';

const kubeconfig = process.env.SHADOWPLANE_E2E_KUBECONFIG ?? process.env.KUBECONFIG;

function reachable(path: string | undefined): string | undefined {
  if (path === undefined || path === '' || !existsSync(path)) return 'KUBECONFIG is not set to an existing file';
  const r = spawnSync(kubectlPath('1.33'), ['--kubeconfig', path, '--request-timeout', '5s', 'get', '--raw', '/version'], { timeout: 8000, encoding: 'utf8' });
  return r.status === 0 ? undefined : `the cluster of ${path} did not answer /version (${r.stderr.trim().split('\n')[0] ?? 'no answer'})`;
}

const why = reachable(kubeconfig);
if (why !== undefined) {
  process.stdout.write(`real-cluster e2e not run: ${why}. Set KUBECONFIG or SHADOWPLANE_E2E_KUBECONFIG to a reachable cluster to run it.\n`);
}

describe.runIf(why === undefined)('through the proxy, against the real cluster of KUBECONFIG', () => {
  let dir: string;
  let proxy: RunningProxy;
  let home: KubectlHome;
  const ns = `shadowplane-e2e-${Date.now().toString(36)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-real-'));
    await simulateInit(join(dir, 'sim'));
    const alice = await makeTestUser('alice');
    const doc = {
      apiVersion: 'shadowplane.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'real-cluster-e2e' },
      confidential: [{ namespace: `${ns}-confidential` }],
      users: [{ name: process.env.SHADOWPLANE_E2E_USER ?? 'shadowplane-e2e', groups: (process.env.SHADOWPLANE_E2E_GROUPS ?? 'system:masters').split(','), publicKey: alice.publicKeyPem }],
      upstream: { server: clusterServer(kubeconfig!), auth: 'impersonate', credential: { source: 'kubeconfig', path: kubeconfig } },
    };
    writeFileSync(join(dir, 'manifest.yaml'), stringify(doc));
    const manifest = parseManifest(doc);
    const issuer = createSimulatedIssuer({ dir: join(dir, 'sim'), measurement: SIMULATED_DEFAULT_MEASUREMENT });
    proxy = await startProxy({ manifest, issuer, listen: { host: '127.0.0.1', port: 0 }, subjectAltNames: ['127.0.0.1'], logger: createLogger({ destination: new Capture() }) });
    writeFileSync(join(dir, 'alice.crt'), alice.certPem);
    writeFileSync(join(dir, 'alice.key'), alice.keyPem);
    const out = join(dir, 'kubeconfig');
    // Asynchronously: the proxy runs in this process and must keep serving while verify runs.
    const r = await run(process.execPath, [CLI, 'verify', '--server', proxy.url, '--manifest', join(dir, 'manifest.yaml'), '--reference-values', join(dir, 'sim', 'reference-values.yaml'), '--client-cert', join(dir, 'alice.crt'), '--client-key', join(dir, 'alice.key'), '--allow-simulated', '--out', out]);
    expect(r.stderr).toContain('verified shadowplane proxy');
    home = { dir, kubeconfig: out, dispose: () => undefined };
  }, 60_000);

  afterAll(async () => {
    if (home !== undefined) await runKubectl('1.33', home, ['delete', 'namespace', ns, '--wait=false']);
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['1.27', '1.33'] as const)('kubectl %s: discovery, namespace, apply and re-apply a pod, get, watch with a timeout, delete', async (version) => {
    expect((await runKubectl(version, home, ['version'])).code).toBe(0);
    expect((await runKubectl(version, home, ['api-resources'])).code).toBe(0);
    if (version === '1.27') expect((await runKubectl(version, home, ['create', 'namespace', ns])).code).toBe(0);
    const name = `e2e-${version.replace('.', '')}`;
    const file = join(dir, `${name}.yaml`);
    const pod = (image: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels: {app: shadowplane-e2e}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;
    writeFileSync(file, pod('registry.k8s.io/pause:3.9'));
    expect((await runKubectl(version, home, ['apply', '-f', file])).code).toBe(0);
    writeFileSync(file, pod('registry.k8s.io/pause:3.10'));
    expect((await runKubectl(version, home, ['apply', '-f', file])).stdout.toString()).toContain('configured');
    const get = await runKubectl(version, home, ['get', 'pods', '-n', ns, '-o', 'name']);
    expect(get.stdout.toString()).toContain(`pod/${name}`);
    const watch = await runKubectl(version, home, ['get', 'pods', '-n', ns, '-w', '--request-timeout=3s'], { timeoutMs: 15_000 });
    expect(watch.timedOut).toBe(false);
    expect(watch.stdout.toString()).toContain(name);
    expect((await runKubectl(version, home, ['delete', '-f', file, '--grace-period=0', '--force'])).code).toBe(0);
  }, 120_000);
});

function clusterServer(path: string): string {
  const r = spawnSync(kubectlPath('1.33'), ['--kubeconfig', path, 'config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'], { encoding: 'utf8' });
  return r.stdout.trim();
}

function run(cmd: string, args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}
