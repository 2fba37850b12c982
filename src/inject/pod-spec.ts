/**
 * The transform of one pod spec: everything inject adds to a pod, edited in place in the
 * YAML document so that what inject does not need to touch stays as written.
 *
 * Added (or, when present from an earlier run, replaced in place, so injecting twice is
 * injecting once):
 *   - the init container `shadowplane-install`, first of initContainers: copies the
 *     runtime from the agent image into the memory-backed volume `shadowplane` and writes
 *     the pinned agent configuration there;
 *   - the volumes `shadowplane` (runtime) and `shadowplane-run` (log files, sockets), both
 *     emptyDir with medium Memory: inside the TEE, never on the host's disk;
 *   - in each container (and each sidecar, an init container with restartPolicy Always):
 *     the command wrapped as `/shadowplane/bin/shadowplane agent --config … --container
 *     NAME -- ORIGINAL…` (args stay where they are: Kubernetes appends them), the mounts,
 *     and the downward-API variables POD_NAME, POD_NAMESPACE, POD_IP; a container with
 *     settings of its own (`--agent-config`, `stdinOnce`) reads its own configuration,
 *     which the init container writes too;
 *   - the agent port, named `shadowplane`, on the first wrapped container;
 *   - runtimeClassName, when asked for.
 *
 * Invariant: a pod spec is either fully injected or the whole run fails; the error names
 * the object and container, never a value (commands and env values are workload data).
 */
import { Scalar, YAMLSeq, type Document, type YAMLMap } from 'yaml';
import { ShadowplaneError } from '../errors.ts';
import {
  AGENT_CONFIG_PATH,
  AGENT_PORT_NAME,
  containerConfigPath,
  CRL_MOUNT,
  CRL_VOLUME,
  DOWNWARD_ENV,
  IMAGE_RUNTIME_DIR,
  IMAGE_USER,
  INSTALL_CONTAINER,
  LAUNCHER_PATH,
  LAUNCHER_RELATIVE,
  RUN_MOUNT,
  RUN_VOLUME,
  RUN_VOLUME_SIZE,
  RUNTIME_MOUNT,
  RUNTIME_VOLUME,
  RUNTIME_VOLUME_SIZE,
} from './layout.ts';
import { blockNode, booleanAt, indexByName, inputError, literalScalar, mapsOf, plain, seqAt, stringAt, stringSeq, stringsOf } from './yaml-nodes.ts';
import { DNS_LABEL } from '../config/dns-names.ts';

export interface PodSpecPlan {
  readonly agentImage: string;
  /** The agent configuration text (JSON), carried by the install container's command. */
  readonly agentConfigText: string;
  readonly port: number;
  readonly runtimeClassName: string | undefined;
  /** The ConfigMap of vendor CRLs to mount read-only at CRL_MOUNT in wrapped containers, if any. */
  readonly crlConfigMap: string | undefined;
  /** Looks up `--entrypoint` for a container without a command; records use. */
  readonly entrypointFor: (objectName: string, container: string) => readonly string[] | undefined;
  /**
   * The configuration text of one wrapped container when it is not `agentConfigText`
   * (settings of its own in `--agent-config`, or `stdinOnce`), else undefined. Checked by
   * the agent's own loader; records which `--agent-config` selectors matched.
   */
  readonly containerConfigFor: (objectName: string, container: string, stdinOnce: boolean) => string | undefined;
}

/** A container whose agent reads a configuration of its own. */
interface ContainerConfig {
  readonly container: string;
  readonly text: string;
}

export interface PodSpecResult {
  /** The containers whose command is now wrapped by the agent. */
  readonly wrapped: readonly string[];
  /** Things the owner should know (names only). */
  readonly warnings: readonly string[];
}

function conflict(where: string, message: string): never {
  throw new ShadowplaneError('SP_INJECT_CONFLICT', `${where}: ${message}`);
}

