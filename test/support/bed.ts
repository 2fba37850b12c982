/**
 * The shadowplane test bed: the API server stand-in, a simulated TEE platform, the proxy
 * (in-process, its log captured), users with keys, and kubeconfigs written by the real
 * `shadowplane verify` command. Confidential pods are agents started as real child
 * processes (`shadowplane agent -- …`) listening on their pod's own loopback address.
 *
 * Tests use `bed.leaks(secret)` to prove that a secret reached neither the API server
 * stand-in (every byte it received or sent), nor anything between it and the proxy, nor
 * shadowplane's own logs.
 *
 * Options let a suite add to the manifest (namespaces, scrub rules, scrapers), put a
 * front between the proxy and the stand-in, and give agents extra configuration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT, simulateInit, watchRevocationFiles } from '../../src/attestation/index.ts';
import { parseManifest, type Manifest } from '../../src/config/manifest.ts';
import { createLogger } from '../../src/log.ts';
import { startShadowplaneProxy } from '../../src/proxy/assemble.ts';
import { startFakeApiServer, type FakeApiServer, type FakeApiServerOptions } from './fake-apiserver/index.ts';
import { kubeconfigYaml } from './fake-apiserver/kubeconfig.ts';
import type { KubectlHome } from './kubectl.ts';
import { makeTestUser, type TestUser } from './users.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO, 'src/cli/main.ts');
export const CONFIDENTIAL_NS = 'secure';

/** Captures a process's or a logger's output for later inspection. */
export class Capture extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  contains(needle: string | Buffer): boolean {
    return Buffer.concat(this.chunks).includes(needle);
  }
}

export interface BedOptions {
  readonly auth?: 'impersonate' | 'forward-token';
  readonly api?: FakeApiServerOptions;
  /** Pod name patterns declared confidential in the `secure` namespace. Default ['conf-*']. */
  readonly confidentialPods?: readonly string[];
  readonly agentMeasurement?: string;
  /** Run the proxy as its own `shadowplane proxy` process (benchmarks: separate CPU and RSS). Default in-process. */
  readonly proxyProcess?: boolean;
  /** The proxy's own upstream credential in impersonate mode: a kubeconfig file (default) or an in-cluster service-account directory. */
  readonly proxyCredential?: 'kubeconfig' | 'in-cluster';
  /** Extra Node.js flags for the proxy process (profiling, the deployed NODE_OPTIONS). */
  readonly proxyNodeArgs?: readonly string[];
  /** The CLI entry point the proxy process runs (benchmarks: the compiled dist/cli/main.js). Default src/cli/main.ts. */
  readonly proxyCli?: string;
  /** Extra Node.js flags for agent processes (profiling). */
  readonly agentNodeArgs?: readonly string[];
  /** More users (no permissions unless `customizeManifest` gives them some). */
  readonly extraUsers?: readonly string[];
  /** Edits the manifest document before it is written and loaded. */
  readonly customizeManifest?: (doc: ManifestDocument, ctx: { readonly users: Readonly<Record<string, TestUser>>; readonly reference: readonly unknown[] }) => void;
  /** Something between the proxy and the stand-in; the manifest's upstream then names it. */
  readonly upstreamFront?: (api: FakeApiServer) => Promise<UpstreamFront>;
  /** The metrics hash key the proxy gets (in-process, or with --metrics-hash-key-file). Default random. */
  readonly metricsHashKey?: Buffer;
  /** The proxy's own CRLs for agents' chains (`--crl FILE`, repeated) and `--require-crls`. Default none. */
  readonly proxyCrls?: { readonly files: readonly string[]; readonly requireCrls?: boolean };
  /**
   * The owner's signature of the bed's manifest, given to the proxy (`--manifest-signature`
   * for a proxy process). Default none.
   */
  readonly signManifest?: (manifest: { readonly digestHex: string; readonly name: string }) => Promise<string>;
  /** What the agents pin of the proxy's manifest. Default: its digest. */
  readonly agentManifestPin?: { readonly digests: readonly string[]; readonly signers: ReadonlyArray<{ readonly publicKey: string; readonly minimumSerial?: number }> };
}

