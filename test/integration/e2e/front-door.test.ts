/**
 * The front door with real kubectl: who the upstream sees, and what the proxy refuses
 * before anything reaches the API server (an unknown client certificate, client-supplied
 * impersonation, confidential routes a user has no permission for, side doors).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { makeTestUser } from '../../support/users.ts';

let bed: Bed;
let alice: KubectlHome;
let bob: KubectlHome;

beforeAll(async () => {
  bed = await createBed();
  [alice, bob] = await Promise.all([bed.verifiedHome(bed.users.alice), bed.verifiedHome(bed.users.bob)]);
  bed.api.addPod({ namespace: 'default', name: 'web-0', containers: [{ name: 'web' }] });
  await bed.startConfidentialPod({ name: 'conf-door', command: ['sleep', '3600'] });
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

describe.each(['1.27', '1.33'] as const)('kubectl %s through the proxy', (version) => {
  it('reaches the upstream as the impersonated manifest user, not as the proxy', async () => {
    bed.api.clearRequests();
    const r = await runKubectl(version, alice, ['get', 'pods', '-n', 'default', '-o', 'name']);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('pod/web-0\n');
    const seen = bed.api.requests.filter((q) => q.path === '/api/v1/namespaces/default/pods');
    expect(seen.length).toBeGreaterThan(0);
    for (const q of seen) {
      expect(q.effectiveUser?.user).toBe('alice');
      expect(q.effectiveUser?.groups).toContain('developers');
    }
  });

  it('refuses a client certificate whose key is not in the manifest with 401', async () => {
    const stranger = await makeTestUser('mallory');
    const home = await bed.verifiedHome(bed.users.alice);
    // The same verified kubeconfig, with a certificate the manifest does not list.
    const { readFileSync } = await import('node:fs');
    const original = readFileSync(home.kubeconfig, 'utf8');
    const swapped = original
      .replace(/client-certificate-data: .*/, `client-certificate-data: ${JSON.stringify(Buffer.from(stranger.certPem).toString('base64'))}`)
      .replace(/client-key-data: .*/, `client-key-data: ${JSON.stringify(Buffer.from(stranger.keyPem).toString('base64'))}`);
    writeFileSync(join(home.dir, 'kubeconfig'), swapped);
    bed.api.clearRequests();
    const r = await runKubectl(version, home, ['get', 'pods', '-n', 'default']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unauthorized|must be logged in/);
    expect(bed.api.requests).toHaveLength(0);
  });

  it('refuses client-supplied impersonation (kubectl --as) with 403 and never forwards it', async () => {
    bed.api.clearRequests();
    const r = await runKubectl(version, alice, ['get', 'pods', '-n', 'default', '--as', 'system:admin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_IMPERSONATION_REFUSED');
    expect(bed.api.requests.filter((q) => q.headers['impersonate-user']?.includes('system:admin'))).toHaveLength(0);
  });

  it('refuses exec in a confidential pod to a user without the exec permission, without asking the API server', async () => {
    bed.api.clearRequests();
    const r = await runKubectl(version, bob, ['exec', '-n', CONFIDENTIAL_NS, 'conf-door', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_FORBIDDEN');
    expect(bed.api.requests.filter((q) => q.path.includes('/exec'))).toHaveLength(0);
  });

  it('refuses the kubelet API through nodes/proxy for a confidential namespace', async () => {
    const r = await runKubectl(version, alice, ['get', '--raw', `/api/v1/nodes/fake-node/proxy/containerLogs/${CONFIDENTIAL_NS}/conf-door/app`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_CONFIDENTIAL_FORBIDDEN_ROUTE');
  });

  it('refuses ephemeral debug containers in a confidential pod', async () => {
    const r = await runKubectl(version, alice, ['debug', '-n', CONFIDENTIAL_NS, 'conf-door', '--image=busybox', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SP_CONFIDENTIAL_FORBIDDEN_ROUTE');
  });
});
