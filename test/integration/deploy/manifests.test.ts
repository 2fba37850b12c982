/**
 * deploy/: every YAML parses, every Kubernetes object validates (offline schemas, see
 * test/unit/inject/support/k8s-schema.ts), and every kustomization renders with the real
 * `kubectl kustomize` into objects that validate, run the image the operator set, reach
 * the TEE's evidence, pass the namespace's PodSecurity level, and grant exactly what the
 * proxy needs (rbac.test.ts drives the proxy's own lookups against those grants).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TSM_REPORT_ROOT } from '../../../src/attestation/tsm.ts';
import { parseManifestText } from '../../../src/config/manifest.ts';
import { REPO } from '../../support/bed.ts';
import { validateKubernetesObjects } from '../../unit/inject/support/k8s-schema.ts';
import { DEPLOY, find, kustomize, kustomizeEdited, parseYaml, podSpecOf, setImageEntry, type Obj } from './support/kustomize.ts';
import { admits, podSecurityLevelOf, podSecurityViolations, type PodSecurityLevel } from './support/pod-security.ts';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(n) ? [p] : [];
  });
}

const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component']);
const OVERLAYS = [['sev-snp', 'kata-qemu-snp'], ['tdx', 'kata-qemu-tdx'], ['contrast', 'contrast-cc']] as const;
/** Every directory an operator renders, and the pod templates that run the proxy image in it. */
const RENDERED = [...OVERLAYS.map(([o]) => `overlays/${o}`), 'examples/crl-refresh', 'examples/payments-crls'] as const;
const IMAGE = 'registry.test/shadowplane/proxy';
const DIGEST = `sha256:${'5a'.repeat(32)}`;

const podTemplates = (objs: readonly Obj[]): Obj[] => objs.filter((o) => o.kind === 'Deployment' || o.kind === 'CronJob');
const imagesOf = (objs: readonly Obj[]): string[] => podTemplates(objs).flatMap((o) => podSpecOf(o).containers.map((c) => c.image));

