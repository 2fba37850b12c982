import { readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadAgentConfig } from '../../../src/config/agent-config.ts';
import { parseManifest } from '../../../src/config/manifest.ts';
import { injectDocuments, type InjectInput } from '../../../src/inject/inject.ts';
import { entrypointResolver, parseEntrypoint, parseInjectOptions, podSpecPlan } from '../../../src/inject/options.ts';
import { expectCode } from '../../support/testing.ts';
import { validateKubernetesObjects } from './support/k8s-schema.ts';

const FIXTURES = new URL('../../fixtures/inject/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const AGENT_IMAGE = 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444';
const MANIFEST_DIGEST = '5555555555555555555555555555555555555555555555555555555555555555';
const UPDATE = process.env['SHADOWPLANE_UPDATE_GOLDEN'] === '1';

function files(extra: Record<string, string> = {}): (path: string) => string {
  return (path) => {
    if (path in extra) return extra[path] as string;
    return fixture(path);
  };
}

function inject(inputs: readonly InjectInput[], argv: readonly string[] = [], extraFiles: Record<string, string> = {}) {
  const options = parseInjectOptions(
    ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml', '--manifest-digest', MANIFEST_DIGEST, ...argv],
    files(extraFiles),
  );
  const entrypoints = entrypointResolver(options.entrypoints);
  const result = injectDocuments(inputs, podSpecPlan(options, entrypoints.lookup));
  return { ...result, unused: entrypoints.unused(), options };
}

const APP_ARGS = ['--entrypoint', 'worker=["/usr/local/bin/worker","--queue","payments"]'];
const WORKLOADS_ARGS = ['--runtime-class', 'kata-qemu-tdx', '--tee', 'tdx', '--agent-port', '15500'];

function golden(name: string, actual: string): void {
  const url = new URL(name, FIXTURES);
  if (UPDATE) writeFileSync(url, actual);
  expect(actual).toBe(readFileSync(url, 'utf8'));
}

function objects(text: string): unknown[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o) => o !== null);
}

