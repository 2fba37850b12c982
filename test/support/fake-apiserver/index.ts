/**
 * An in-process Kubernetes API server stand-in for tests and the demo: TLS on 127.0.0.1
 * port 0 (h2 and http/1.1), real authentication and impersonation rules, namespaces and
 * pods with list/watch/patch/apply/logs semantics kubectl 1.27–1.33 relies on, a tiny
 * kubelet for non-confidential pods' streams, and a recorder of every plaintext byte it
 * received and sent (so a test can prove a secret never reached it).
 *
 * Start it with `startFakeApiServer()`, always `close()` it (bounded; ends open watches,
 * follows and stream sessions).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { ImpersonationConfig, TokenIdentity } from './authn.ts';
import type { AuthorizationRules } from './authz.ts';
import { Cluster, type AddPodOptions } from './cluster.ts';
import { parseServerVersion } from './discovery.ts';
import { createHandlers } from './http-handler.ts';
import { startListener } from './listener.ts';
import type { LogStream } from './log-store.ts';
import { createCertificateAuthority, type KeyPairPem } from './pki.ts';
import type { PodPhase } from './pods.ts';
import { ByteRecorder, DEFAULT_RECORDER_MAX_BYTES } from './recorder.ts';
import { RequestLog, type RecordedRequest } from './request-log.ts';
import type { StoredObject } from './store.ts';
import { kubeconfigYaml, type KubeconfigCredential } from './kubeconfig.ts';
import { Kubelet, type KubeletOptions } from './kubelet.ts';
import type { AcceptOptions } from '../../../src/proxy/streams/upgrade.ts';

export interface FakeApiServerOptions {
  /** Loopback address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** The gitVersion `/version` reports. @default 'v1.31.4' */
  readonly version?: string;
  /** Record every plaintext byte (false: connections are not wrapped at all, for benchmarks). @default true */
  readonly record?: boolean;
  /** Cap on recorded bytes. @default 512 MiB */
  readonly recorderMaxBytes?: number;
  /** Extra bearer tokens (token → identity), besides the admin and proxy tokens. */
  readonly tokens?: Readonly<Record<string, TokenIdentity>>;
  /** Who may impersonate. @default the proxy's service account and group system:masters */
  readonly impersonators?: Partial<ImpersonationConfig>;
  /** Per-user allow rules; users without rules may do anything. @default {} */
  readonly authorization?: AuthorizationRules;
  /** Serve aggregated discovery (APIGroupDiscoveryList) when asked. @default true */
  readonly aggregatedDiscovery?: boolean;
  /** Interval of BOOKMARK events on watches that allow them. @default 60000 */
  readonly watchBookmarkIntervalMs?: number;
  /** Watch length when the client gives no timeoutSeconds. @default 1800 */
  readonly watchDefaultTimeoutSeconds?: number;
  /** Pods created through the API start running at once. @default true */
  readonly autoStartPods?: boolean;
  /** Pod addresses are allocated from `<prefix>.1` upwards (loopback). @default '127.0.1' */
  readonly podNetworkPrefix?: string;
  /** Change events kept for watches from an old resourceVersion. @default 10000 */
  readonly historyLimit?: number;
  /** Milliseconds since the epoch; injectable for ages and log times. @default Date.now */
  readonly clock?: () => number;
  /** How the pretend kubelet serves exec/attach/port-forward of ordinary pods. @default local processes, loopback connections */
  readonly kubelet?: KubeletOptions;
  /** Options for shadowplane's stream terminators used by the kubelet routes. */
  readonly streamAccept?: AcceptOptions;
  /**
   * Gzip object and list answers of 128 KiB or more for clients that accept it, as
   * kube-apiserver does (kubectl always does). The payload view of the recorder keeps the
   * uncompressed body. @default true
   */
  readonly gzip?: boolean;
}

export interface ClientCa {
  readonly caPem: string;
  /** Issues a client certificate for `user` in `groups` (CN and O). */
  issue(user: string, groups?: readonly string[]): Promise<KeyPairPem>;
}

export interface FakeApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The CA that signed the serving certificate (trust it to connect). */
  readonly caPem: string;
  readonly clientCa: ClientCa;
  /** Bearer tokens: a cluster admin (system:masters) and shadowplane's proxy (an impersonator). */
  readonly tokens: { readonly admin: string; readonly proxy: string };
  readonly users: { readonly admin: string; readonly proxy: string };
  readonly recorder: ByteRecorder;
  /** Every request received so far (a snapshot, oldest first). */
  readonly requests: readonly RecordedRequest[];
  readonly cluster: Cluster;
  /** Number of TLS connections currently open. */
  readonly openConnections: number;
  addPod(options: AddPodOptions): StoredObject;
  setPodIP(namespace: string, name: string, podIP: string): StoredObject;
  setPodPhase(namespace: string, name: string, phase: PodPhase): StoredObject;
  deletePod(namespace: string, name: string): void;
  createNamespace(name: string, labels?: Record<string, string>): StoredObject;
  appendLog(namespace: string, pod: string, container: string, text: string, options?: { previous?: boolean; stream?: LogStream }): void;
  /** A kubeconfig for this server with the given credential (default: the admin token). */
  kubeconfig(credential?: KubeconfigCredential): string;
  clearRequests(): void;
  close(): Promise<void>;
}