/** The workload command of a container: its own, unwrapped if inject wrapped it before. */
function originalCommand(container: YAMLMap, where: string, plan: PodSpecPlan, objectName: string, name: string): readonly string[] {
  const seq = seqAt(container, 'command', where);
  if (seq === undefined || seq.items.length === 0) {
    const entry = plan.entrypointFor(objectName, name);
    if (entry === undefined) {
      throw new ShadowplaneError(
        'SP_INJECT_NO_COMMAND',
        `${where}: container ${JSON.stringify(name)} has no command; the image's ENTRYPOINT is not visible here, so give it with --entrypoint ${name}=CMD or write command: in the spec`,
      );
    }
    return entry;
  }
  const command = stringsOf(seq, where, 'command');
  if (command[0] === LAUNCHER_PATH && command[1] === 'agent') {
    const split = command.indexOf('--');
    if (split === -1 || split === command.length - 1) inputError(where, `container ${JSON.stringify(name)} has a shadowplane agent command without a workload after --`);
    return command.slice(split + 1);
  }
  return command;
}

function ensureEnv(doc: Document, container: YAMLMap, where: string): void {
  let env = seqAt(container, 'env', where);
  if (env === undefined) {
    env = new YAMLSeq(doc.schema);
    container.set('env', env);
  }
  const items = mapsOf(env, where, 'env');
  for (const v of DOWNWARD_ENV) {
    const wanted = { name: v.name, valueFrom: { fieldRef: { fieldPath: v.fieldPath } } };
    const i = indexByName(items, v.name);
    if (i === -1) {
      env.items.push(blockNode(doc, wanted));
      continue;
    }
    const have = plain(items[i]) as { valueFrom?: { fieldRef?: { fieldPath?: unknown; apiVersion?: unknown } } } & Record<string, unknown>;
    const ref = have.valueFrom?.fieldRef;
    const same = ref !== undefined && ref.fieldPath === v.fieldPath && (ref.apiVersion === undefined || ref.apiVersion === 'v1') && have['value'] === undefined;
    if (!same) conflict(where, `env ${v.name} is already set to something other than the downward API's ${v.fieldPath}, which the agent needs`);
  }
}

function ensureMounts(doc: Document, container: YAMLMap, where: string, plan: PodSpecPlan): void {
  let mounts = seqAt(container, 'volumeMounts', where);
  if (mounts === undefined) {
    mounts = new YAMLSeq(doc.schema);
    container.set('volumeMounts', mounts);
  }
  // The runtime is read-only in workload containers: a workload cannot change the agent
  // that its sibling containers run.
  const wanted = [
    { name: RUNTIME_VOLUME, mountPath: RUNTIME_MOUNT, readOnly: true },
    { name: RUN_VOLUME, mountPath: RUN_MOUNT },
    ...(plan.crlConfigMap === undefined ? [] : [{ name: CRL_VOLUME, mountPath: CRL_MOUNT, readOnly: true }]),
  ];
  for (const w of wanted) {
    const items = mapsOf(mounts, where, 'volumeMounts');
    for (const m of items) {
      const path = stringAt(m, 'mountPath', where);
      const name = stringAt(m, 'name', where);
      if (path !== undefined && path.replace(/\/+$/, '') === w.mountPath && name !== w.name) conflict(where, `volume ${JSON.stringify(name)} is mounted at ${w.mountPath}, which inject needs for ${w.name}`);
    }
    const i = indexByName(items, w.name);
    if (i === -1) mounts.items.push(blockNode(doc, w));
    else mounts.items[i] = blockNode(doc, w);
  }
}

