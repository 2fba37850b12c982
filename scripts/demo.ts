/**
 * `npm run demo`: shadowplane's main job on an embedded default, end to end.
 *
 * Starts a local stand-in for the Kubernetes API server (it records every byte it sees),
 * a simulated TEE platform, the proxy, and a confidential workload behind its agent; runs
 * `shadowplane verify` to get the dedicated kubeconfig; then takes the real kubectl through
 * a short tour and shows that the API server never saw any of the confidential bytes.
 *
 * Exit code 0 when every step worked, 1 when one failed. `--keep` leaves everything
 * running for hands-on use (Ctrl-C ends it).
 *
 * However it ends (a signal, an uncaught exception, a failed step), the bed is closed:
 * the agents run as detached process groups and would otherwise outlive the demo with
 * the secret in their workload's argv, and the bed's directories hold the users' private
 * keys and the agents' logs.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../test/support/bed.ts';
import { kubectlDirectory, runKubectl, startKubectl, type KubectlHome, type KubectlVersion } from '../test/support/kubectl.ts';
import { freePort } from '../test/support/transfer.ts';

const keep = process.argv.includes('--keep');
const version: KubectlVersion = '1.33';
const APP = fileURLToPath(new URL('./demo-app.mjs', import.meta.url));
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const ok = (s: string): void => void process.stdout.write(`  ${process.stdout.isTTY ? '\x1b[32m✓\x1b[0m' : 'ok'} ${s}\n`);

/** Longest wait for the bed to close after a signal or a crash before the demo exits anyway. */
const CLOSE_TIMEOUT_MS = 15_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let failures = 0;
/** The running bed, once created: what every way out must close. */
let running: Bed | undefined;
let closing: Promise<void> | undefined;
/** Set while `--keep` waits: a signal then ends the demo the ordinary way. */
let stopKeeping: (() => void) | undefined;

/** Closes the bed once, however many ways out ask for it. */
function closeBed(): Promise<void> {
  if (running === undefined) return Promise.resolve();
  closing ??= running.close();
  return closing;
}

