/**
 * The Pod resource: defaulting (what the API server and its admission plugins add),
 * validation of what kubectl commonly sends, the update rules of pod specs, the Table
 * columns of `kubectl get pods` (pkg/printers/internalversion `printPod`), and the status
 * the stand-in's pretend kubelet reports for a running pod.
 */
import { age, rfc3339 } from './age.ts';
import { deepEqual, isObject } from './json.ts';
import { patchSchemaFor } from './patch-schema.ts';
import { metadataFields, validateName, type ResourceType, type TableColumn } from './resource-type.ts';
import type { StatusCause } from './status.ts';
import type { JsonObject, KubeObject } from './store.ts';

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const COLUMNS: readonly TableColumn[] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Ready', type: 'string', format: '', description: 'The aggregate readiness state of this pod for accepting traffic.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The aggregate status of the containers in this pod.', priority: 0 },
  { name: 'Restarts', type: 'string', format: '', description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  { name: 'IP', type: 'string', format: '', description: 'IP address allocated to the pod. Routable at least within the cluster.', priority: 1 },
  { name: 'Node', type: 'string', format: '', description: 'NodeName is a request to schedule this pod onto a specific node.', priority: 1 },
  { name: 'Nominated Node', type: 'string', format: '', description: 'nominatedNodeName is set only when this pod preempts other pods on the node.', priority: 1 },
  { name: 'Readiness Gates', type: 'string', format: '', description: 'If specified, all readiness gates will be evaluated for pod readiness.', priority: 1 },
];

function podStatusReason(pod: Readonly<KubeObject>): string {
  const status = obj(pod['status']);
  let reason = str(status['reason']) || str(status['phase']);
  for (const cs of arr(status['containerStatuses'])) {
    const state = obj(obj(cs)['state']);
    const waiting = obj(state['waiting']);
    const terminated = obj(state['terminated']);
    if (str(waiting['reason']) !== '') reason = str(waiting['reason']);
    else if (str(terminated['reason']) !== '') reason = str(terminated['reason']);
    else if (isObject(state['terminated'])) reason = `ExitCode:${typeof terminated['exitCode'] === 'number' ? terminated['exitCode'] : 0}`;
  }
  if (pod.metadata['deletionTimestamp'] !== undefined && reason !== 'NodeLost') reason = 'Terminating';
  return reason;
}

function podCells(pod: Readonly<KubeObject>, nowMs: number): unknown[] {
  const spec = obj(pod['spec']);
  const status = obj(pod['status']);
  const statuses = arr(status['containerStatuses']).map(obj);
  const ready = statuses.filter((s) => s['ready'] === true).length;
  const restarts = statuses.reduce((n, s) => n + (typeof s['restartCount'] === 'number' ? s['restartCount'] : 0), 0);
  const gates = arr(spec['readinessGates']);
  return [
    str(pod.metadata.name),
    `${ready}/${arr(spec['containers']).length}`,
    podStatusReason(pod),
    String(restarts),
    age(pod.metadata['creationTimestamp'], nowMs),
    str(status['podIP']) || '<none>',
    str(spec['nodeName']) || '<none>',
    str(status['nominatedNodeName']) || '<none>',
    gates.length === 0 ? '<none>' : `0/${gates.length}`,
  ];
}

function defaultContainer(c: JsonObject): void {
  const image = str(c['image']);
  const tag = image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest');
  c['imagePullPolicy'] ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
  c['resources'] ??= {};
  c['terminationMessagePath'] ??= '/dev/termination-log';
  c['terminationMessagePolicy'] ??= 'File';
}

/** The defaults the API server's scheme and admission plugins fill in a pod spec. */
function defaultSpec(pod: KubeObject): void {
  const spec = obj(pod['spec']);
  pod['spec'] = spec;
  for (const list of ['containers', 'initContainers']) for (const c of arr(spec[list])) defaultContainer(obj(c));
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['serviceAccountName'] ??= 'default';
  spec['serviceAccount'] ??= spec['serviceAccountName'];
  spec['securityContext'] ??= {};
  spec['schedulerName'] ??= 'default-scheduler';
  spec['enableServiceLinks'] ??= true;
  spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
  spec['priority'] ??= 0;
}

function validateContainers(spec: JsonObject): StatusCause[] {
  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length === 0) {
    return [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }];
  }
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const co = obj(c);
    const name = co['name'];
    causes.push(...validateName(name, 'label', `spec.containers[${i}].name`));
    if (typeof name === 'string') {
      if (seen.has(name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${name}"`, field: `spec.containers[${i}].name` });
      seen.add(name);
    }
    if (str(co['image']).trim() === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `spec.containers[${i}].image` });
  });
  return causes;
}

