/**
 * Offline validation of Kubernetes objects, in three layers:
 *
 *  1. The OpenAPI schema of the Kubernetes API, as the precompiled validators that the
 *     `kubernetes-models` package ships (generated from the upstream OpenAPI document):
 *     required fields, types, enums, formats such as quantities and int-or-string.
 *  2. Unknown fields (what `kubectl apply --validate=strict` refuses), walking the model
 *     attribute maps of @kubernetes/client-node: the OpenAPI validators of layer 1 allow
 *     additional properties.
 *  3. A few of the API server's semantic checks on pod specs that no schema carries:
 *     unique container, volume and port names, DNS-label names, mounts that name a volume,
 *     unique mount paths, emptyDir media, init-container restart policies.
 *
 * What it does not do: admission (quotas, PodSecurity), CEL rules, cross-object checks
 * (a Service selecting pods), or anything the API server decides with cluster state.
 */
import * as k8s from '@kubernetes/client-node';

type SchemaValidate = ((data: unknown) => boolean) & { errors?: { instancePath: string; keyword: string; params: unknown }[] | null };

const GROUPS: Readonly<Record<string, string>> = {
  '': 'Core',
  apps: 'Apps',
  batch: 'Batch',
  'rbac.authorization.k8s.io': 'Rbac',
  'networking.k8s.io': 'Networking',
  policy: 'Policy',
  'node.k8s.io': 'Node',
  'scheduling.k8s.io': 'Scheduling',
  autoscaling: 'Autoscaling',
};

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

async function schemaFor(apiVersion: string, kind: string): Promise<SchemaValidate | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const g = GROUPS[group ?? ''];
  if (g === undefined || version === undefined || !/^[A-Za-z0-9]+$/.test(kind)) return undefined;
  try {
    const mod = (await import(`kubernetes-models/_schemas/IoK8sApi${g}${cap(version)}${kind}`)) as { validate: SchemaValidate };
    return mod.validate;
  } catch {
    return undefined;
  }
}

interface AttributeType {
  readonly baseName: string;
  readonly type: string;
}
type ModelClass = { getAttributeTypeMap(): AttributeType[] };
const models = k8s as unknown as Record<string, ModelClass | undefined>;

function modelName(apiVersion: string): string {
  const version = apiVersion.includes('/') ? apiVersion.split('/')[1] : apiVersion;
  return cap(version ?? '');
}

/** Unknown fields, by JSON path, walking the client-node model of `type`. */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1] as string, `${path}/${i}`, out));
    return;
  }
  const dict = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (dict !== null) {
    if (typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, dict[1] as string, `${path}/${k}`, out);
    return;
  }
  const model = models[type];
  if (model === undefined || typeof model.getAttributeTypeMap !== 'function') return;
  if (typeof value !== 'object' || Array.isArray(value)) return;
  const attrs = model.getAttributeTypeMap();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const attr = attrs.find((a) => a.baseName === k);
    if (attr === undefined) out.push(`${path}/${k}: unknown field`);
    else unknownFields(v, attr.type, `${path}/${k}`, out);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** The API server's pod-spec checks that schemas do not express. */
