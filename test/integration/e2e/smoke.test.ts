import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome } from '../../support/kubectl.ts';

describe('smoke', () => {
  let bed: Bed;
  let home: KubectlHome;
  beforeAll(async () => {
    bed = await createBed();
    home = await bed.verifiedHome(bed.users.alice);
  }, 60_000);
  afterAll(async () => {
    await bed?.close();
  });

  it('gets pods through the proxy', async () => {
    bed.api.addPod({ namespace: 'default', name: 'web-0', containers: [{ name: 'web' }] });
    const r = await runKubectl('1.33', home, ['get', 'pods', '-n', 'default']);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toContain('web-0');
  });

  it('execs in a confidential pod', async () => {
    await bed.startConfidentialPod({ name: 'conf-0', command: ['sleep', '3600'] });
    const r = await runKubectl('1.33', home, ['exec', '-n', 'secure', 'conf-0', '--', 'sh', '-c', 'echo TOPSECRET-$((6*7)); exit 3']);
    console.log(r.code, r.stdout.toString(), r.stderr);
    console.log(bed.proxyLog.text().slice(-3000));
    expect(r.code).toBe(3);
  });
});
