/**
 * The test bed for metrics and pod HTTP access: the API server stand-in behind a thin
 * Service front (the untrusted side, both recorded), a simulated TEE, the proxy
 * in-process with its metrics endpoints and its own metrics (log captured), users and
 * scrapers in the manifest, and confidential pods whose agents are real child processes
 * wrapping the metrics workload on their own loopback address.
 *
 * The manifest's `workloads[].metrics` policy keeps `method`, `code` and `room`, hashes
 * `user_id`, drops everything else; only `http_requests*`, `app_temperature_celsius` and
 * `request_seconds` may leave. Every pod's agent scrapes its workload at its own port
 * (the agent configuration's `metrics.port`), because test pods share one network
 * namespace.
 */
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT, simulateInit } from '../../../../src/attestation/index.ts';
import { parseManifest, type Manifest } from '../../../../src/config/manifest.ts';
import { createLogger } from '../../../../src/log.ts';
import { createAuditEndpoint } from '../../../../src/proxy/audit.ts';
import { createConfidentialStack, type ConfidentialStack } from '../../../../src/proxy/confidential/stack.ts';
import { startProxy, type RunningProxy } from '../../../../src/proxy/start.ts';
import { Capture, CLI, type AgentHandle } from '../../../support/bed.ts';
import { startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver/index.ts';
import { kubeconfigYaml } from '../../../support/fake-apiserver/kubeconfig.ts';
import type { KubectlHome } from '../../../support/kubectl.ts';
import { freePort } from '../../../support/transfer.ts';
import { makeTestUser, type TestUser } from '../../../support/users.ts';
import { startServiceFront, type ServiceFront } from './service-front.ts';

export const NS = 'secure';
/** A second confidential namespace the scrapers may not read. */
export const OTHER_NS = 'vault';
export const WORKLOAD = fileURLToPath(new URL('../fixtures/metrics-workload.mjs', import.meta.url));

export const POLICY = {
  labels: { method: 'keep', code: 'keep' },
  families: [
    { name: 'http_requests_total', labels: { user_id: 'hash' } },
    { name: 'app_temperature_celsius', labels: { room: 'keep' } },
    { name: 'request_seconds' },
  ],
};

export interface MetricsPod {
  readonly name: string;
  readonly namespace: string;
  readonly podIP: string;
  readonly metricsPort: number;
  readonly agent: AgentHandle;
}

export interface MetricsBed {
  readonly dir: string;
  readonly api: FakeApiServer;
  readonly front: ServiceFront;
  readonly manifest: Manifest;
  readonly manifestPath: string;
  /** Reference values of the simulated platform, for `shadowplane verify`. */
  readonly referenceValuesPath: string;
  readonly proxy: MetricsBedProxy;
  readonly proxyLog: Capture;
  /** The metrics hash key the proxy was given (so tests can compute expected hashes). */
  readonly hashKey: Buffer;
  readonly users: { readonly alice: TestUser; readonly bob: TestUser; readonly mia: TestUser };
  readonly scrapers: { readonly cert: TestUser; readonly token: string; readonly narrow: TestUser };
  readonly pods: MetricsPod[];
  /** The hash the policy gives `value` (16 hex characters of HMAC-SHA-256 under the key). */
  hashOf(value: string): string;
  /** `namedPort` names the workload's port in the pod spec (for a service's named targetPort). */
  startPod(opts: { name: string; namespace?: string; env?: Record<string, string>; labels?: Record<string, string>; namedPort?: string }): Promise<MetricsPod>;
  /** A kubeconfig for `user` written by the real `shadowplane verify`. */
  verifiedHome(user: TestUser): Promise<KubectlHome>;
  cli(args: readonly string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** An HTTPS request to the proxy (HTTP/1.1) with a client certificate or a bearer token. */
  request(path: string, opts?: RequestOptions): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>;
  leaks(secret: string): { apiServer: boolean; front: boolean; proxyLog: boolean; agentLogs: boolean };
  close(): Promise<void>;
}

/** The proxy as tests see it, in-process or a `shadowplane proxy` child process. */
export interface MetricsBedProxy {
  readonly url: string;
  readonly port: number;
  readonly servingCertPem: string;
  close(): Promise<void>;
}

export interface MetricsBedOptions {
  /**
   * Run the proxy as `shadowplane proxy` (its own process, the CLI's wiring, the hash key
   * delivered with --metrics-hash-key-file) instead of in-process. Default false.
   */
  readonly proxyProcess?: boolean;
}

export interface RequestOptions {
  readonly as?: TestUser;
  readonly token?: string;
  readonly method?: string;
  readonly accept?: string;
  readonly body?: Buffer | string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

export async function createMetricsBed(options: MetricsBedOptions = {}): Promise<MetricsBed> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-metrics-bed-'));
  const shmDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sp-metrics-agents-'));
  const api = await startFakeApiServer();
  const front = await startServiceFront({ url: api.url, caPem: api.caPem });
  const sim = await simulateInit(join(dir, 'sim'));
  const [alice, bob, mia, scraperCert, narrow] = await Promise.all([makeTestUser('alice'), makeTestUser('bob'), makeTestUser('mia'), makeTestUser('prometheus'), makeTestUser('narrow')]);
  const token = `sp-scrape-${randomBytes(24).toString('base64url')}`;
  writeFileSync(join(dir, 'proxy-kubeconfig'), kubeconfigYaml({ server: front.url, caPem: front.caPem, credential: { token: api.tokens.proxy } }), { mode: 0o600 });
  api.createNamespace(NS);
  api.createNamespace(OTHER_NS);

  const reference = [{ name: 'simulated', platform: 'simulated', simulatedRootSha256: sim.arkSha256, measurements: [SIMULATED_DEFAULT_MEASUREMENT] }];
  const doc = {
    apiVersion: 'shadowplane.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'metrics-bed' },
    confidential: [{ namespace: NS, pods: ['conf-*'] }, { namespace: OTHER_NS }],
    workloads: [
      { name: 'app', namespace: NS, pods: ['conf-*'], referenceValues: reference, metrics: POLICY },
      { name: 'vault', namespace: OTHER_NS, referenceValues: reference, metrics: POLICY },
    ],
    users: [
      { name: alice.name, publicKey: alice.publicKeyPem, permissions: [{ namespaces: [NS], verbs: ['exec', 'logs', 'portforward', 'proxy', 'metrics'] }] },
      { name: bob.name, publicKey: bob.publicKeyPem, permissions: [] },
      { name: mia.name, publicKey: mia.publicKeyPem, permissions: [{ namespaces: ['*'], verbs: ['metrics'] }] },
    ],
    scrapers: [
      { name: 'prometheus', publicKey: scraperCert.publicKeyPem, namespaces: [NS] },
      { name: 'prometheus-token', tokenSha256: createHash('sha256').update(token).digest('hex'), namespaces: [NS] },
      { name: 'narrow', publicKey: narrow.publicKeyPem, namespaces: [OTHER_NS] },
    ],
    upstream: { server: front.url, certificateAuthority: front.caPem, auth: 'impersonate', credential: { source: 'kubeconfig', path: join(dir, 'proxy-kubeconfig') } },
  };
  const manifestPath = join(dir, 'manifest.yaml');
  writeFileSync(manifestPath, stringify(doc));
  const manifest = parseManifest(doc);

  const proxyLog = new Capture();
  const logger = createLogger({ level: 'debug', destination: proxyLog });
  const issuer = createSimulatedIssuer({ dir: join(dir, 'sim'), measurement: SIMULATED_DEFAULT_MEASUREMENT });
  const hashKey = randomBytes(32);
  const startInProcess = async (): Promise<MetricsBedProxy> => {
    const stack: ConfidentialStack = await createConfidentialStack({ manifest, issuer, allowSimulatedAgents: true, logger, agentConnectTimeoutMs: 2000, metricsHashKey: hashKey });
    const running: RunningProxy = await startProxy({
      manifest,
      issuer,
      listen: { host: '127.0.0.1', port: 0 },
      subjectAltNames: ['127.0.0.1', 'localhost'],
      confidential: stack.service,
      endpoints: { audit: createAuditEndpoint(stack.audit, manifest) },
      metricsEndpoints: stack.metricsEndpoints,
      requestMetrics: stack.requestMetrics,
      logger,
    });
    return {
      url: running.url,
      port: running.port,
      servingCertPem: running.servingCertPem,
      close: async () => {
        stack.close();
        await running.close();
      },
    };
  };
  const startChild = async (): Promise<MetricsBedProxy> => {
    const keyFile = join(dir, 'metrics-hash.key');
    writeFileSync(keyFile, hashKey, { mode: 0o600 });
    const child = spawn(process.execPath, [CLI, 'proxy', '--manifest', manifestPath, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(dir, 'sim'), '--allow-simulated-agents', '--metrics-hash-key-file', keyFile, '--log-level', 'debug'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.pipe(proxyLog, { end: false });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`the proxy process did not start:\n${proxyLog.text().slice(-2000)}`));
      }, 30_000);
      const poll = setInterval(() => {
        const m = /"listen":"127\.0\.0\.1:(\d+)"/.exec(proxyLog.text());
        if (m !== null) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }, 20);
    });
    return {
      url: `https://127.0.0.1:${port}`,
      port,
      servingCertPem: await peerCertificatePem(port),
      close: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    };
  };
  const proxy = options.proxyProcess === true ? await startChild() : await startInProcess();

  const agentReference = join(dir, 'proxy-reference-values.yaml');
  writeFileSync(agentReference, readFileSync(sim.referenceValuesPath));
  // Pod addresses of their own (other test files use 127.0.2.x), so parallel files never share one.
  const subnet = `127.${60 + randomInt(180)}.${randomInt(1, 250)}`;
  let octet = 10;
  const pods: MetricsPod[] = [];
  const homes: string[] = [];

  const cli: MetricsBed['cli'] = (args, timeoutMs = 30_000) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });

  return {
    dir,
    api,
    front,
    manifest,
    manifestPath,
    referenceValuesPath: sim.referenceValuesPath,
    proxy,
    proxyLog,
    hashKey,
    users: { alice, bob, mia },
    scrapers: { cert: scraperCert, token, narrow },
    pods,

    hashOf: (value) => createHmac('sha256', hashKey).update(value, 'utf8').digest('hex').slice(0, 16),

    async startPod(p) {
      const namespace = p.namespace ?? NS;
      const podIP = `${subnet}.${octet++}`;
      const metricsPort = await freePort();
      const stored = api.addPod({ namespace, name: p.name, containers: [{ name: 'app' }], podIP, ...(p.labels === undefined ? {} : { labels: p.labels }) });
      if (p.namedPort !== undefined) {
        const pod = structuredClone(stored.object) as unknown as { spec: { containers: { ports?: unknown }[] } };
        pod.spec.containers[0]!.ports = [{ name: p.namedPort, containerPort: metricsPort, protocol: 'TCP' }];
        api.cluster.store.update('pods', pod as unknown as typeof stored.object);
      }
      const agentDir = join(shmDir, p.name);
      mkdirSync(agentDir, { recursive: true });
      const config = {
        pod: { namespace, name: p.name },
        container: 'app',
        listen: { address: podIP, port: manifest.agent.port },
        shareDir: join(agentDir, 'share'),
        logs: { dir: join(agentDir, 'logs') },
        proxy: { referenceValuesFile: agentReference, allowedManifestDigests: [manifest.digestHex], allowSimulated: true },
        attestation: { tee: 'simulated', simulatedDir: join(dir, 'sim') },
        metrics: { port: metricsPort },
        logLevel: 'debug',
      };
      const configPath = join(agentDir, 'agent.yaml');
      writeFileSync(configPath, stringify(config));
      const stdout = new Capture();
      const stderr = new Capture();
      const child = spawn(process.execPath, [CLI, 'agent', '--config', configPath, '--', process.execPath, WORKLOAD, String(metricsPort)], {
        env: { PATH: process.env.PATH ?? '', HOME: agentDir, ...p.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.pipe(stdout);
      child.stderr.pipe(stderr);
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const agent: AgentHandle = { child, podIP, stdout, stderr, exited, kill: (signal = 'SIGKILL') => void child.kill(signal) };
      await waitForPort(podIP, manifest.agent.port, exited);
      await waitForPort('127.0.0.1', metricsPort, exited);
      const pod = { name: p.name, namespace, podIP, metricsPort, agent };
      pods.push(pod);
      return pod;
    },

    async verifiedHome(user) {
      const home = mkdtempSync(join(dir, `home-${user.name}-`));
      homes.push(home);
      writeFileSync(join(home, 'user.crt'), user.certPem);
      writeFileSync(join(home, 'user.key'), user.keyPem, { mode: 0o600 });
      const kubeconfig = join(home, 'kubeconfig');
      const r = await cli(['verify', '--server', proxy.url, '--manifest', manifestPath, '--reference-values', sim.referenceValuesPath, '--client-cert', join(home, 'user.crt'), '--client-key', join(home, 'user.key'), '--allow-simulated', '--out', kubeconfig]);
      if (r.code !== 0) throw new Error(`shadowplane verify failed (${r.code}): ${r.stderr}`);
      return { dir: home, kubeconfig, dispose: () => rmSync(home, { recursive: true, force: true }) };
    },

    cli,

    request(path, o = {}) {
      return new Promise((resolve, reject) => {
        const body = o.body === undefined ? undefined : Buffer.from(o.body);
        const req = httpsRequest({
          host: '127.0.0.1',
          port: proxy.port,
          path,
          method: o.method ?? 'GET',
          ca: proxy.servingCertPem,
          ...(o.as === undefined ? {} : { cert: o.as.certPem, key: o.as.keyPem }),
          headers: {
            ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
            ...(o.accept === undefined ? {} : { accept: o.accept }),
            ...(body === undefined ? {} : { 'content-length': String(body.length) }),
            ...o.headers,
          },
          agent: false,
        });
        const timer = setTimeout(() => req.destroy(new Error(`request to ${path} timed out`)), o.timeoutMs ?? 30_000);
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        });
        req.end(body);
      });
    },

    leaks(secret) {
      return {
        apiServer: api.recorder.contains(secret),
        front: front.contains(secret),
        proxyLog: proxyLog.contains(secret),
        agentLogs: pods.some((p) => p.agent.stdout.contains(secret) || p.agent.stderr.contains(secret)),
      };
    },

    async close() {
      for (const p of pods) p.agent.kill('SIGKILL');
      await Promise.all(pods.map((p) => p.agent.exited));
      await proxy.close();
      await front.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(shmDir, { recursive: true, force: true });
      for (const h of homes) rmSync(h, { recursive: true, force: true });
    },
  };
}

function peerCertificatePem(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    s.once('secureConnect', () => {
      const pem = s.getPeerX509Certificate()?.toString() ?? '';
      s.destroy();
      resolve(pem);
    });
    s.once('error', reject);
  });
}

async function waitForPort(host: string, port: number, exited: Promise<number | null>): Promise<void> {
  const { connect } = await import('node:net');
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !gone) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens at ${host}:${port}`);
}
