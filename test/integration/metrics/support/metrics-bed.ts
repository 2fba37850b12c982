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
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../../../../src/config/manifest.ts';
import { createBed, waitForListening, type AgentHandle, type BedProxy, type Capture } from '../../../support/bed.ts';
import type { FakeApiServer } from '../../../support/fake-apiserver/index.ts';
import type { KubectlHome } from '../../../support/kubectl.ts';
import { freePort } from '../../../support/transfer.ts';
import type { TestUser } from '../../../support/users.ts';
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
  /** alice: exec, logs, portforward, proxy and metrics in NS; bob: nothing; mia: metrics everywhere; pete: proxy in NS. */
  readonly users: { readonly alice: TestUser; readonly bob: TestUser; readonly mia: TestUser; readonly pete: TestUser };
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
export type MetricsBedProxy = BedProxy;

export interface MetricsBedOptions {
  /**
   * Run the proxy as `shadowplane proxy` (its own process, the CLI's wiring, the hash key
   * delivered with --metrics-hash-key-file) instead of in-process. Default false.
   */
  readonly proxyProcess?: boolean;
  /** The workloads' `metrics` policy in the manifest. Default POLICY. */
  readonly policy?: Record<string, unknown>;
  /** Workloads in NS listed before the bed's own (whose pods are `conf-*`), so that their pod patterns win. */
  readonly extraWorkloads?: ReadonlyArray<{ readonly name: string; readonly pods: readonly string[]; readonly metrics: Record<string, unknown> }>;
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
  const token = `sp-scrape-${randomBytes(24).toString('base64url')}`;
  const hashKey = randomBytes(32);
  const bed = await createBed({
    proxyProcess: options.proxyProcess === true,
    metricsHashKey: hashKey,
    extraUsers: ['mia', 'pete', 'prometheus', 'narrow'],
    ...(options.extraWorkloads === undefined ? {} : { confidentialPods: ['conf-*', ...options.extraWorkloads.flatMap((w) => w.pods)] }),
    upstreamFront: (api) => startServiceFront({ url: api.url, caPem: api.caPem }),
    customizeManifest: (doc, { users, reference }) => {
      doc.metadata.name = 'metrics-bed';
      doc.confidential.push({ namespace: OTHER_NS });
      doc.workloads = [
        ...(options.extraWorkloads ?? []).map((w) => ({ name: w.name, namespace: NS, pods: [...w.pods], referenceValues: reference, metrics: w.metrics })),
        { name: 'app', namespace: NS, pods: ['conf-*'], referenceValues: reference, metrics: options.policy ?? POLICY },
        { name: 'vault', namespace: OTHER_NS, referenceValues: reference, metrics: options.policy ?? POLICY },
      ];
      doc.users = [
        { name: 'alice', publicKey: users.alice!.publicKeyPem, permissions: [{ namespaces: [NS], verbs: ['exec', 'logs', 'portforward', 'proxy', 'metrics'] }] },
        { name: 'bob', publicKey: users.bob!.publicKeyPem, permissions: [] },
        { name: 'mia', publicKey: users.mia!.publicKeyPem, permissions: [{ namespaces: ['*'], verbs: ['metrics'] }] },
        { name: 'pete', publicKey: users.pete!.publicKeyPem, permissions: [{ namespaces: [NS], verbs: ['proxy'] }] },
      ];
      doc.scrapers = [
        { name: 'prometheus', publicKey: users.prometheus!.publicKeyPem, namespaces: [NS] },
        { name: 'prometheus-token', tokenSha256: createHash('sha256').update(token).digest('hex'), namespaces: [NS] },
        { name: 'narrow', publicKey: users.narrow!.publicKeyPem, namespaces: [OTHER_NS] },
      ];
    },
  });
  bed.api.createNamespace(OTHER_NS);
  const pods: MetricsPod[] = [];
  const front = bed.front!;
  const proxy = bed.proxy;

  return {
    dir: bed.dir,
    api: bed.api,
    front: front as ServiceFront,
    manifest: bed.manifest,
    manifestPath: bed.manifestPath,
    referenceValuesPath: bed.referenceValuesPath,
    proxy,
    proxyLog: bed.proxyLog,
    hashKey,
    users: { alice: bed.users.alice, bob: bed.users.bob, mia: bed.users.mia!, pete: bed.users.pete! },
    scrapers: { cert: bed.users.prometheus!, token, narrow: bed.users.narrow! },
    pods,

    hashOf: (value) => createHmac('sha256', hashKey).update(value, 'utf8').digest('hex').slice(0, 16),

    async startPod(p) {
      const namespace = p.namespace ?? NS;
      // Every pod's agent scrapes its own port: test pods share one network namespace.
      const metricsPort = await freePort();
      const agent = await bed.startConfidentialPod({
        name: p.name,
        namespace,
        command: [process.execPath, WORKLOAD, String(metricsPort)],
        agentConfig: { metrics: { port: metricsPort } },
        ...(p.env === undefined ? {} : { env: p.env }),
        ...(p.labels === undefined ? {} : { labels: p.labels }),
        ...(p.namedPort === undefined ? {} : { containerPorts: [{ name: p.namedPort, containerPort: metricsPort }] }),
      });
      await waitForListening('127.0.0.1', metricsPort, agent.exited);
      const pod = { name: p.name, namespace, podIP: agent.podIP, metricsPort, agent };
      pods.push(pod);
      return pod;
    },

    verifiedHome: (user) => bed.verifiedHome(user),
    cli: (args, timeoutMs = 30_000) => bed.cli(args, { timeoutMs }),

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
      const l = bed.leaks(secret);
      return { apiServer: l.apiServer, front: l.front ?? false, proxyLog: l.proxyLog, agentLogs: l.agentLogs };
    },

    close: () => bed.close(),
  };
}