/** Closes the bed (bounded) and exits: the way out after a signal or a crash. */
async function abandon(code: number): Promise<never> {
  const timer = setTimeout(() => {
    process.stderr.write('demo: the bed did not close in time; exiting anyway\n');
    process.exit(code);
  }, CLOSE_TIMEOUT_MS);
  try {
    await closeBed();
  } catch (err) {
    process.stderr.write(`demo: closing the bed failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  clearTimeout(timer);
  process.exit(code);
}

for (const signal of SIGNALS) {
  process.on(signal, () => {
    if (stopKeeping !== undefined) return stopKeeping();
    if (closing !== undefined) return;
    process.stderr.write(`\ndemo: ${signal}, stopping\n`);
    void abandon(128 + constants.signals[signal]);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`demo crashed: ${err.stack ?? String(err)}\n`);
  void abandon(1);
});

async function step(title: string, fn: () => Promise<string | undefined>): Promise<void> {
  process.stdout.write(`\n${bold(title)}\n`);
  try {
    const detail = await fn();
    if (detail !== undefined) ok(detail);
  } catch (err) {
    failures++;
    process.stdout.write(`  ✗ ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

async function main(): Promise<number> {
  if (kubectlDirectory() === null || !existsSync(`${kubectlDirectory()}/kubectl.${version}`)) {
    process.stderr.write(`the demo needs kubectl.${version} beside the machine's kubectl\n`);
    return 1;
  }
  const secret = `demo-secret-${randomBytes(6).toString('hex')}`;
  process.stdout.write(`${bold('shadowplane demo')}: a trusted shadow control plane for confidential pods\n`);
  process.stdout.write(`the confidential workload will print, serve and receive the secret ${bold(secret)}\n`);

  let bed!: Bed;
  let home!: KubectlHome;
  const appPort = await freePort();
  await step('1. start the API server stand-in, a simulated TEE platform and the attested proxy', async () => {
    bed = await createBed();
    running = bed;
    return `API server stand-in ${bed.api.url}; proxy ${bed.proxy.url} (simulated SEV-SNP, manifest ${bed.manifest.name})`;
  });
  if (failures > 0) return 1;

  await step(`2. start a confidential workload in ${CONFIDENTIAL_NS}/conf-app behind its agent`, async () => {
    const agent = await bed.startConfidentialPod({ name: 'conf-app', command: [process.execPath, APP, String(appPort), secret] });
    await new Promise((r) => setTimeout(r, 300));
    bed.api.addPod({ namespace: 'default', name: 'ordinary-web', containers: [{ name: 'web' }] });
    return `agent listening on the pod address ${agent.podIP}:${bed.manifest.agent.port}, mutually attested with the proxy`;
  });

  await step('3. shadowplane verify: check the proxy\'s evidence and write the dedicated kubeconfig', async () => {
    home = await bed.verifiedHome(bed.users.alice);
    return `evidence verified (chain, signature, key binding, nonce, measurement, manifest digest); kubeconfig ${home.kubeconfig}`;
  });
  if (failures > 0) return finish(1);

  const kubectl = (args: string[], stdin?: string) => runKubectl(version, home, args, { timeoutMs: 20_000, ...(stdin === undefined ? {} : { stdin }) });

  await step('4. kubectl get pods -A (passthrough to the API server, as alice)', async () => {
    const r = await kubectl(['get', 'pods', '-A']);
    check(r.code === 0, `kubectl failed: ${r.stderr}`);
    process.stdout.write(r.stdout.toString().trimEnd().replace(/^/gm, '     ') + '\n');
    return 'ordinary requests pass through untouched';
  });

  await step('5. kubectl exec into the confidential pod (served from the agent, not the API server)', async () => {
    const r = await kubectl(['exec', '-n', CONFIDENTIAL_NS, 'conf-app', '--', 'sh', '-c', `echo "hello from inside the pod's TEE: ${secret}"; exit 3`]);
    check(r.code === 3, `expected exit code 3, got ${r.code}: ${r.stderr}`);
    check(r.stdout.toString().includes(secret), 'the secret did not come back');
    process.stdout.write(r.stdout.toString().trimEnd().replace(/^/gm, '     ') + '\n');
    return 'stdout and the exit code (3) arrived through the attested channel';
  });

  await step('6. kubectl logs from the confidential pod (kept inside the TEE)', async () => {
    let r = await kubectl(['logs', '-n', CONFIDENTIAL_NS, 'conf-app', '--tail=2']);
    // The app logs as it starts; on a busy machine give it a moment (bounded).
    for (let i = 0; i < 20 && r.code === 0 && !r.stdout.toString().includes(secret); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      r = await kubectl(['logs', '-n', CONFIDENTIAL_NS, 'conf-app', '--tail=2']);
    }
    check(r.code === 0 && r.stdout.toString().includes(secret), `logs failed: ${r.stderr}`);
    process.stdout.write(r.stdout.toString().trimEnd().replace(/^/gm, '     ') + '\n');
    return 'log lines came from the agent\'s log store';
  });

  await step('7. kubectl port-forward to the workload\'s HTTP server on the pod\'s localhost', async () => {
    const pf = startKubectl(version, home, ['port-forward', '-n', CONFIDENTIAL_NS, 'pod/conf-app', `:${appPort}`], { timeoutMs: 20_000 });
    try {
      const [, local] = await pf.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
      const body = await httpGet(Number(local));
      check(body.includes(secret), 'the HTTP answer did not carry the secret');
      process.stdout.write(`     GET / -> ${body.trim()}\n`);
    } finally {
      pf.kill();
      await pf.result;
    }
    return 'HTTP through the port-forward, end to end encrypted to the pod';
  });

  await step('8. refusals: another user, and client-supplied impersonation', async () => {
    const bob = await bed.verifiedHome(bed.users.bob);
    const denied = await runKubectl(version, bob, ['exec', '-n', CONFIDENTIAL_NS, 'conf-app', '--', 'true']);
    check(denied.code !== 0 && denied.stderr.includes('SP_FORBIDDEN'), 'bob was not refused');
    process.stdout.write(`     bob: ${denied.stderr.trim()}\n`);
    const as = await kubectl(['get', 'pods', '--as', 'system:admin']);
    check(as.code !== 0 && as.stderr.includes('SP_IMPERSONATION_REFUSED'), '--as was not refused');
    process.stdout.write(`     --as: ${as.stderr.trim()}\n`);
    return 'refused by the proxy, before anything reached the API server';
  });

  await step('9. what did the untrusted API server see?', () => {
    const leaks = bed.leaks(secret);
    const seen = bed.api.recorder;
    check(!leaks.apiServer, 'THE API SERVER SAW THE SECRET');
    check(!leaks.proxyLog && !leaks.agentLogs, 'a shadowplane log holds the secret');
    const paths = [...new Set(bed.api.requests.map((r) => `${r.method} ${r.path}`))].filter((p) => p.includes(CONFIDENTIAL_NS));
    process.stdout.write(`     requests it got about ${CONFIDENTIAL_NS}: ${paths.length === 0 ? 'none' : paths.join(', ')}\n`);
    return Promise.resolve(`searched every byte it received and sent (${seen.received().length} in, ${seen.sent().length} out): the secret is not there, nor in shadowplane's logs`);
  });

  if (keep) {
    const auditor = await bed.verifiedHome(bed.users.auditor);
    process.stdout.write(
      `\n${bold('Everything keeps running. Try it by hand:')}\n` +
        `  export KUBECONFIG=${home.kubeconfig}\n` +
        `  kubectl -n ${CONFIDENTIAL_NS} exec -it conf-app -- sh\n` +
        `  kubectl -n ${CONFIDENTIAL_NS} logs -f conf-app\n` +
        `  kubectl -n ${CONFIDENTIAL_NS} port-forward pod/conf-app 8080:${appPort}   # then curl localhost:8080\n` +
        `  kubectl get --raw /.well-known/shadowplane/audit --kubeconfig ${auditor.kubeconfig}   # the audit record, as the auditor\n` +
        'Ctrl-C to stop.\n',
    );
    await new Promise<void>((resolve) => (stopKeeping = resolve));
  }
  return finish(failures === 0 ? 0 : 1);
}

async function finish(code: number): Promise<number> {
  await closeBed();
  process.stdout.write(code === 0 ? `\n${bold('demo passed')}: every step worked\n` : `\n${bold('demo FAILED')}: ${failures} step(s) failed\n`);
  return code;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo crashed: ${err instanceof Error ? err.stack : String(err)}\n`);
    void abandon(1);
  },
);