/** The spec with every field a pod update may change blanked out (apiserver ValidatePodUpdate). */
function immutableSpec(spec: JsonObject): JsonObject {
  const s = structuredClone(spec);
  for (const list of ['containers', 'initContainers']) {
    for (const c of arr(s[list])) delete obj(c)['image'];
  }
  delete s['activeDeadlineSeconds'];
  delete s['tolerations'];
  delete s['terminationGracePeriodSeconds'];
  return s;
}

export const podType: ResourceType = {
  resource: 'pods',
  singular: 'pod',
  kind: 'Pod',
  listKind: 'PodList',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: [
    { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'log', kind: 'Pod', verbs: ['get'] },
    { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
  ],
  patchSchema: patchSchemaFor('Pod'),
  fields: metadataFields([
    ['spec.nodeName', (o) => str(obj(obj(o)['spec'])['nodeName'])],
    ['spec.restartPolicy', (o) => str(obj(obj(o)['spec'])['restartPolicy'])],
    ['spec.schedulerName', (o) => str(obj(obj(o)['spec'])['schedulerName'])],
    ['spec.serviceAccountName', (o) => str(obj(obj(o)['spec'])['serviceAccountName'])],
    ['spec.hostNetwork', (o) => String(obj(obj(o)['spec'])['hostNetwork'] === true)],
    ['status.phase', (o) => str(obj(obj(o)['status'])['phase'])],
    ['status.podIP', (o) => str(obj(obj(o)['status'])['podIP'])],
    ['status.nominatedNodeName', (o) => str(obj(obj(o)['status'])['nominatedNodeName'])],
  ]),
  columns: COLUMNS,
  cells: podCells,

  prepareForCreate(pod) {
    defaultSpec(pod);
    pod['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
    return pod;
  },

  prepareForUpdate(updated, old) {
    // Decoding an update defaults it like a create; status comes from the live object.
    defaultSpec(updated);
    updated['status'] = structuredClone(old['status']);
    return updated;
  },

  validateCreate(pod) {
    return [...validateName(pod.metadata.name, 'subdomain'), ...validateContainers(obj(pod['spec']))];
  },

  validateUpdate(updated, old) {
    const causes = validateContainers(obj(updated['spec']));
    if (causes.length > 0) return causes;
    if (!deepEqual(immutableSpec(obj(updated['spec'])), immutableSpec(obj(old['spec'])))) {
      return [
        {
          reason: 'FieldValueForbidden',
          message:
            'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
          field: 'spec',
        },
      ];
    }
    return [];
  },
};

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** The status a kubelet reports for a pod in `phase` with address `podIP`. */
export function kubeletStatus(pod: Readonly<KubeObject>, phase: PodPhase, podIP: string | null, nowMs: number, nodeIP: string, ready?: boolean): JsonObject {
  const started = rfc3339(nowMs);
  const containers = arr(obj(pod['spec'])['containers']).map(obj);
  const running = phase === 'Running';
  const done = phase === 'Succeeded' || phase === 'Failed';
  const cond = (type: string, ok: boolean): JsonObject => ({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: started });
  return {
    phase,
    conditions: [cond('PodReadyToStartContainers', running || done), cond('Initialized', true), cond('Ready', ready ?? running), cond('ContainersReady', ready ?? running), cond('PodScheduled', true)],
    hostIP: nodeIP,
    hostIPs: [{ ip: nodeIP }],
    ...(podIP === null ? {} : { podIP, podIPs: [{ ip: podIP }] }),
    startTime: started,
    containerStatuses: containers.map((c) => ({
      name: str(c['name']),
      state: running
        ? { running: { startedAt: started } }
        : done
          ? { terminated: { exitCode: phase === 'Failed' ? 1 : 0, reason: phase === 'Failed' ? 'Error' : 'Completed', startedAt: started, finishedAt: started } }
          : { waiting: { reason: 'ContainerCreating' } },
      lastState: {},
      ready: running,
      restartCount: 0,
      image: str(c['image']),
      imageID: '',
      started: running,
      ...(running || done ? { containerID: `containerd://${str(pod.metadata['uid']).replace(/-/g, '')}${str(c['name'])}` } : {}),
    })),
    qosClass: 'BestEffort',
  };
}
