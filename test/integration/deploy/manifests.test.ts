/**
 * deploy/: every YAML parses, every Kubernetes object validates (offline schemas, see
 * test/unit/inject/support/k8s-schema.ts), and every kustomization renders with the real
 * `kubectl kustomize` into objects that validate and grant exactly what the proxy needs.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseManifestText } from '../../../src/config/manifest.ts';
import { REPO } from '../../support/bed.ts';
import { kubectlPath } from '../../support/kubectl.ts';
import { validateKubernetesObjects } from '../../unit/inject/support/k8s-schema.ts';

const DEPLOY = join(REPO, 'deploy');
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(n) ? [p] : [];
  });
}

function parse(text: string, source: string): Obj[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]?.message ?? 'YAML error'}`);
  return docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

function kustomize(dir: string): Obj[] {
  const r = spawnSync(kubectlPath('1.33'), ['kustomize', join(DEPLOY, 'kustomize', dir)], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${r.stderr}`);
  return parse(r.stdout, dir);
}

const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component']);
const find = (objs: Obj[], kind: string, name: string): Obj | undefined => objs.find((o) => o.kind === kind && o.metadata.name.startsWith(name));

describe('deploy/', () => {
  it('parses every YAML file and validates every Kubernetes object in them', async () => {
    const files = yamlFiles(DEPLOY);
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const objs = parse(readFileSync(f, 'utf8'), f);
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

  for (const [overlay, runtimeClass] of [['sev-snp', 'kata-qemu-snp'], ['tdx', 'kata-qemu-tdx'], ['contrast', 'contrast-cc']] as const) {
    it(`renders overlays/${overlay} with kubectl kustomize into valid objects in the ${runtimeClass} runtime class`, async () => {
      const objs = kustomize(`overlays/${overlay}`);
      expect(await validateKubernetesObjects(objs)).toEqual([]);
      expect(objs.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Namespace', 'Service', 'ServiceAccount']);
      const deployment = find(objs, 'Deployment', 'shadowplane-proxy') as unknown as { spec: { template: { spec: { runtimeClassName: string; volumes: { configMap: { name: string } }[] } } } };
      expect(deployment.spec.template.spec.runtimeClassName).toBe(runtimeClass);
      // The manifest ConfigMap's name carries its content hash and the Deployment uses it.
      const configMap = find(objs, 'ConfigMap', 'shadowplane-manifest') as unknown as { metadata: { name: string }; data: Record<string, string> };
      expect(configMap.metadata.name).toMatch(/^shadowplane-manifest-[a-z0-9]{10}$/);
      expect(deployment.spec.template.spec.volumes[0]?.configMap.name).toBe(configMap.metadata.name);
      expect(configMap.data['manifest.yaml']).toBe(readFileSync(join(DEPLOY, 'kustomize/base/manifest.yaml'), 'utf8'));
      for (const o of objs.filter((x) => !x.kind.startsWith('Cluster') && x.kind !== 'Namespace')) expect(o.metadata.namespace).toBe('shadowplane');
    });
  }

  it('grants the proxy exactly pods get/list/watch, plus impersonation of users and groups with the impersonate component', () => {
    type Role = { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    type Binding = { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    const base = kustomize('base');
    expect(base.filter((o) => o.kind === 'ClusterRole').map((o) => (o as unknown as Role).rules)).toEqual([[{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]]);
    const overlay = kustomize('overlays/sev-snp');
    const roles = Object.fromEntries(overlay.filter((o) => o.kind === 'ClusterRole').map((o) => [o.metadata.name, (o as unknown as Role).rules]));
    expect(roles).toEqual({
      'shadowplane-proxy': [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      'shadowplane-proxy-impersonate': [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }],
    });
    for (const b of overlay.filter((o) => o.kind === 'ClusterRoleBinding') as unknown as Binding[]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'shadowplane-proxy', namespace: 'shadowplane' }]);
      expect(Object.keys(roles)).toContain(b.roleRef.name);
    }
  });

  it('renders the CRL refresh job: the proxy image runs crl fetch daily into the ConfigMap, whose service account may read, replace and create ConfigMaps in its namespace only', async () => {
    type Role = { rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[] };
    type Job = { spec: { schedule: string; concurrencyPolicy: string; jobTemplate: { spec: { template: { spec: { serviceAccountName: string; containers: { image: string; command: string[]; args: string[]; securityContext: { readOnlyRootFilesystem: boolean } }[] } } } } } };
    const objs = kustomize('examples/crl-refresh');
    expect(await validateKubernetesObjects(objs)).toEqual([]);
    const role = find(objs, 'Role', 'shadowplane-crl-refresh') as unknown as Role & Obj;
    expect(role.metadata.namespace).toBe('shadowplane');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['shadowplane-crls'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
    ]);
    // No cluster-wide rights beyond the proxy's own.
    expect(objs.filter((o) => o.kind === 'ClusterRoleBinding').flatMap((o) => (o as unknown as { subjects: { name: string }[] }).subjects.map((x) => x.name))).not.toContain('shadowplane-crl-refresh');
    const job = find(objs, 'CronJob', 'shadowplane-crl-refresh') as unknown as Job & Obj;
    expect(job.spec.concurrencyPolicy).toBe('Forbid');
    const pod = job.spec.jobTemplate.spec.template.spec;
    expect(pod.serviceAccountName).toBe('shadowplane-crl-refresh');
    const [c] = pod.containers;
    expect(c!.image).toBe('registry.example/shadowplane/proxy:0.1.0');
    expect([...c!.command, ...c!.args]).toEqual(['/opt/shadowplane/bin/shadowplane', 'crl', 'fetch', '--out', '/work', '--amd', 'all', '--intel', '--configmap', 'shadowplane/shadowplane-crls']);
    expect(c!.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('runs the proxy as non-root with a read-only root filesystem and the manifest mounted read-only', () => {
    const deployment = find(kustomize('overlays/tdx'), 'Deployment', 'shadowplane-proxy') as unknown as {
      spec: { replicas: number; template: { spec: { securityContext: { runAsNonRoot: boolean; runAsUser: number }; containers: { args: string[]; securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean }; volumeMounts: { readOnly: boolean; mountPath: string }[] }[] } } };
    };
    const spec = deployment.spec.template.spec;
    expect(deployment.spec.replicas).toBe(1);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    const c = spec.containers[0]!;
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.volumeMounts).toEqual([{ name: 'manifest', mountPath: '/etc/shadowplane/manifest', readOnly: true }]);
    expect(c.args.slice(0, 2)).toEqual(['--manifest', '/etc/shadowplane/manifest/manifest.yaml']);
    expect(c.args).not.toContain('--allow-simulated-agents');
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