function ensureVolumes(doc: Document, spec: YAMLMap, where: string, plan: PodSpecPlan): void {
  let volumes = seqAt(spec, 'volumes', where);
  if (volumes === undefined) {
    volumes = new YAMLSeq(doc.schema);
    spec.set('volumes', volumes);
  }
  const wanted: { readonly name: string; readonly kind: 'emptyDir' | 'configMap'; readonly volume: Record<string, unknown> }[] = [
    { name: RUNTIME_VOLUME, kind: 'emptyDir', volume: { name: RUNTIME_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: RUNTIME_VOLUME_SIZE } } },
    { name: RUN_VOLUME, kind: 'emptyDir', volume: { name: RUN_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: RUN_VOLUME_SIZE } } },
    ...(plan.crlConfigMap === undefined ? [] : [{ name: CRL_VOLUME, kind: 'configMap' as const, volume: { name: CRL_VOLUME, configMap: { name: plan.crlConfigMap } } }]),
  ];
  for (const w of wanted) {
    const items = mapsOf(volumes, where, 'volumes');
    const i = indexByName(items, w.name);
    if (i === -1) {
      volumes.items.push(blockNode(doc, w.volume));
      continue;
    }
    const existing = plain(items[i]) as Record<string, unknown>;
    if (Object.keys(existing).some((k) => k !== 'name' && k !== w.kind)) conflict(where, `volume ${JSON.stringify(w.name)} exists and is not a ${w.kind}; inject needs that name`);
    volumes.items[i] = blockNode(doc, w.volume);
  }
}

function installContainer(doc: Document, plan: PodSpecPlan, own: readonly ContainerConfig[]): YAMLMap {
  const node = blockNode(doc, {
    name: INSTALL_CONTAINER,
    image: plan.agentImage,
    command: [],
    volumeMounts: [{ name: RUNTIME_VOLUME, mountPath: RUNTIME_MOUNT }],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: IMAGE_USER,
      runAsGroup: IMAGE_USER,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  }) as YAMLMap;
  const command = stringSeq(doc, [`${IMAGE_RUNTIME_DIR}/${LAUNCHER_RELATIVE}`, 'inject', 'install', '--from', IMAGE_RUNTIME_DIR, '--to', RUNTIME_MOUNT, '--agent-config']);
  command.items.push(literalScalar(plan.agentConfigText));
  for (const c of own) {
    command.items.push(new Scalar('--container-config'));
    command.items.push(literalScalar(`${c.container}=${c.text}`));
  }
  node.set('command', command);
  return node;
}

function ensureInstallContainer(doc: Document, spec: YAMLMap, where: string, plan: PodSpecPlan, own: readonly ContainerConfig[]): void {
  let inits = seqAt(spec, 'initContainers', where);
  if (inits === undefined) {
    inits = new YAMLSeq(doc.schema);
    spec.set('initContainers', inits);
  }
  const items = mapsOf(inits, where, 'initContainers');
  const i = indexByName(items, INSTALL_CONTAINER);
  if (i === -1) inits.items.unshift(installContainer(doc, plan, own));
  else inits.items[i] = installContainer(doc, plan, own);
}

function ensurePort(doc: Document, wrapped: readonly YAMLMap[], where: string, port: number): void {
  const wantedPort = { name: AGENT_PORT_NAME, containerPort: port, protocol: 'TCP' };
  for (const c of wrapped) {
    const ports = seqAt(c, 'ports', where);
    if (ports === undefined) continue;
    const items = mapsOf(ports, where, 'ports');
    const i = indexByName(items, AGENT_PORT_NAME);
    if (i !== -1) {
      ports.items[i] = blockNode(doc, wantedPort);
      return;
    }
    for (const p of items) {
      const n = p.get('containerPort');
      const protocol = p.get('protocol') ?? 'TCP';
      if (n === port && protocol === 'TCP') conflict(where, `a container already declares port ${port}/TCP, which the agent listens on (choose another with --agent-port)`);
    }
  }
  const first = wrapped[0];
  if (first === undefined) return;
  let ports = seqAt(first, 'ports', where);
  if (ports === undefined) {
    ports = new YAMLSeq(doc.schema);
    first.set('ports', ports);
  }
  ports.items.push(blockNode(doc, wantedPort));
}

/**
 * Injects the agent into `spec` (a PodSpec mapping of `doc`), in place.
 * `where` names the object for messages (`Deployment web`).
 */
