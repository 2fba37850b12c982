/**
 * The Pod Security Standards checks (kubernetes.io/docs/concepts/security/pod-security-standards)
 * that the shipped pod templates can touch, evaluated offline: which checks of `baseline`
 * and `restricted` a pod spec fails. Not the admission plugin: no version pinning, no
 * exemptions, no sysctls or SELinux options (nothing in deploy/ sets them); enough to tell
 * whether a namespace's `enforce` level admits a template, and what its `warn` level says.
 */
import type { Container, PodSpec } from './kustomize.ts';

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

type SecurityContext = {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  seccompProfile?: { type?: string };
  capabilities?: { add?: string[]; drop?: string[] };
  procMount?: string;
};

/** The checks `pod` fails at `level`, as `check (where)` strings; empty when it is admitted. */
export function podSecurityViolations(pod: PodSpec & { hostNetwork?: boolean; hostPID?: boolean; hostIPC?: boolean }, level: PodSecurityLevel): string[] {
  if (level === 'privileged') return [];
  const out: string[] = [];
  const podCtx = (pod.securityContext ?? {}) as SecurityContext;
  const containers: Container[] = [...(pod.initContainers ?? []), ...pod.containers];
  const ctx = (c: Container): SecurityContext => c.securityContext ?? {};

  // baseline
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[k] === true) out.push(`host namespaces (${k})`);
  for (const c of containers) {
    if (ctx(c).privileged === true) out.push(`privileged (${c.name})`);
    for (const cap of ctx(c).capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.has(cap)) out.push(`capabilities (${c.name}: ${cap})`);
    if (ctx(c).procMount !== undefined && ctx(c).procMount !== 'Default') out.push(`procMount (${c.name})`);
    if (ctx(c).seccompProfile?.type === 'Unconfined') out.push(`seccompProfile (${c.name})`);
  }
  if (podCtx.seccompProfile?.type === 'Unconfined') out.push('seccompProfile (pod)');
  for (const v of pod.volumes ?? []) if (v.hostPath !== undefined) out.push(`hostPath volumes (${v.name})`);
  if (level === 'baseline') return out;

  // restricted
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (type === undefined || !RESTRICTED_VOLUMES.has(type)) out.push(`volume types (${v.name}: ${type ?? 'none'})`);
  }
  for (const c of containers) {
    if (ctx(c).allowPrivilegeEscalation !== false) out.push(`allowPrivilegeEscalation != false (${c.name})`);
    if (!(ctx(c).capabilities?.drop ?? []).includes('ALL')) out.push(`capabilities not dropping ALL (${c.name})`);
    for (const cap of ctx(c).capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') out.push(`capabilities added (${c.name}: ${cap})`);
    const nonRoot = ctx(c).runAsNonRoot ?? podCtx.runAsNonRoot;
    if (nonRoot !== true) out.push(`runAsNonRoot != true (${c.name})`);
    if ((ctx(c).runAsUser ?? podCtx.runAsUser) === 0) out.push(`runAsUser=0 (${c.name})`);
    const seccomp = ctx(c).seccompProfile?.type ?? podCtx.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`seccompProfile (${c.name})`);
  }
  return out;
}

const ORDER: readonly PodSecurityLevel[] = ['privileged', 'baseline', 'restricted'];

/** The strictest level whose checks `pod` passes. */
export function podSecurityLevelOf(pod: PodSpec): PodSecurityLevel {
  return [...ORDER].reverse().find((l) => podSecurityViolations(pod, l).length === 0) ?? 'privileged';
}

/** True when a namespace enforcing `enforced` admits a pod of level `pod`. */
export function admits(enforced: PodSecurityLevel, pod: PodSecurityLevel): boolean {
  return ORDER.indexOf(pod) >= ORDER.indexOf(enforced);
}