describe('shadowplane inject', () => {
  it('matches the golden output for a Deployment with a sidecar, a Service and a Job', () => {
    const r = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS);
    golden('app.injected.yaml', r.output);
    expect(r.injected.map((o) => `${o.kind}/${o.name}: ${o.wrapped.join(',')}`)).toEqual(['Deployment/payments-api: api,worker,log-shipper', 'Job/nightly-report: report']);
    expect(r.warnings).toEqual([expect.stringContaining('init container "migrate" is not wrapped')]);
  });

  it('matches the golden output for a Pod, StatefulSet, DaemonSet, CronJob, ConfigMap and a List', () => {
    const r = inject([{ name: 'workloads.yaml', text: fixture('workloads.yaml') }], WORKLOADS_ARGS);
    golden('workloads.injected.yaml', r.output);
    expect(r.injected.map((o) => o.kind)).toEqual(['Pod', 'StatefulSet', 'DaemonSet', 'CronJob', 'Pod']);
  });

  it('is idempotent: injecting its own output again changes nothing', () => {
    for (const [name, args] of [['app.yaml', APP_ARGS], ['workloads.yaml', WORKLOADS_ARGS]] as const) {
      const once = inject([{ name, text: fixture(name) }], args).output;
      const twice = inject([{ name, text: once }], args).output;
      expect(twice).toBe(once);
    }
  });

  it('is deterministic: the same inputs give the same bytes', () => {
    const a = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    const b = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    expect(a).toBe(b);
  });

  it('re-injecting with new reference values replaces the pinned configuration in place', () => {
    const once = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    const other = fixture('proxy-reference-values.yaml').replaceAll('4f2e3a1b9c8d7e6f', '0123456789abcdef');
    const again = inject([{ name: 'app.yaml', text: once }], [...APP_ARGS], { 'proxy-reference-values.yaml': other }).output;
    expect(again).toContain('0123456789abcdef'.repeat(6));
    expect(again).not.toContain('4f2e3a1b9c8d7e6f'.repeat(6));
    expect(again.split('\n').length).toBe(once.split('\n').length);
    expect(again.match(/name: shadowplane-install/g)).toHaveLength(2);
  });

  it('copies documents it does not inject byte for byte, comments and spacing included', () => {
    const text = fixture('app.yaml');
    const service = text.slice(text.indexOf('---\napiVersion: v1\nkind: Service'), text.indexOf('---\napiVersion: batch/v1'));
    expect(service).toContain('targetPort: http   # untouched, byte for byte');
    const out = inject([{ name: 'app.yaml', text }], APP_ARGS).output;
    expect(out).toContain(service);
    const workloads = fixture('workloads.yaml');
    const configMap = workloads.slice(workloads.indexOf('---\napiVersion: v1\nkind: ConfigMap'), workloads.indexOf('---\napiVersion: v1\nkind: List'));
    expect(inject([{ name: 'w', text: workloads }], WORKLOADS_ARGS).output).toContain(configMap);
  });

  it('keeps untouched fields of an injected object in their order, with their comments', () => {
    const out = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    expect(out.startsWith('# An owner\'s application')).toBe(true);
    expect(out).toContain('name: payments-api # the API');
    expect(out).toContain('- name: POD_NAME # already from the downward API: kept as is');
    const deployment = objects(out)[0] as { spec: { template: { spec: Record<string, unknown> } } };
    const before = objects(fixture('app.yaml'))[0] as { spec: { template: { spec: Record<string, unknown> } } };
    const keysBefore = Object.keys(before.spec.template.spec);
    expect(Object.keys(deployment.spec.template.spec).slice(0, keysBefore.length)).toEqual(keysBefore);
    expect(deployment.spec.template.spec['runtimeClassName']).toBe('kata-qemu-snp');
  });

  it('produces objects that validate against the Kubernetes schemas (inputs too)', async () => {
    const withCrls = [...APP_ARGS, '--crl-configmap', 'vendor-crls=amd.crl', '--require-crls'];
    for (const [name, args] of [['app.yaml', APP_ARGS], ['workloads.yaml', WORKLOADS_ARGS], ['app.yaml', withCrls]] as const) {
      expect(await validateKubernetesObjects(objects(fixture(name)))).toEqual([]);
      const out = inject([{ name, text: fixture(name) }], args).output;
      const objs = objects(out);
      expect(objs.length).toBeGreaterThan(2);
      expect(await validateKubernetesObjects(objs)).toEqual([]);
    }
  });

  it('the schema validator catches what it claims to (unknown field, bad type, missing volume, duplicate name)', async () => {
    const pod = (spec: unknown) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec });
    const problems = await validateKubernetesObjects([
      pod({ containerz: [], containers: [{ name: 'c', image: 'i' }] }),
      pod({ containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 'x' }] }] }),
      pod({ containers: [{ name: 'c', image: 'i', volumeMounts: [{ name: 'v', mountPath: '/v' }] }] }),
      pod({ containers: [{ name: 'c', image: 'i' }, { name: 'c', image: 'i' }] }),
      pod({ containers: [{ name: 'c', image: 'i', resources: { limits: { memory: 'lots' } } }] }),
    ]);
    expect(problems.some((p) => p.includes('/spec/containerz: unknown field'))).toBe(true);
    expect(problems.some((p) => p.includes('containerPort') && p.includes('integer'))).toBe(true);
    expect(problems.some((p) => p.includes('no such volume'))).toBe(true);
    expect(problems.some((p) => p.includes('duplicate container name'))).toBe(true);
    expect(problems.some((p) => p.includes('quantity'))).toBe(true);
  });

  it('wraps each container so that the effective argv is the agent, then the original command and args', () => {
    const out = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    const d = objects(out)[0] as { spec: { template: { spec: { containers: { name: string; command: string[]; args?: string[] }[] } } } };
    const api = d.spec.template.spec.containers[0]!;
    const argv = [...api.command, ...(api.args ?? [])];
    expect(argv).toEqual(['/shadowplane/bin/shadowplane', 'agent', '--config', '/shadowplane/etc/agent.json', '--container', 'api', '--', '/app/api', '--listen=:8080', '--db=$(DB_URL)']);
    const worker = d.spec.template.spec.containers[1]!;
    expect(worker.command).toContain('--attach-stdin');
    expect(worker.command.slice(worker.command.indexOf('--') + 1)).toEqual(['/usr/local/bin/worker', '--queue', 'payments']);
  });

  it('runs the workload of a container with tty: true on a terminal (--attach-tty), as the runtime would', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: repl\n  namespace: secure\nspec:\n  containers:\n    - name: repl\n      image: i\n      command: [python3]\n      stdin: true\n      tty: true\n    - name: plain\n      image: i\n      command: [sleep, infinity]\n';
    const containers = (objects(inject([{ name: 'repl.yaml', text }]).output)[0] as { spec: { containers: { command: string[]; tty?: boolean }[] } }).spec.containers;
    const [repl, plain] = containers;
    expect(repl!.command.slice(0, repl!.command.indexOf('--'))).toEqual(expect.arrayContaining(['--attach-stdin', '--attach-tty']));
    expect(repl!.tty).toBe(true);
    expect(plain!.command).not.toContain('--attach-tty');
  });

  it('pins a configuration that the real agent accepts, with the reference values and the manifest digest', () => {
    const out = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    const spec = (objects(out)[0] as { spec: { template: { spec: { initContainers: { name: string; command: string[] }[]; containers: { command: string[] }[] } } } }).spec.template.spec;
    const install = spec.initContainers[0]!;
    expect(install.name).toBe('shadowplane-install');
    const configText = install.command[install.command.indexOf('--agent-config') + 1]!;
    const wrapped = spec.containers[0]!.command;
    const config = loadAgentConfig({
      argv: wrapped.slice(2),
      env: { POD_NAME: 'payments-api-7d9f-x2', POD_NAMESPACE: 'payments', POD_IP: '10.1.2.3' },
      cwd: '/',
      readFile: (path) => {
        expect(path).toBe('/shadowplane/etc/agent.json');
        return Buffer.from(configText);
      },
    });
    expect(config.container).toBe('api');
    expect(config.listen).toEqual({ address: '10.1.2.3', port: 15443 });
    expect(config.proxy.allowedManifestDigests).toEqual([MANIFEST_DIGEST]);
    expect(config.proxy.allowSimulated).toBe(false);
    expect(config.shareDir).toBe('/run/shadowplane/share');
    expect(config.logs.dir).toBe('/run/shadowplane/logs/api');
    expect(config.workload.command).toBe('/app/api');
    expect((config.proxy.referenceValues as { entries: { platform: string }[] }).entries[0]?.platform).toBe('sev-snp');
  });

  it('mounts the runtime read-only into workloads and keeps both volumes in memory', () => {
    const out = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output;
    type Mount = { name: string; mountPath: string; readOnly?: boolean };
    const spec = (objects(out)[0] as { spec: { template: { spec: { containers: { volumeMounts: Mount[] }[]; volumes: { name: string; emptyDir?: { medium?: string } }[] } } } }).spec.template.spec;
    for (const c of spec.containers) {
      expect(c.volumeMounts).toContainEqual({ name: 'shadowplane', mountPath: '/shadowplane', readOnly: true });
      expect(c.volumeMounts).toContainEqual({ name: 'shadowplane-run', mountPath: '/run/shadowplane' });
    }
    for (const v of spec.volumes.filter((x) => x.name.startsWith('shadowplane'))) expect(v.emptyDir?.medium).toBe('Memory');
  });

  it('mounts a ConfigMap of vendor CRLs read-only where the pinned configuration has the agent read them, and requires them when asked', () => {
    const out = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], [...APP_ARGS, '--crl-configmap', 'vendor-crls=amd-milan.crl,intel-pck.crl', '--require-crls']).output;
    type Mount = { name: string; mountPath: string; readOnly?: boolean };
    type Spec = { initContainers: { command: string[] }[]; containers: { command: string[]; volumeMounts: Mount[] }[]; volumes: { name: string; configMap?: { name: string } }[] };
    const spec = (objects(out)[0] as { spec: { template: { spec: Spec } } }).spec.template.spec;
    for (const c of spec.containers) expect(c.volumeMounts).toContainEqual({ name: 'shadowplane-crls', mountPath: '/run/shadowplane-crls', readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'shadowplane-crls', configMap: { name: 'vendor-crls' } });
    const install = spec.initContainers[0]!;
    const configText = install.command[install.command.indexOf('--agent-config') + 1]!;
    const config = loadAgentConfig({
      argv: spec.containers[0]!.command.slice(2),
      env: { POD_NAME: 'payments-api-7d9f-x2', POD_NAMESPACE: 'payments', POD_IP: '10.1.2.3' },
      cwd: '/',
      readFile: () => Buffer.from(configText),
    });
    expect(config.proxy.crlFiles).toEqual(['/run/shadowplane-crls/amd-milan.crl', '/run/shadowplane-crls/intel-pck.crl']);
    expect(config.proxy.requireCrls).toBe(true);
    // Without the flags, nothing of it: the golden outputs above have neither volume nor setting.
    expect(inject([{ name: 'app.yaml', text: fixture('app.yaml') }], APP_ARGS).output).not.toContain('crl');
  });

  it('refuses a malformed --crl-configmap, and --require-crls without CRLs to require', () => {
    for (const bad of ['vendor-crls', 'vendor-crls=', 'Bad_Name=a.crl', 'x=../etc/passwd', 'x=..data', 'x=a.crl,a.crl']) {
      expectCode(() => inject([{ name: 'app.yaml', text: fixture('app.yaml') }], [...APP_ARGS, '--crl-configmap', bad]), 'SP_USAGE');
    }
    expectCode(() => inject([{ name: 'app.yaml', text: fixture('app.yaml') }], [...APP_ARGS, '--require-crls']), 'SP_USAGE');
  });

  it('takes the agent port and the manifest digest from --manifest', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const doc = {
      apiVersion: 'shadowplane.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'm' },
      confidential: [{ namespace: 'payments' }],
      users: [{ name: 'alice', publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
      upstream: { server: 'https://10.0.0.1:443', auth: 'forward-token' },
      agent: { port: 16000 },
    };
    const r = inject([{ name: 'app.yaml', text: fixture('app.yaml') }], [...APP_ARGS, '--manifest', 'm.yaml'], { 'm.yaml': stringify(doc) });
    expect(r.options.port).toBe(16000);
    expect(r.options.agentConfigText).toContain(parseManifest(doc).digestHex);
    expect(r.options.agentConfigText).toContain(MANIFEST_DIGEST);
    expect(r.output).toContain('containerPort: 16000');
  });

  describe('refusals', () => {
    const deployment = (container: Record<string, unknown>, spec: Record<string, unknown> = {}) =>
      stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'web', image: 'nginx', ...container }], ...spec } } } });

    it('refuses a container without a command, naming it, unless --entrypoint gives one', () => {
      const err = expectCode(() => inject([{ name: 'd.yaml', text: deployment({}) }]), 'SP_INJECT_NO_COMMAND');
      expect(err.message).toContain('container "web"');
      expect(err.message).toContain('Deployment web');
      const ok = inject([{ name: 'd.yaml', text: deployment({ args: ['-g', 'daemon off;'] }) }], ['--entrypoint', 'web/web=/docker-entrypoint.sh']);
      expect(ok.output).toContain('- /docker-entrypoint.sh');
      expect(ok.unused).toEqual([]);
    });

    it('reports an --entrypoint that matched nothing', () => {
      const r = inject([{ name: 'd.yaml', text: deployment({ command: ['/web'] }) }], ['--entrypoint', 'other=/x']);
      expect(r.unused).toEqual(['other']);
    });

    it('refuses a downward-API variable already set to something else, without quoting its value', () => {
      const err = expectCode(() => inject([{ name: 'd.yaml', text: deployment({ command: ['/web'], env: [{ name: 'POD_IP', value: 's3cr3t-value' }] }) }]), 'SP_INJECT_CONFLICT');
      expect(err.message).toContain('POD_IP');
      expect(err.message).not.toContain('s3cr3t-value');
    });

    it('refuses a volume named shadowplane that is not an emptyDir', () => {
      expectCode(() => inject([{ name: 'd.yaml', text: deployment({ command: ['/web'] }, { volumes: [{ name: 'shadowplane', persistentVolumeClaim: { claimName: 'x' } }] }) }]), 'SP_INJECT_CONFLICT');
    });

    it('refuses a volume named shadowplane-crls that is not a ConfigMap, when CRLs are mounted', () => {
      expectCode(
        () => inject([{ name: 'd.yaml', text: deployment({ command: ['/web'] }, { volumes: [{ name: 'shadowplane-crls', emptyDir: {} }] }) }], ['--crl-configmap', 'vendor-crls=a.crl']),
        'SP_INJECT_CONFLICT',
      );
    });

    it('refuses another volume mounted where the runtime goes', () => {
      expectCode(() => inject([{ name: 'd.yaml', text: deployment({ command: ['/web'], volumeMounts: [{ name: 'data', mountPath: '/run/shadowplane/' }] }, { volumes: [{ name: 'data', emptyDir: {} }] }) }]), 'SP_INJECT_CONFLICT');
    });

    it('refuses a container port equal to the agent port', () => {
      expectCode(() => inject([{ name: 'd.yaml', text: deployment({ command: ['/web'], ports: [{ containerPort: 15443 }] }) }]), 'SP_INJECT_CONFLICT');
    });

    it('refuses a container named like its init container', () => {
      expectCode(() => inject([{ name: 'd.yaml', text: deployment({ name: 'shadowplane-install', command: ['/web'] }) }]), 'SP_INJECT_CONFLICT');
    });

    it('refuses input that is not YAML, not an object, or not a Kubernetes object', () => {
      expectCode(() => inject([{ name: 'bad.yaml', text: 'a: [1, 2\nb: {' }]), 'SP_INJECT_INPUT_INVALID');
      expectCode(() => inject([{ name: 'bad.yaml', text: '- just\n- a list\n' }]), 'SP_INJECT_INPUT_INVALID');
      expectCode(() => inject([{ name: 'bad.yaml', text: 'metadata: {name: x}\n' }]), 'SP_INJECT_INPUT_INVALID');
      expectCode(() => inject([{ name: 'bad.yaml', text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n' }]), 'SP_INJECT_INPUT_INVALID');
      expectCode(() => inject([{ name: 'bad.yaml', text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, command: [1, 2]}]}\n' }]), 'SP_INJECT_INPUT_INVALID');
    });

    // Bug (CLI review): "document 0: not valid YAML (BAD_INDENT)" said neither line nor column.
    it('names the line and column of a YAML error in the file, and the error code, never the source', () => {
      const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n   token: hunter2-canary\n';
      const err = expectCode(() => inject([{ name: 'bad.yaml', text }]), 'SP_INJECT_INPUT_INVALID');
      expect(err.message).toMatch(/bad\.yaml: document 1: not valid YAML at line 8, column \d+ \([A-Z_]+\)$/);
      expect(err.message).not.toContain('hunter2');
    });

    it('refuses input larger than its bound before parsing it', () => {
      expectCode(() => inject([{ name: 'big.yaml', text: `# ${'x'.repeat(8 * 1024 * 1024)}\n` }]), 'SP_INJECT_INPUT_INVALID');
    });

    it('refuses anchors and aliases in an object it must edit, and passes them through elsewhere', () => {
      const aliased = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: i, command: [/c], env: &e [{name: A, value: b}]}\n  - {name: d, image: i, command: [/d], env: *e}\n';
      expectCode(() => inject([{ name: 'a.yaml', text: aliased }]), 'SP_INJECT_INPUT_INVALID');
      const bomb = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n  a: &a "x"\n  b: *a\n`;
      expect(inject([{ name: 'b.yaml', text: bomb }]).output).toBe(bomb);
    });

    it('passes other kinds and other apiVersions through untouched, with a warning for the latter', () => {
      const old = 'apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec: {}\n';
      const r = inject([{ name: 'o.yaml', text: old }]);
      expect(r.output).toBe(old);
      expect(r.warnings).toEqual([expect.stringContaining('extensions/v1beta1')]);
    });
  });

  it('joins several files into one stream with document markers', () => {
    const r = inject([
      { name: 'a.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n' },
      { name: 'b.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}' },
      { name: 'c.yaml', text: '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' },
    ]);
    expect(r.output).toBe('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
  });

  describe('options', () => {
    it('parses --entrypoint as a path or a JSON array, with an optional object name', () => {
      expect(parseEntrypoint('web=/entry')).toEqual(['web', ['/entry']]);
      expect(parseEntrypoint('api/web=["/e","serve","--x=1"]')).toEqual(['api/web', ['/e', 'serve', '--x=1']]);
      for (const bad of ['=/x', 'Web=/x', 'web=', 'web=[1]', 'web=[', 'a/b/c=/x']) expectCode(() => parseEntrypoint(bad), 'SP_USAGE');
    });

    it('requires the agent image and the proxy reference values, and checks their form', () => {
      const read = files();
      expectCode(() => parseInjectOptions(['-f', 'x', '--proxy-reference-values', 'proxy-reference-values.yaml'], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions(['-f', 'x', '--agent-image', AGENT_IMAGE], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions(['-f', 'x', '--agent-image', 'bad image', '--proxy-reference-values', 'proxy-reference-values.yaml'], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions(['--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml'], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions(['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'rv.yaml'], files({ 'rv.yaml': 'version: 1\nentries: [{platform: sev-snp, measurements: [abc]}]\n' })), 'SP_ATTEST_REFERENCE_VALUES_INVALID');
      expectCode(() => parseInjectOptions(['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml', '--manifest-digest', 'abc'], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions(['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml', '--tee', 'simulated'], read), 'SP_USAGE');
    });

    // Bug (CLI review): IMAGE_REF made @sha256 optional, so `--agent-image reg/agent:latest`
    // went through without a word, though the help and docs say to pin it by digest.
    it('refuses an agent image not pinned by digest, unless --allow-unpinned-image says so', () => {
      const read = files();
      const base = ['-f', 'x', '--proxy-reference-values', 'proxy-reference-values.yaml', '--manifest-digest', MANIFEST_DIGEST];
      for (const image of ['registry.example/shadowplane/agent-runtime:latest', 'agent-runtime', 'registry.example:5000/agent:1.2']) {
        const err = expectCode(() => parseInjectOptions([...base, '--agent-image', image], read), 'SP_USAGE');
        expect(err.message).toContain('--allow-unpinned-image');
        expect(err.message).not.toContain(image);
        expect(parseInjectOptions([...base, '--agent-image', image, '--allow-unpinned-image'], read)).toMatchObject({ agentImage: image, unpinnedImage: true });
      }
      expect(parseInjectOptions([...base, '--agent-image', AGENT_IMAGE], read).unpinnedImage).toBe(false);
      expect(parseInjectOptions([...base, '--agent-image', `registry.example/agent:1.2@sha256:${'4'.repeat(64)}`], read).unpinnedImage).toBe(false);
    });

    it('tells the file reader which option names each file (for its size bound and its messages)', () => {
      const owner = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const manifest = stringify({
        apiVersion: 'shadowplane.dev/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, confidential: [{ namespace: 'n' }],
        users: [{ name: 'u', publicKey: owner }], upstream: { server: 'https://10.0.0.1:6443', auth: 'forward-token' },
      });
      const asked: string[] = [];
      const read = files({ 'owner.pub.pem': owner, 'm.yaml': manifest });
      parseInjectOptions(['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml', '--manifest', 'm.yaml', '--manifest-signer', 'owner.pub.pem'], (path, option) => {
        asked.push(`${option} ${path}`);
        return read(path);
      });
      expect(asked).toEqual(['--proxy-reference-values proxy-reference-values.yaml', '--manifest m.yaml', '--manifest-signer owner.pub.pem']);
    });

    it('refuses proxy reference values that accept only a simulated proxy unless simulated proxies are allowed', () => {
      const simulatedOnly = files({ 'sim.yaml': `version: 1\nentries: [{platform: simulated, simulatedRootSha256: '${'ab'.repeat(32)}', measurements: ['${'cd'.repeat(48)}'], unboundIdentity: true}]\n` });
      const base = ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'sim.yaml'];
      const err = expectCode(() => parseInjectOptions(base, simulatedOnly), 'SP_USAGE');
      expect(err.message).toContain('accepts only a simulated proxy');
      expect(parseInjectOptions([...base, '--allow-simulated-proxy'], simulatedOnly).simulated).toBe(true);
    });

    it('pins owner keys with a minimum serial instead of a manifest digest, which the agent then loads', () => {
      const owner = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const read = files({ 'owner.pub.pem': owner, 'rsa.pub.pem': generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString() });
      const base = ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml'];
      const options = parseInjectOptions([...base, '--manifest-signer', 'owner.pub.pem', '--minimum-manifest-serial', '4'], read);
      expect(options.anyManifest).toBe(false);
      const document = JSON.parse(options.agentConfigText) as { proxy: Record<string, unknown> };
      expect(document.proxy).toMatchObject({ allowedManifestDigests: [], manifestSigners: [{ publicKey: owner, minimumSerial: 4 }] });
      const config = loadAgentConfig({ argv: ['--config', '/c.json', '--container', 'app', '--', 'x'], env: { POD_NAME: 'p', POD_NAMESPACE: 'n', POD_IP: '10.0.0.1' }, cwd: '/', readFile: () => Buffer.from(options.agentConfigText) });
      expect(config.proxy.manifestSigners.map((s) => s.minimumSerial)).toEqual([4]);
      expect(expectCode(() => parseInjectOptions([...base, '--manifest-signer', 'rsa.pub.pem'], read), 'SP_USAGE').message).toContain('Ed25519, ECDSA P-256 or ECDSA P-384');
      expectCode(() => parseInjectOptions([...base, '--minimum-manifest-serial', '4'], read), 'SP_USAGE');
      expectCode(() => parseInjectOptions([...base, '--manifest-signer', 'owner.pub.pem', '--minimum-manifest-serial', '-1'], read), 'SP_USAGE');
    });

    it('refuses an owner PRIVATE key as --manifest-signer, and writes only the re-exported public key', () => {
      // Regression: createPublicKey takes a private key too, and inject copied the file's
      // text into the pod spec: the owner's signing key would have gone to the cluster.
      const pair = generateKeyPairSync('ed25519');
      const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const read = files({ 'owner.key': privatePem, 'owner.pub.pem': `\n\n${publicPem}   \n# a comment after the key\n` });
      const base = ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml'];
      const err = expectCode(() => parseInjectOptions([...base, '--manifest-signer', 'owner.key'], read), 'SP_USAGE');
      expect(err.message).toContain('--manifest-signer owner.key: a manifest owner key holds a PRIVATE key');
      expect(err.message).not.toContain(privatePem.split('\n')[1]!);
      const options = parseInjectOptions([...base, '--manifest-signer', 'owner.pub.pem'], read);
      expect((JSON.parse(options.agentConfigText) as { proxy: { manifestSigners: { publicKey: string }[] } }).proxy.manifestSigners[0]!.publicKey).toBe(publicPem);
    });

    it('says when no manifest is pinned and when attestation is simulated', () => {
      const read = files();
      const base = ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml'];
      expect(parseInjectOptions(base, read).anyManifest).toBe(true);
      const sim = parseInjectOptions([...base, '--tee', 'simulated', '--simulated-dir', '/sim', '--allow-simulated-proxy'], read);
      expect(sim.simulated).toBe(true);
      expect(JSON.parse(sim.agentConfigText)).toMatchObject({ proxy: { allowSimulated: true }, attestation: { tee: 'simulated', simulatedDir: '/sim' } });
    });
  });
});
