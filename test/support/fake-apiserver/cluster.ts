/**
 * The cluster state behind the stand-in: the object store, container logs, pod
 * addresses, and the few controller behaviours kubectl notices (a pod created through the
 * API is scheduled and started by a pretend kubelet; deleting a namespace deletes its
 * pods). Test helpers (`addPod`, `setPodIP`, …) go through the same store, so every change
 * is seen by watches with a fresh resourceVersion.
 */
import { randomUUID } from 'node:crypto';
import { rfc3339 } from './age.ts';
import { isObject } from './json.ts';
import { LogStore, type LogStream } from './log-store.ts';
import { configMapType } from './configmaps.ts';
import { namespaceType } from './namespaces.ts';
import { kubeletStatus, podType, type PodPhase } from './pods.ts';
import type { ResourceType, StrategyContext } from './resource-type.ts';
import { ObjectStore, type JsonObject, type KubeObject, type StoredObject } from './store.ts';

export interface AddPodOptions {
  readonly namespace: string;
  readonly name: string;
  /**
   * Containers. `command`/`args` are what attach joins (default `cat`); `stdin`,
   * `stdinOnce` and `tty` are the pod spec fields of the same names.
   */
  readonly containers: readonly {
    readonly name: string;
    readonly image?: string;
    readonly command?: readonly string[];
    readonly args?: readonly string[];
    readonly stdin?: boolean;
    readonly stdinOnce?: boolean;
    readonly tty?: boolean;
  }[];
  /** The pod's address; a loopback address such as 127.0.1.5 in tests. Allocated if absent. */
  readonly podIP?: string;
  readonly phase?: PodPhase;
  /** The kubelet's Ready condition; default: ready when Running. */
  readonly ready?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly nodeName?: string;
}

export interface ClusterOptions {
  readonly clock: () => number;
  /** Pods created through the API are started at once by the pretend kubelet. */
  readonly autoStartPods: boolean;
  readonly nodeName: string;
  readonly nodeIP: string;
  /** First three octets of the loopback range pod addresses are allocated from. */
  readonly podNetworkPrefix: string;
  readonly historyLimit: number;
  readonly maxLogLinesPerContainer: number;
}

export const RESOURCE_TYPES: readonly ResourceType[] = [namespaceType, podType, configMapType];

export class Cluster {
  readonly store: ObjectStore;
  readonly logs: LogStore;
  readonly types: ReadonlyMap<string, ResourceType> = new Map(RESOURCE_TYPES.map((t) => [t.resource, t]));
  readonly #opts: ClusterOptions;
  #nextIp = 0;
  /** Addresses handed out or set explicitly; allocation never reuses one. */
  readonly #usedIps = new Set<string>();

