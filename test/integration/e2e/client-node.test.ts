/**
 * @kubernetes/client-node as a second client, through the proxy with the kubeconfig that
 * `shadowplane verify` wrote: ordinary API calls pass through; Exec (WebSocket v5 and its
 * own fallbacks), Log and the legacy WebSocket PortForward reach the confidential pod's
 * agent; the API server sees none of the payload.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { CoreV1Api, Exec, KubeConfig, Log, PortForward, type V1Status } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { freePort } from '../../support/transfer.ts';

const ECHO = fileURLToPath(new URL('../../fixtures/workloads/echo.mjs', import.meta.url));
let bed: Bed;
let kc: KubeConfig;
let echoPort: number;
const secret = `cn-canary-${randomBytes(10).toString('hex')}`;

beforeAll(async () => {
  bed = await createBed();
  const home = await bed.verifiedHome(bed.users.alice);
  kc = new KubeConfig();
  kc.loadFromFile(home.kubeconfig);
  echoPort = await freePort();
  await bed.startConfidentialPod({ name: 'conf-cn', command: ['sh', '-c', `echo "boot ${secret}"; exec ${process.execPath} ${ECHO} ${echoPort}`] });
  await new Promise((r) => setTimeout(r, 300));
}, 90_000);

afterAll(async () => {
  await bed?.close();
});

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

describe('@kubernetes/client-node through the proxy', () => {
  it('lists pods (passthrough)', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const list = await api.listNamespacedPod({ namespace: CONFIDENTIAL_NS });
    expect(list.items.map((p) => p.metadata?.name)).toContain('conf-cn');
  });

  it('execs in the confidential pod and gets the exit status', async () => {
    const out = sink();
    const err = sink();
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc)
        .exec(CONFIDENTIAL_NS, 'conf-cn', 'app', ['sh', '-c', `cat; echo "exec ${secret}"; exit 4`], out.stream, err.stream, Readable.from([Buffer.from('from stdin\n')]), false, resolve)
        .catch(reject);
    });
    expect(status.status).toBe('Failure');
    expect(status.details?.causes?.[0]).toMatchObject({ reason: 'ExitCode', message: '4' });
    expect(out.text()).toBe(`from stdin\nexec ${secret}\n`);
    expect(bed.leaks(secret).apiServer).toBe(false);
  });

  it('reads the confidential log', async () => {
    const out = sink();
    // client-node 2.0 never calls its done callback on success: the piped stream finishing is the signal.
    const finished = new Promise<void>((resolve) => out.stream.once('finish', resolve));
    await new Log(kc).log(CONFIDENTIAL_NS, 'conf-cn', 'app', out.stream, { follow: false });
    await finished;
    expect(out.text()).toContain(`boot ${secret}`);
    expect(bed.leaks(secret)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
  });

  it('port-forwards with the legacy WebSocket protocol', async () => {
    const input = new PassThrough();
    const output = sink();
    const ws = await new PortForward(kc).portForward(CONFIDENTIAL_NS, 'conf-cn', [echoPort], output.stream, null, input);
    const payload = `pf ${secret}`;
    input.write(payload);
    const deadline = Date.now() + 10_000;
    while (!output.text().includes(payload) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(output.text()).toContain(payload);
    (typeof ws === 'function' ? ws() : ws)?.close();
    expect(bed.leaks(payload).apiServer).toBe(false);
    // The agent's port-forward reached the pod's localhost, not the pod IP.
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: echoPort }, () => {
        s.destroy();
        resolve();
      });
    });
  });
});