/** A recorded hop in front of the API server stand-in. */
export interface UpstreamFront {
  readonly url: string;
  readonly caPem: string;
  contains(needle: string | Buffer): boolean;
  close(): Promise<void>;
}

/** The manifest document as the bed builds it (plain JSON values). */
export interface ManifestDocument {
  metadata: { name: string };
  confidential: { namespace: string; pods?: string[] }[];
  workloads: Record<string, unknown>[];
  users: Record<string, unknown>[];
  scrapers?: Record<string, unknown>[];
  upstream: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ConfidentialPodOptions {
  readonly name: string;
  /** Default CONFIDENTIAL_NS. */
  readonly namespace?: string;
  readonly container?: string;
  readonly command: readonly string[];
  readonly podIP?: string;
  readonly stdin?: boolean;
  /** The container has `tty: true`: the agent runs the workload on a terminal. */
  readonly tty?: boolean;
  readonly measurement?: string;
  readonly env?: Record<string, string>;
  /** Every container of the pod spec (default: just this one). */
  readonly podContainers?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /** Named container ports in the pod spec (for a service's named targetPort). */
  readonly containerPorts?: readonly { readonly name: string; readonly containerPort: number }[];
  /** Extra top-level sections of the agent configuration (e.g. `metrics`). */
  readonly agentConfig?: Readonly<Record<string, unknown>>;
}

/** The proxy as a test sees it, in-process or a child process. */
export interface BedProxy {
  readonly url: string;
  readonly port: number;
  readonly servingCertPem: string;
  readonly servingKeySha256: string;
  /** Process id when the proxy runs as its own process. */
  readonly pid: number | undefined;
  close(): Promise<void>;
}

export interface AgentHandle {
  readonly child: ChildProcess;
  readonly podIP: string;
  readonly stdout: Capture;
  readonly stderr: Capture;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export interface Bed {
  readonly dir: string;
  readonly api: FakeApiServer;
  readonly manifest: Manifest;
  readonly manifestPath: string;
  readonly simulatedDir: string;
  readonly referenceValuesPath: string;
  proxy: BedProxy;
  readonly proxyLog: Capture;
  readonly users: { readonly alice: TestUser; readonly bob: TestUser; readonly auditor: TestUser } & Readonly<Record<string, TestUser>>;
  readonly front: UpstreamFront | undefined;
  readonly metricsHashKey: Buffer;
  readonly agents: AgentHandle[];
  /** Writes a kubeconfig for `user` with the real `shadowplane verify` and returns a kubectl home. */
  verifiedHome(user: TestUser, extra?: readonly string[]): Promise<KubectlHome>;
  /** Runs the shadowplane CLI as a child process. */
  cli(args: readonly string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Adds a confidential pod to the API server and starts its agent wrapping `command`. */
  startConfidentialPod(opts: ConfidentialPodOptions): Promise<AgentHandle>;
  /** Where `secret` appears: the API server stand-in (every byte in and out), the front (when there is one), shadowplane's logs. */
  leaks(secret: string | Buffer): { apiServer: boolean; proxyLog: boolean; agentLogs: boolean; front?: boolean };
  restartProxy(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Pod addresses are unique across the test files vitest runs in parallel (one process
 * each): the second and third octets come from this process's id, so two beds never put
 * agents on the same address and port.
 */
const podNet = `127.${1 + (process.pid % 250)}.${(process.pid >> 8) % 256}`;
let podOctet = 10;

export async function createBed(opts: BedOptions = {}): Promise<Bed> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-bed-'));
  const shmDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sp-bed-agents-'));
  const api = await startFakeApiServer(opts.api);
  const simulatedDir = join(dir, 'sim');
  const sim = await simulateInit(simulatedDir);
  const [alice, bob, auditor, ...extra] = await Promise.all(['alice', 'bob', 'auditor', ...(opts.extraUsers ?? [])].map((n) => makeTestUser(n)));
  if (alice === undefined || bob === undefined || auditor === undefined) throw new Error('test users');
  const users = { alice, bob, auditor, ...Object.fromEntries(extra.map((u) => [u.name, u])) };
  const front = opts.upstreamFront === undefined ? undefined : await opts.upstreamFront(api);
  const upstreamUrl = front?.url ?? api.url;
  const upstreamCa = front?.caPem ?? api.caPem;
  const metricsHashKey = opts.metricsHashKey ?? randomBytes(32);
  const auth = opts.auth ?? 'impersonate';
  writeFileSync(join(dir, 'proxy-kubeconfig'), kubeconfigYaml({ server: upstreamUrl, caPem: upstreamCa, credential: { token: api.tokens.proxy } }), { mode: 0o600 });
  const serviceAccountDir = join(dir, 'serviceaccount');
  mkdirSync(serviceAccountDir);
  writeFileSync(join(serviceAccountDir, 'token'), api.tokens.proxy, { mode: 0o600 });
  writeFileSync(join(serviceAccountDir, 'ca.crt'), upstreamCa);
  api.createNamespace(CONFIDENTIAL_NS);

  const simulatedEntry = {
    name: 'simulated',
    platform: 'simulated',
    simulatedRootSha256: sim.arkSha256,
    measurements: [SIMULATED_DEFAULT_MEASUREMENT],
    // The simulated agents report zero host data (no pod policy): that is what identifies them here.
    hostData: ['00'.repeat(32)],
  };
  const doc: ManifestDocument = {
    apiVersion: 'shadowplane.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'test-bed' },
    confidential: [{ namespace: CONFIDENTIAL_NS, pods: [...(opts.confidentialPods ?? ['conf-*'])] }],
    workloads: [{ name: 'app', namespace: CONFIDENTIAL_NS, pods: opts.confidentialPods ?? ['conf-*'], referenceValues: [simulatedEntry] }],
    users: [
      { name: alice.name, groups: ['developers'], publicKey: alice.publicKeyPem, permissions: [{ namespaces: [CONFIDENTIAL_NS], verbs: ['exec', 'attach', 'logs', 'portforward', 'proxy'] }] },
      { name: bob.name, publicKey: bob.publicKeyPem, permissions: [] },
      { name: auditor.name, publicKey: auditor.publicKeyPem, permissions: [{ namespaces: ['*'], verbs: ['audit'] }] },
    ],
    upstream: {
      server: upstreamUrl,
      certificateAuthority: upstreamCa,
      auth,
      credential: auth === 'forward-token' ? { source: 'none' } : opts.proxyCredential === 'in-cluster' ? { source: 'in-cluster' } : { source: 'kubeconfig', path: join(dir, 'proxy-kubeconfig') },
    },
  };
  opts.customizeManifest?.(doc, { users, reference: [simulatedEntry] });
  const manifestPath = join(dir, 'manifest.yaml');
  writeFileSync(manifestPath, stringify(doc));
  const manifest = parseManifest(doc);

  const proxyLog = new Capture();
  const logger = createLogger({ level: 'debug', destination: proxyLog });
  const issuer = createSimulatedIssuer({ dir: simulatedDir, measurement: SIMULATED_DEFAULT_MEASUREMENT });
  const crlFiles = opts.proxyCrls?.files ?? [];
  const requireCrls = opts.proxyCrls?.requireCrls ?? false;
  const manifestSignature = opts.signManifest === undefined ? undefined : await opts.signManifest(manifest);
  const signaturePath = join(dir, 'manifest.sig');
  if (manifestSignature !== undefined) writeFileSync(signaturePath, `${manifestSignature}\n`);
  const startInProcess = async (port: number): Promise<BedProxy> => {
    const running = await startShadowplaneProxy({
      manifest,
      ...(manifestSignature === undefined ? {} : { manifestSignature }),
      issuer,
      allowSimulatedAgents: true,
      // What `shadowplane proxy --crl … --require-crls` passes on.
      ...(opts.proxyCrls === undefined ? {} : { revocation: watchRevocationFiles({ files: crlFiles, requireCrls, option: '--crl', logger }) }),
      agentConnectTimeoutMs: 2000,
      metricsHashKey,
      listen: { host: '127.0.0.1', port },
      subjectAltNames: ['127.0.0.1', 'localhost'],
      inClusterDir: serviceAccountDir,
      logger,
    });
    return { ...running, pid: undefined };
  };
  const startChildProxy = async (port: number): Promise<BedProxy> => {
    const keyFile = join(dir, 'metrics-hash.key');
    writeFileSync(keyFile, metricsHashKey, { mode: 0o600 });
    const child = spawn(process.execPath, [...(opts.proxyNodeArgs ?? []), opts.proxyCli ?? CLI, 'proxy', '--manifest', manifestPath, ...(manifestSignature === undefined ? [] : ['--manifest-signature', signaturePath]), '--listen', `127.0.0.1:${port}`, '--tee', 'simulated', '--simulated-dir', simulatedDir, '--allow-simulated-agents', '--in-cluster-dir', serviceAccountDir, '--metrics-hash-key-file', keyFile, ...crlFiles.flatMap((f) => ['--crl', f]), ...(requireCrls ? ['--require-crls'] : []), '--log-level', 'debug'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.pipe(proxyLog, { end: false });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const listening = await new Promise<number>((resolve, reject) => {
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
    const servingCertPem = await peerCertificatePem(listening);
    const { createHash, X509Certificate } = await import('node:crypto');
    return {
      url: `https://127.0.0.1:${listening}`,
      port: listening,
      servingCertPem,
      servingKeySha256: createHash('sha256').update(new X509Certificate(servingCertPem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex'),
      pid: child.pid,
      close: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    };
  };
  const start = opts.proxyProcess === true ? startChildProxy : startInProcess;
  let proxy = await start(0);

  // The agents pin the proxy by its reference values (the simulated platform) and manifest digest.
  const agentReference = join(dir, 'proxy-reference-values.yaml');
  writeFileSync(agentReference, readFileSync(sim.referenceValuesPath));
  const agents: AgentHandle[] = [];
  const homes: string[] = [];

  const cli: Bed['cli'] = (args, o = {}) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });

  const bed: Bed = {
    dir,
    api,
    manifest,
    manifestPath,
    simulatedDir,
    referenceValuesPath: sim.referenceValuesPath,
    get proxy() {
      return proxy;
    },
    set proxy(p) {
      proxy = p;
    },
    proxyLog,
    users,
    front,
    metricsHashKey,
    agents,

    async verifiedHome(user, extra = []) {
      const home = mkdtempSync(join(dir, `home-${user.name}-`));
      homes.push(home);
      writeFileSync(join(home, 'user.crt'), user.certPem);
      writeFileSync(join(home, 'user.key'), user.keyPem, { mode: 0o600 });
      const kubeconfig = join(home, 'kubeconfig');
      const args = ['verify', '--server', proxy.url, '--manifest', manifestPath, '--reference-values', sim.referenceValuesPath, '--client-cert', join(home, 'user.crt'), '--client-key', join(home, 'user.key'), '--allow-simulated', '--out', kubeconfig, ...extra];
      const r = await cli(args);
      if (r.code !== 0) throw new Error(`shadowplane verify failed (${r.code}): ${r.stderr}`);
      return { dir: home, kubeconfig, dispose: () => rmSync(home, { recursive: true, force: true }) };
    },

    cli,

    async startConfidentialPod(p) {
      const namespace = p.namespace ?? CONFIDENTIAL_NS;
      const container = p.container ?? 'app';
      // A restarted container keeps its pod, and so its address.
      const existing = api.cluster.store.get('pods', namespace, p.name)?.object as { status?: { podIP?: string } } | undefined;
      const podIP = existing?.status?.podIP ?? p.podIP ?? `${podNet}.${podOctet++}`;
      if (existing === undefined) {
        const ports = p.containerPorts?.map((port) => ({ ...port, protocol: 'TCP' }));
        // The pod spec says what kubectl checks before attach -it: stdin and tty of the container.
        const spec = (name: string) => (name === container ? { name, ...(p.stdin === true ? { stdin: true } : {}), ...(p.tty === true ? { tty: true } : {}) } : { name });
        const stored = api.addPod({ namespace, name: p.name, containers: (p.podContainers ?? [container]).map(spec), podIP, ...(p.labels === undefined ? {} : { labels: p.labels }) });
        if (ports !== undefined) {
          const pod = structuredClone(stored.object) as unknown as { spec: { containers: { ports?: unknown }[] } };
          pod.spec.containers[0]!.ports = ports;
          api.cluster.store.update('pods', pod as unknown as typeof stored.object);
        }
      }
      // Agents keep log files only on memory-backed storage (what a pod's emptyDir medium: Memory is).
      const agentDir = join(shmDir, 'agents', namespace, p.name, container);
      mkdirSync(agentDir, { recursive: true });
      const config = {
        pod: { namespace, name: p.name },
        container,
        listen: { address: podIP, port: manifest.agent.port },
        shareDir: join(shmDir, 'agents', namespace, p.name, 'share'),
        logs: { dir: join(agentDir, 'logs') },
        attach: { stdin: p.stdin ?? false, tty: p.tty ?? false },
        proxy: {
          referenceValuesFile: agentReference,
          allowedManifestDigests: opts.agentManifestPin === undefined ? [manifest.digestHex] : [...opts.agentManifestPin.digests],
          ...(opts.agentManifestPin === undefined ? {} : { manifestSigners: opts.agentManifestPin.signers }),
          allowSimulated: true,
        },
        attestation: { tee: 'simulated', simulatedDir, ...(p.measurement ?? opts.agentMeasurement ? { simulatedMeasurement: p.measurement ?? opts.agentMeasurement } : {}) },
        logLevel: 'debug',
        ...p.agentConfig,
      };
      const configPath = join(agentDir, 'agent.yaml');
      writeFileSync(configPath, stringify(config));
      const stdout = new Capture();
      const stderr = new Capture();
      const child = spawn(process.execPath, [...(opts.agentNodeArgs ?? []), CLI, 'agent', '--config', configPath, '--', ...p.command], {
        env: { PATH: process.env.PATH ?? '', HOME: agentDir, ...p.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // The pod: a process group of its own, so closing the bed ends the workload
        // too, even when the agent was killed first and could not end it.
        detached: true,
      });
      child.stdout.pipe(stdout);
      child.stderr.pipe(stderr);
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const handle: AgentHandle = { child, podIP, stdout, stderr, exited, kill: (signal = 'SIGKILL') => void child.kill(signal) };
      agents.push(handle);
      await waitForListening(podIP, manifest.agent.port, exited);
      return handle;
    },

    leaks(secret) {
      return {
        apiServer: api.recorder.contains(secret),
        proxyLog: proxyLog.contains(secret),
        agentLogs: agents.some((a) => a.stdout.contains(secret) || a.stderr.contains(secret)),
        ...(front === undefined ? {} : { front: front.contains(secret) }),
      };
    },

    async restartProxy() {
      const port = proxy.port;
      await proxy.close();
      proxy = await start(port);
    },

    async close() {
      // What must not outlive the bed goes first, before anything that could hang: the
      // pods (detached process groups, the workload's argv may hold a test's secret), then
      // the directories with the users' private keys and the agents' logs.
      for (const a of agents) killPod(a.child);
      try {
        await Promise.all(agents.map((a) => a.exited));
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(shmDir, { recursive: true, force: true });
      }
      await proxy.close();
      await front?.close();
      await api.close();
    },
  };
  return bed;
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

/** Waits until something accepts TCP connections at host:port (bounded; fails early if `exited` settles). */
export async function waitForListening(host: string, port: number, exited: Promise<number | null>): Promise<void> {
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

/** Ends a pod's whole process group (agent and workload), as a deleted pod's containers end. */
function killPod(agent: ChildProcess): void {
  if (agent.pid === undefined) return;
  try {
    process.kill(-agent.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