function podSpecChecks(spec: Obj, path: string, out: string[]): void {
  const volumes = list(spec['volumes']);
  const volumeNames = new Set<string>();
  for (const v of volumes) {
    const name = String(v['name']);
    if (!DNS_LABEL.test(name)) out.push(`${path}/volumes: ${name}: not a DNS label`);
    if (volumeNames.has(name)) out.push(`${path}/volumes: ${name}: duplicate`);
    volumeNames.add(name);
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length !== 1) out.push(`${path}/volumes/${name}: exactly one volume source expected`);
    const emptyDir = v['emptyDir'] as Obj | undefined;
    if (emptyDir !== undefined && emptyDir !== null && emptyDir['medium'] !== undefined && !['', 'Memory', 'HugePages'].includes(emptyDir['medium'] as string)) out.push(`${path}/volumes/${name}: unknown emptyDir medium`);
  }
  const containerNames = new Set<string>();
  const all = [...list(spec['initContainers']).map((c) => ['initContainers', c] as const), ...list(spec['containers']).map((c) => ['containers', c] as const)];
  if (list(spec['containers']).length === 0) out.push(`${path}/containers: at least one container`);
  for (const [field, c] of all) {
    const name = String(c['name']);
    const cpath = `${path}/${field}/${name}`;
    if (!DNS_LABEL.test(name)) out.push(`${cpath}: name not a DNS label`);
    if (containerNames.has(name)) out.push(`${cpath}: duplicate container name`);
    containerNames.add(name);
    if (typeof c['image'] !== 'string' || c['image'] === '') out.push(`${cpath}: image required`);
    if (field === 'initContainers' && c['restartPolicy'] !== undefined && c['restartPolicy'] !== 'Always') out.push(`${cpath}: init container restartPolicy must be Always if set`);
    if (field === 'containers' && c['restartPolicy'] !== undefined) out.push(`${cpath}: restartPolicy is for init containers`);
    for (const key of ['command', 'args'] as const) {
      const v = c[key];
      if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))) out.push(`${cpath}/${key}: strings expected`);
    }
    const mountPaths = new Set<string>();
    for (const m of list(c['volumeMounts'])) {
      if (!volumeNames.has(String(m['name']))) out.push(`${cpath}/volumeMounts/${String(m['name'])}: no such volume`);
      const mp = String(m['mountPath']);
      if (!mp.startsWith('/')) out.push(`${cpath}/volumeMounts/${mp}: mountPath must be absolute`);
      if (mountPaths.has(mp)) out.push(`${cpath}/volumeMounts/${mp}: duplicate mountPath`);
      mountPaths.add(mp);
    }
    const portNames = new Set<string>();
    for (const p of list(c['ports'])) {
      const n = p['containerPort'];
      if (typeof n !== 'number' || n < 1 || n > 65535) out.push(`${cpath}/ports: containerPort out of range`);
      if (p['name'] !== undefined) {
        const pn = p['name'] as string;
        if (!IANA_SVC_NAME.test(pn)) out.push(`${cpath}/ports/${pn}: not an IANA service name`);
        if (portNames.has(pn)) out.push(`${cpath}/ports/${pn}: duplicate port name`);
        portNames.add(pn);
      }
    }
    for (const e of list(c['env'])) {
      if (!ENV_NAME.test(String(e['name']))) out.push(`${cpath}/env/${String(e['name'])}: not a valid variable name`);
    }
  }
}

const POD_SPEC_AT: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/**
 * Validates one object; returns the problems found (empty: valid). Objects of kinds
 * without a known schema are reported, not silently accepted.
 */
export async function validateKubernetesObject(obj: unknown): Promise<string[]> {
  const out: string[] = [];
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return ['not an object'];
  const o = obj as Obj;
  const apiVersion = o['apiVersion'];
  const kind = o['kind'];
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion and kind required'];
  if (kind === 'List' && apiVersion === 'v1') {
    for (const [i, item] of list(o['items']).entries()) out.push(...(await validateKubernetesObject(item)).map((e) => `items/${i}: ${e}`));
    return out;
  }
  const validate = await schemaFor(apiVersion, kind);
  if (validate === undefined) return [`${apiVersion} ${kind}: no schema known to this validator`];
  if (!validate(obj)) for (const e of validate.errors ?? []) out.push(`${e.instancePath || '/'}: ${e.keyword} ${JSON.stringify(e.params)}`);
  unknownFields(obj, `${modelName(apiVersion)}${kind}`, '', out);
  const metadata = o['metadata'] as Obj | undefined;
  if (metadata === undefined || (typeof metadata['name'] !== 'string' && typeof metadata['generateName'] !== 'string')) out.push('/metadata/name: required');
  const at = POD_SPEC_AT[kind];
  if (at !== undefined) {
    let node: unknown = obj;
    for (const key of at) node = (node as Obj | undefined)?.[key];
    if (typeof node === 'object' && node !== null) podSpecChecks(node as Obj, `/${at.join('/')}`, out);
    else out.push(`/${at.join('/')}: pod spec missing`);
  }
  return out;
}

/** Validates every object; returns problems prefixed with the object's kind and name. */
export async function validateKubernetesObjects(objects: readonly unknown[]): Promise<string[]> {
  const out: string[] = [];
  for (const obj of objects) {
    const o = obj as Obj;
    const label = `${String(o['kind'])} ${String(((o['metadata'] as Obj | undefined)?.['name'] as string | undefined) ?? '')}`;
    out.push(...(await validateKubernetesObject(obj)).map((e) => `${label}: ${e}`));
  }
  return out;
}
