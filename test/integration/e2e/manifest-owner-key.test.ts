/**
 * Owner-signed manifests end to end (docs/deploy.md, the pinning cycle): the agents pin
 * the owner's public key instead of the manifest's digest, and the proxy, its own
 * `shadowplane proxy --manifest-signature FILE` process, carries the owner's signature in
 * its channel certificate. Real kubectl (1.27 over SPDY, 1.33 over WebSocket) execs into
 * pods whose agents accept the signature; agents that pin another key, or a higher
 * minimum serial, refuse the proxy, fail closed with a Status naming why, and the exec
 * reaches neither the agent, the API server stand-in nor any log. The proxy itself
 * refuses to start with a signature of another manifest.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signManifest } from '../../../src/config/manifest-signature.ts';
import { createBed, CONFIDENTIAL_NS, type AgentHandle, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome, type KubectlVersion } from '../../support/kubectl.ts';

const owner = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: typeof owner): string => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const SERIAL = 5;

let bed: Bed;
let home: KubectlHome;
const agents = new Map<string, AgentHandle>();

/** The agent's pin of the proxy's manifest: the bed's reference values with these signers and no digest. */
function pin(signers: { publicKey: string; minimumSerial?: number }[]): Record<string, unknown> {
  return { proxy: { referenceValuesFile: join(bed.dir, 'proxy-reference-values.yaml'), allowedManifestDigests: [], manifestSigners: signers, allowSimulated: true } };
}

beforeAll(async () => {
  bed = await createBed({
    proxyProcess: true,
    signManifest: (m) => signManifest(m, owner.privateKey, { serial: SERIAL, notAfter: new Date(Date.now() + 86_400_000) }),
    // Every agent pins the owner key (and another one, which signs nothing here) and no digest.
    agentManifestPin: { digests: [], signers: [{ publicKey: pem(stranger) }, { publicKey: pem(owner), minimumSerial: SERIAL }] },
  });
  home = await bed.verifiedHome(bed.users.alice);
  const pods: [string, Record<string, unknown> | undefined][] = [
    ['conf-signed', undefined],
    // One pod per kubectl version where the proxy is refused: it remembers a failed dial for two seconds.
    ['conf-other-key-127', pin([{ publicKey: pem(stranger) }])],
    ['conf-other-key-133', pin([{ publicKey: pem(stranger) }])],
    ['conf-newer-127', pin([{ publicKey: pem(owner), minimumSerial: SERIAL + 1 }])],
    ['conf-newer-133', pin([{ publicKey: pem(owner), minimumSerial: SERIAL + 1 }])],
  ];
  await Promise.all(
    pods.map(async ([name, agentConfig]) => agents.set(name, await bed.startConfidentialPod({ name, command: ['sleep', '3600'], ...(agentConfig === undefined ? {} : { agentConfig }) }))),
  );
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function expectNoLeak(secret: string): void {
  expect(bed.leaks(secret)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
}

describe.each([
  ['1.27 (SPDY)', '1.27'],
  ['1.33 (WebSocket)', '1.33'],
] as [string, KubectlVersion][])('kubectl %s', (_label, version) => {
  const exec = (pod: string, secret: string) => runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'exec', pod, '--', 'sh', '-c', `echo ${secret}`], { timeoutMs: 30_000 });

  it('execs into a pod whose agent pins the owner key and no manifest digest', async () => {
    const secret = `canary-${randomBytes(12).toString('hex')}`;
    const r = await exec('conf-signed', secret);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${secret}\n`);
    expectNoLeak(secret);
  });

  it.each([
    ['another owner key', 'conf-other-key', 'the manifest signature is not valid under any pinned owner key'],
    ['a minimum serial above the signature\'s', 'conf-newer', `the manifest's serial ${SERIAL} is below the minimum ${SERIAL + 1}`],
  ])('fails closed where the agent pins %s, and the exec goes nowhere', async (_what, prefix, why) => {
    const pod = `${prefix}-${version.replace('.', '')}`;
    const secret = `canary-${randomBytes(12).toString('hex')}`;
    const r = await exec(pod, secret);
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('SP_AGENT_REFUSED');
    // No fallback: the stand-in never saw a request for the pod's subresources.
    expect(bed.api.requests.filter((q) => q.path.startsWith(`/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/${pod}/`))).toEqual([]);
    // The agent says why in its log (a line that may land just after kubectl gave up); the exec's command is in no log.
    const agent = agents.get(pod)!;
    await expect.poll(() => agent.stdout.text() + agent.stderr.text(), { timeout: 5000 }).toContain(why);
    expectNoLeak(secret);
  });
});

describe('shadowplane proxy', () => {
  it('refuses to start with a signature of another manifest, naming both digests', async () => {
    const other = join(bed.dir, 'other.sig');
    writeFileSync(other, `${await signManifest({ digestHex: 'ab'.repeat(32), name: 'other' }, owner.privateKey, { serial: SERIAL })}\n`);
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--manifest-signature', other, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'does-not-matter')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--manifest-signature is for manifest sha256:abababababababab…, not for the loaded sha256:[0-9a-f]{16}…/);
  });
});