  constructor(options: ClusterOptions) {
    this.#opts = options;
    this.store = new ObjectStore({ historyLimit: options.historyLimit });
    this.logs = new LogStore({ clock: options.clock, maxLinesPerContainer: options.maxLogLinesPerContainer });
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) this.createNamespace(ns);
  }

  now(): number {
    return this.#opts.clock();
  }

  strategyContext(): StrategyContext {
    return { nowMs: this.now(), uid: () => randomUUID() };
  }

  /** Sets identity fields the API server owns on a new object. */
  stampNew(object: KubeObject): KubeObject {
    object.metadata['uid'] = randomUUID();
    object.metadata['creationTimestamp'] = rfc3339(this.now());
    return object;
  }

  createNamespace(name: string, labels: Record<string, string> = {}): StoredObject {
    const existing = this.store.get('namespaces', '', name);
    if (existing !== undefined) return existing;
    const ns: KubeObject = { kind: 'Namespace', apiVersion: 'v1', metadata: { name, labels: { ...labels } } };
    return this.store.create('namespaces', namespaceType.prepareForCreate(this.stampNew(ns), this.strategyContext()));
  }

  /** Deletes a namespace and everything in it (the namespace controller, done at once). */
  deleteNamespace(name: string): StoredObject | undefined {
    for (const pod of this.store.list('pods', name)) this.deletePod(name, pod.name);
    return this.store.delete('namespaces', '', name);
  }

  allocatePodIP(): string {
    const [a = '127', b = '0', c = '1'] = this.#opts.podNetworkPrefix.split('.');
    for (;;) {
      const n = this.#nextIp++;
      const third = Number(c) + Math.floor(n / 254);
      if (third > 255) throw new RangeError('the pod address range is exhausted');
      const ip = `${a}.${b}.${third}.${(n % 254) + 1}`;
      if (!this.#usedIps.has(ip)) {
        this.#usedIps.add(ip);
        return ip;
      }
    }
  }

  addPod(o: AddPodOptions): StoredObject {
    this.createNamespace(o.namespace);
    const pod: KubeObject = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: o.name,
        namespace: o.namespace,
        ...(o.labels === undefined ? {} : { labels: { ...o.labels } }),
        ...(o.annotations === undefined ? {} : { annotations: { ...o.annotations } }),
      },
      spec: {
        containers: o.containers.map((c) => ({
          name: c.name,
          image: c.image ?? 'registry.k8s.io/pause:3.10',
          ...(c.command === undefined ? {} : { command: [...c.command] }),
          ...(c.args === undefined ? {} : { args: [...c.args] }),
          ...(c.stdin === undefined ? {} : { stdin: c.stdin }),
          ...(c.stdinOnce === undefined ? {} : { stdinOnce: c.stdinOnce }),
          ...(c.tty === undefined ? {} : { tty: c.tty }),
        })),
        nodeName: o.nodeName ?? this.#opts.nodeName,
      },
    };
    podType.prepareForCreate(this.stampNew(pod), this.strategyContext());
    const phase = o.phase ?? 'Running';
    if (o.podIP !== undefined) this.#usedIps.add(o.podIP);
    const ip = o.podIP ?? (phase === 'Pending' ? null : this.allocatePodIP());
    pod['status'] = kubeletStatus(pod, phase, ip, this.now(), this.#opts.nodeIP, o.ready);
    return this.store.create('pods', pod);
  }

  /** The pretend kubelet: schedules a pending pod to the node and runs it. */
  startPod(namespace: string, name: string): void {
    const current = this.store.get('pods', namespace, name);
    if (current === undefined || current.object.metadata['deletionTimestamp'] !== undefined) return;
    const pod = structuredClone(current.object) as KubeObject;
    const spec = isObject(pod['spec']) ? pod['spec'] : {};
    spec['nodeName'] ??= this.#opts.nodeName;
    pod['spec'] = spec;
    pod['status'] = kubeletStatus(pod, 'Running', this.allocatePodIP(), this.now(), this.#opts.nodeIP);
    this.store.update('pods', pod);
  }

  get autoStartPods(): boolean {
    return this.#opts.autoStartPods;
  }

  setPodIP(namespace: string, name: string, podIP: string): StoredObject {
    this.#usedIps.add(podIP);
    return this.#updateStatus(namespace, name, (status) => {
      status['podIP'] = podIP;
      status['podIPs'] = [{ ip: podIP }];
    });
  }

  setPodPhase(namespace: string, name: string, phase: PodPhase): StoredObject {
    const current = this.#mustGetPod(namespace, name);
    const ip = isObject(current.object['status']) && typeof current.object['status']['podIP'] === 'string' ? current.object['status']['podIP'] : null;
    const pod = structuredClone(current.object) as KubeObject;
    pod['status'] = kubeletStatus(pod, phase, ip, this.now(), this.#opts.nodeIP);
    return this.store.update('pods', pod);
  }

  deletePod(namespace: string, name: string): StoredObject | undefined {
    const gone = this.store.delete('pods', namespace, name);
    if (gone !== undefined) this.logs.forgetPod(namespace, name);
    return gone;
  }

  appendLog(namespace: string, pod: string, container: string, text: string, options: { previous?: boolean; stream?: LogStream } = {}): void {
    this.logs.append(namespace, pod, container, text, options);
  }

  #mustGetPod(namespace: string, name: string): StoredObject {
    const p = this.store.get('pods', namespace, name);
    if (p === undefined) throw new RangeError(`no pod ${namespace}/${name}`);
    return p;
  }

  #updateStatus(namespace: string, name: string, change: (status: JsonObject) => void): StoredObject {
    const pod = structuredClone(this.#mustGetPod(namespace, name).object) as KubeObject;
    const status = isObject(pod['status']) ? pod['status'] : {};
    change(status);
    pod['status'] = status;
    return this.store.update('pods', pod);
  }
}