export async function startFakeApiServer(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const host = options.host ?? '127.0.0.1';
  const version = parseServerVersion(options.version ?? 'v1.31.4');
  const clock = options.clock ?? Date.now;

  const servingCa = await createCertificateAuthority('fake-apiserver-ca');
  const serving = await servingCa.issue({ commonName: 'kube-apiserver', usage: 'server', dnsNames: ['localhost', 'kubernetes', 'kubernetes.default.svc'], ipAddresses: [host] });
  const clientAuthority = await createCertificateAuthority('fake-apiserver-client-ca');

  const adminToken = randomBytes(24).toString('base64url');
  const proxyToken = randomBytes(24).toString('base64url');
  const users = { admin: 'admin', proxy: 'system:serviceaccount:shadowplane:proxy' };
  const tokens = new Map<string, TokenIdentity>([
    [adminToken, { user: users.admin, groups: ['system:masters'] }],
    [proxyToken, { user: users.proxy, groups: ['system:serviceaccounts', 'system:serviceaccounts:shadowplane'] }],
    ...Object.entries(options.tokens ?? {}),
  ]);

  const cluster = new Cluster({
    clock,
    autoStartPods: options.autoStartPods ?? true,
    nodeName: 'fake-node',
    nodeIP: host,
    podNetworkPrefix: options.podNetworkPrefix ?? '127.0.1',
    historyLimit: options.historyLimit ?? 10_000,
    maxLogLinesPerContainer: 100_000,
  });
  const recorder = new ByteRecorder({ enabled: options.record ?? true, maxBytes: options.recorderMaxBytes ?? DEFAULT_RECORDER_MAX_BYTES });
  const requests = new RequestLog();
  const closing = new AbortController();
  // Every open request listens for the close: that is many listeners, by design.
  setMaxListeners(0, closing.signal);
  const recording = options.record === false ? null : recorder;
  const kubelet = new Kubelet(options.kubelet ?? {}, cluster.logs, recording);
  cluster.store.subscribe((e) => {
    if (e.type === 'DELETED' && e.resource === 'pods') kubelet.podDeleted(e.current.namespace, e.current.name);
  });
  const minor = Number(version.minor);
  let port = 0;

  const handlers = createHandlers({
    cluster,
    tokens,
    impersonators: { users: options.impersonators?.users ?? [users.proxy], groups: options.impersonators?.groups ?? ['system:masters'] },
    rules: options.authorization ?? {},
    version,
    aggregatedDiscovery: options.aggregatedDiscovery === false ? [] : minor >= 30 ? ['v2', 'v2beta1'] : ['v2beta1'],
    watch: {
      bookmarkIntervalMs: options.watchBookmarkIntervalMs ?? 60_000,
      defaultTimeoutSeconds: options.watchDefaultTimeoutSeconds ?? 1800,
      maxQueuedEvents: 10_000,
    },
    requests,
    streams: { kubelet, accept: options.streamAccept ?? {} },
    recorder: recording,
    gzip: options.gzip ?? true,
    closing: closing.signal,
    serverAddress: () => `${host}:${port}`,
  });
  const listener = await startListener({
    host,
    keyPem: serving.keyPem,
    certPem: serving.certPem,
    clientCaPem: clientAuthority.certPem,
    recorder: recording,
    handlers,
    maxHeaderBytes: 64 * 1024,
  });
  port = listener.port;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    host,
    port,
    caPem: servingCa.certPem,
    clientCa: {
      caPem: clientAuthority.certPem,
      issue: (user, groups = []) => clientAuthority.issue({ commonName: user, organizations: groups, usage: 'client' }),
    },
    tokens: { admin: adminToken, proxy: proxyToken },
    users,
    recorder,
    get requests() {
      return requests.all();
    },
    cluster,
    get openConnections() {
      return listener.openConnections;
    },
    addPod: (o) => cluster.addPod(o),
    setPodIP: (ns, name, ip) => cluster.setPodIP(ns, name, ip),
    setPodPhase: (ns, name, phase) => cluster.setPodPhase(ns, name, phase),
    deletePod: (ns, name) => void cluster.deletePod(ns, name),
    createNamespace: (name, labels) => cluster.createNamespace(name, labels),
    appendLog: (ns, pod, container, text, o) => cluster.appendLog(ns, pod, container, text, o),
    kubeconfig: (credential = { token: adminToken }) => kubeconfigYaml({ server: url, caPem: servingCa.certPem, credential }),
    clearRequests: () => requests.clear(),
    async close(): Promise<void> {
      closing.abort();
      await Promise.all([listener.close(2000), kubelet.close(2000)]);
    },
  };
}

export type { AddPodOptions } from './cluster.ts';
export type { RecordedRequest } from './request-log.ts';
export type { ByteRecorder } from './recorder.ts';
export type { KubeconfigCredential } from './kubeconfig.ts';
export type { TokenIdentity, UserInfo } from './authn.ts';
export type { AllowRule, AuthorizationRules } from './authz.ts';
export type { ExecRequest, KubeletOptions } from './kubelet.ts';
export type { ConnectionRecording, RecordingView } from './recorder.ts';
export type { PodPhase } from './pods.ts';