describe('deploy/', () => {
  it('parses every YAML file and validates every Kubernetes object in them', async () => {
    const files = yamlFiles(DEPLOY);
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const objs = parseYaml(readFileSync(f, 'utf8'), f);
      expect(objs.length, relative(REPO, f)).toBeGreaterThan(0);
      const k8s = objs.filter((o) => !KUSTOMIZE_KINDS.has(o.kind) && o.kind !== 'Manifest');
      expect(await validateKubernetesObjects(k8s), relative(REPO, f)).toEqual([]);
    }
  });

  it('ships an example manifest that the proxy accepts', () => {
    const manifest = parseManifestText(readFileSync(join(DEPLOY, 'kustomize/base/manifest.yaml'), 'utf8'), 'manifest.yaml');
    expect(manifest.upstream.credential.source).toBe('in-cluster');
    expect(manifest.agent.port).toBe(15443);
  });

  for (const [overlay, runtimeClass] of OVERLAYS) {
    it(`renders overlays/${overlay} with kubectl kustomize into valid objects in the ${runtimeClass} runtime class`, async () => {
      const objs = kustomize(`overlays/${overlay}`);
      expect(await validateKubernetesObjects(objs)).toEqual([]);
      expect(objs.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Namespace', 'Service', 'ServiceAccount']);
      const deployment = find(objs, 'Deployment', 'shadowplane-proxy')!;
      const pod = podSpecOf(deployment);
      expect(pod.runtimeClassName).toBe(runtimeClass);
      // The manifest ConfigMap's name carries its content hash and the Deployment uses it.
      const configMap = find(objs, 'ConfigMap', 'shadowplane-manifest') as unknown as { metadata: { name: string }; data: Record<string, string> };
      expect(configMap.metadata.name).toMatch(/^shadowplane-manifest-[a-z0-9]{10}$/);
      expect(pod.volumes?.find((v) => v.name === 'manifest')?.configMap?.name).toBe(configMap.metadata.name);
      expect(configMap.data['manifest.yaml']).toBe(readFileSync(join(DEPLOY, 'kustomize/base/manifest.yaml'), 'utf8'));
      for (const o of objs.filter((x) => !x.kind.startsWith('Cluster') && x.kind !== 'Namespace')) expect(o.metadata.namespace).toBe('shadowplane');
    });
  }

  // Bug (docs-vs-deployment review): base/kustomization.yaml renamed `shadowplane-proxy` to
  // registry.example/shadowplane/proxy:0.1.0, so the overlay's `images:` entry that the
  // documented `kustomize edit set image shadowplane-proxy=…` writes matched nothing and
  // the cluster got the placeholder.
  it('leaves the proxy image to the operator: nothing in deploy/ renames it, so every render names the unpullable `shadowplane-proxy` until it is set', () => {
    for (const f of yamlFiles(join(DEPLOY, 'kustomize')).filter((p) => p.endsWith('kustomization.yaml'))) {
      expect(parseYaml(readFileSync(f, 'utf8'), f)[0], relative(REPO, f)).not.toHaveProperty('images');
    }
    for (const dir of ['base', ...RENDERED]) {
      const images = imagesOf(kustomize(dir));
      expect(images.length, dir).toBeGreaterThan(0);
      expect(new Set(images), dir).toEqual(new Set(['shadowplane-proxy']));
    }
  });

  it('sets the image every shipped pod runs with the `kustomize edit set image` command the docs and the overlays print', () => {
    const documented = (text: string): { name: string; ref: string }[] => [...text.matchAll(/kustomize edit set image ([^\s`=]+)=([^\s`]+)/g)].map((m) => ({ name: m[1]!, ref: m[2]! }));
    const commands = [
      ...documented(readFileSync(join(REPO, 'docs/deploy.md'), 'utf8')),
      ...RENDERED.flatMap((dir) => documented(readFileSync(join(DEPLOY, 'kustomize', dir, 'kustomization.yaml'), 'utf8'))),
    ];
    // Every mention names the image the shipped pods run; docs/deploy.md has two complete
    // commands (the proxy, a workload namespace's CRL job), and each directory one.
    expect(new Set(commands.map((c) => c.name))).toEqual(new Set(['shadowplane-proxy']));
    const complete = commands.filter((c) => /^REGISTRY\/shadowplane\/proxy@sha256:(<digest>|\.\.\.)$/.test(c.ref));
    expect(complete).toHaveLength(2 + RENDERED.length);
    for (const ref of new Set(complete.map((c) => c.ref))) {
      const entry = setImageEntry(`shadowplane-proxy=${ref.replace('REGISTRY/shadowplane/proxy', IMAGE).replace(/sha256:.*$/, DIGEST)}`);
      expect(entry).toEqual({ name: 'shadowplane-proxy', newName: IMAGE, digest: DIGEST });
      for (const dir of RENDERED) {
        const objs = kustomizeEdited(dir, (k) => (k.images = [...(k.images ?? []), entry]));
        expect(new Set(imagesOf(objs)), dir).toEqual(new Set([`${IMAGE}@${DIGEST}`]));
      }
    }
  });

  it('grants the proxy exactly pods get/list/watch and services get, plus impersonation of users and groups with the impersonate component', () => {
    type Role = { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    type Binding = { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    const own = [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get'] },
    ];
    const base = kustomize('base');
    expect(base.filter((o) => o.kind === 'ClusterRole').map((o) => (o as unknown as Role).rules)).toEqual([own]);
    const overlay = kustomize('overlays/sev-snp');
    const roles = Object.fromEntries(overlay.filter((o) => o.kind === 'ClusterRole').map((o) => [o.metadata.name, (o as unknown as Role).rules]));
    expect(roles).toEqual({
      'shadowplane-proxy': own,
      'shadowplane-proxy-impersonate': [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }],
    });
    for (const b of overlay.filter((o) => o.kind === 'ClusterRoleBinding') as unknown as Binding[]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'shadowplane-proxy', namespace: 'shadowplane' }]);
      expect(Object.keys(roles)).toContain(b.roleRef.name);
    }
  });

  it('renders the CRL refresh job: the proxy image runs crl fetch daily into the ConfigMap of its own namespace, whose service account may read, replace and create ConfigMaps in that namespace only', async () => {
    type Role = { rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[] };
    const objs = kustomize('examples/crl-refresh');
    expect(await validateKubernetesObjects(objs)).toEqual([]);
    const role = find(objs, 'Role', 'shadowplane-crl-refresh') as unknown as Role & Obj;
    expect(role.metadata.namespace).toBe('shadowplane');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['shadowplane-crls'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
    ]);
    expect((find(objs, 'RoleBinding', 'shadowplane-crl-refresh') as unknown as { subjects: unknown[] }).subjects).toEqual([{ kind: 'ServiceAccount', name: 'shadowplane-crl-refresh', namespace: 'shadowplane' }]);
    // No cluster-wide rights beyond the proxy's own.
    expect(objs.filter((o) => o.kind === 'ClusterRoleBinding').flatMap((o) => (o as unknown as { subjects: { name: string }[] }).subjects.map((x) => x.name))).not.toContain('shadowplane-crl-refresh');
    const job = find(objs, 'CronJob', 'shadowplane-crl-refresh')!;
    expect((job.spec as { concurrencyPolicy: string }).concurrencyPolicy).toBe('Forbid');
    const pod = podSpecOf(job);
    expect(pod.serviceAccountName).toBe('shadowplane-crl-refresh');
    const [c] = pod.containers;
    expect(c!.image).toBe('shadowplane-proxy');
    expect([...c!.command!, ...c!.args!]).toEqual(['/opt/shadowplane/bin/shadowplane', 'crl', 'fetch', '--out', '/work', '--amd', 'all', '--intel', '--configmap', '$(POD_NAMESPACE)/shadowplane-crls']);
    expect(c!.env).toEqual([{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }]);
    expect(c!.securityContext?.readOnlyRootFilesystem).toBe(true);
  });

  // Bug (docs-vs-deployment review): the CRL job published shadowplane-crls only in the
  // shadowplane namespace, but inject mounts a ConfigMap of that name from the pod's own
  // namespace, not optional: injected pods elsewhere hung in ContainerCreating.
  it('publishes a copy of the CRLs into a confidential workload namespace, with the job, its rights and its ConfigMap all in that namespace', async () => {
    const objs = kustomize('examples/payments-crls');
    expect(await validateKubernetesObjects(objs)).toEqual([]);
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}`).sort()).toEqual(['CronJob/payments', 'Role/payments', 'RoleBinding/payments', 'ServiceAccount/payments']);
    const binding = find(objs, 'RoleBinding', 'shadowplane-crl-refresh') as unknown as { subjects: unknown[]; roleRef: { kind: string } };
    expect(binding.roleRef.kind).toBe('Role');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'shadowplane-crl-refresh', namespace: 'payments' }]);
    const c = podSpecOf(find(objs, 'CronJob', 'shadowplane-crl-refresh')!).containers[0]!;
    // kubelet expands $(POD_NAMESPACE) from the downward API: the job publishes payments/shadowplane-crls.
    const ns = c.env?.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath;
    expect(ns).toBe('metadata.namespace');
    expect(c.args?.[c.args.indexOf('--configmap') + 1]).toBe('$(POD_NAMESPACE)/shadowplane-crls');
    const role = find(objs, 'Role', 'shadowplane-crl-refresh') as unknown as { rules: { resourceNames?: string[] }[] };
    expect(role.rules[0]?.resourceNames).toEqual(['shadowplane-crls']);
  });

  // Bug (docs-vs-deployment review): the proxy ran as uid 65532 with no configfs in its
  // container, so it could not create a configfs-tsm report request and stopped at start
  // with SP_ATTEST_UNAVAILABLE.
  for (const [overlay, runtimeClass] of OVERLAYS) {
    it(`lets the proxy in overlays/${overlay} reach configfs-tsm as uid 0 of its ${runtimeClass} guest, with no capability, no escalation, no privileged mode and a read-only root`, () => {
      const pod = podSpecOf(find(kustomize(`overlays/${overlay}`), 'Deployment', 'shadowplane-proxy')!);
      expect(pod.runtimeClassName).toMatch(/^(kata-qemu-(snp|tdx)|contrast-cc)$/);
      expect(pod.securityContext).toEqual({ runAsNonRoot: false, runAsUser: 0, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers).toHaveLength(1);
      const c = pod.containers[0]!;
      expect(c.securityContext).toEqual({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      // The guest's configfs, writable, at the path the issuer uses.
      const tsm = pod.volumes?.find((v) => v.hostPath !== undefined);
      expect(tsm).toEqual({ name: 'tsm', hostPath: { path: '/sys/kernel/config', type: 'Directory' } });
      const mount = c.volumeMounts?.find((m) => m.name === 'tsm');
      expect(mount).toEqual({ name: 'tsm', mountPath: '/sys/kernel/config' });
      expect(TSM_REPORT_ROOT.startsWith(`${mount!.mountPath}/`)).toBe(true);
      expect(pod.volumes?.filter((v) => v.hostPath !== undefined)).toHaveLength(1);
      expect(c.volumeMounts?.find((m) => m.name === 'manifest')).toEqual({ name: 'manifest', mountPath: '/etc/shadowplane/manifest', readOnly: true });
      expect(c.args?.slice(0, 2)).toEqual(['--manifest', '/etc/shadowplane/manifest/manifest.yaml']);
      expect(c.args).not.toContain('--allow-simulated-agents');
    });
  }

  it('admits the proxy under the namespace\'s enforced PodSecurity level and warns (restricted) only for its uid 0 and configfs volume, while the CRL job stays restricted', () => {
    const objs = kustomize('examples/crl-refresh');
    const labels = find(objs, 'Namespace', 'shadowplane')!.metadata.labels ?? {};
    expect(labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
    const enforced = labels['pod-security.kubernetes.io/enforce'] as PodSecurityLevel;
    const warned = labels['pod-security.kubernetes.io/warn'] as PodSecurityLevel;
    const proxy = podSpecOf(find(objs, 'Deployment', 'shadowplane-proxy')!);
    const job = podSpecOf(find(objs, 'CronJob', 'shadowplane-crl-refresh')!);
    for (const pod of [proxy, job]) expect(admits(enforced, podSecurityLevelOf(pod))).toBe(true);
    expect(podSecurityViolations(proxy, warned)).toEqual(['hostPath volumes (tsm)', 'volume types (tsm: hostPath)', 'runAsNonRoot != true (proxy)', 'runAsUser=0 (proxy)']);
    expect(podSecurityViolations(job, 'restricted')).toEqual([]);
  });

  it('lets only the proxy reach the agents\' port, and every other port stay as open as before', async () => {
    const objs = kustomize('examples/payments-namespace');
    expect(await validateKubernetesObjects(objs)).toEqual([]);
    expect(objs).toHaveLength(1);
    type Rule = { from?: unknown[]; ports: { protocol: string; port: number; endPort?: number }[] };
    const policy = objs[0] as unknown as Obj & { spec: { podSelector: object; policyTypes: string[]; ingress: Rule[] } };
    expect(policy.metadata.namespace).toBe('payments');
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const openTo = (protocol: string, port: number): 'everyone' | 'proxy' | 'nobody' => {
      const matches = (r: Rule) => r.ports.some((p) => p.protocol === protocol && port >= p.port && port <= (p.endPort ?? p.port));
      if (policy.spec.ingress.some((r) => r.from === undefined && matches(r))) return 'everyone';
      if (policy.spec.ingress.some((r) => r.from !== undefined && matches(r))) return 'proxy';
      return 'nobody';
    };
    expect(openTo('TCP', 15443)).toBe('proxy');
    for (const port of [1, 80, 443, 8080, 15442, 15444, 65535]) expect(openTo('TCP', port)).toBe('everyone');
    for (const port of [53, 15443, 65535]) expect(openTo('UDP', port)).toBe('everyone');
    const proxyRule = policy.spec.ingress.find((r) => r.from !== undefined);
    expect(proxyRule?.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shadowplane' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'shadowplane-proxy' } } }]);
  });
});