export function injectPodSpec(doc: Document, spec: YAMLMap, where: string, objectName: string, plan: PodSpecPlan): PodSpecResult {
  const containersSeq = seqAt(spec, 'containers', where);
  if (containersSeq === undefined || containersSeq.items.length === 0) inputError(where, 'the pod spec has no containers');
  const containers = mapsOf(containersSeq, where, 'containers');
  const initsSeq = seqAt(spec, 'initContainers', where);
  const inits = initsSeq === undefined ? [] : mapsOf(initsSeq, where, 'initContainers');
  const warnings: string[] = [];

  const targets: YAMLMap[] = [];
  for (const c of containers) {
    const name = stringAt(c, 'name', where);
    if (name === undefined || !DNS_LABEL.test(name)) inputError(where, 'every container needs a name that is a DNS label');
    if (name === INSTALL_CONTAINER) conflict(where, `a container is named ${INSTALL_CONTAINER}, which inject reserves for its init container`);
    targets.push(c);
  }
  for (const c of inits) {
    const name = stringAt(c, 'name', where);
    if (name === undefined || !DNS_LABEL.test(name)) inputError(where, 'every init container needs a name that is a DNS label');
    if (name === INSTALL_CONTAINER) continue;
    if (stringAt(c, 'restartPolicy', where) === 'Always') targets.push(c);
    else warnings.push(`${where}: init container ${JSON.stringify(name)} is not wrapped (it runs before the agent); its output reaches the node's log`);
  }

  // Compute every wrapped command and configuration first, so that a missing command or
  // a configuration the agent would refuse fails before any edit.
  const own: ContainerConfig[] = [];
  const commands = targets.map((c) => {
    const name = stringAt(c, 'name', where) as string;
    const cwhere = `${where}, container ${JSON.stringify(name)}`;
    const original = originalCommand(c, cwhere, plan, objectName, name);
    const attachStdin = booleanAt(c, 'stdin', where);
    const attachTty = booleanAt(c, 'tty', where);
    // Kubernetes' stdinOnce (close stdin when the first attach ends it) is the agent's
    // attach.stdinOnce; like Kubernetes, it means nothing without stdin.
    const stdinOnce = booleanAt(c, 'stdinOnce', where);
    if (stdinOnce && !attachStdin) warnings.push(`${cwhere}: stdinOnce has no effect without stdin: true`);
    const text = plan.containerConfigFor(objectName, name, stdinOnce && attachStdin);
    if (text !== undefined) {
      if (own.some((o) => o.container === name)) inputError(where, `two containers are named ${JSON.stringify(name)}`);
      own.push({ container: name, text });
    }
    const config = text === undefined ? AGENT_CONFIG_PATH : containerConfigPath(name);
    return [LAUNCHER_PATH, 'agent', '--config', config, '--container', name, ...(attachStdin ? ['--attach-stdin'] : []), ...(attachTty ? ['--attach-tty'] : []), '--', ...original];
  });

  ensureInstallContainer(doc, spec, where, plan, own);
  targets.forEach((c, i) => {
    const name = stringAt(c, 'name', where) as string;
    const cwhere = `${where}, container ${JSON.stringify(name)}`;
    c.set('command', stringSeq(doc, commands[i] as string[]));
    ensureEnv(doc, c, cwhere);
    ensureMounts(doc, c, cwhere, plan);
  });
  ensureVolumes(doc, spec, where, plan);
  const regular = targets.filter((c) => containers.includes(c));
  ensurePort(doc, regular.length > 0 ? regular : targets, where, plan.port);
  if (plan.runtimeClassName !== undefined) spec.set('runtimeClassName', plan.runtimeClassName);
  if (spec.get('hostNetwork') === true) warnings.push(`${where}: hostNetwork is true, so the agent port ${plan.port} is on the node's address`);
  return { wrapped: targets.map((c) => stringAt(c, 'name', where) as string), warnings };
}
