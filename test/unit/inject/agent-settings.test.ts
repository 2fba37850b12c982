/**
 * `shadowplane inject --agent-config FILE` and a container's `stdinOnce`: the agent
 * settings that are the owner's to choose reach the pinned configuration of the
 * containers they are for, checked by the agent's own loader; what inject pins cannot be
 * set there.
 *
 * Regression (operator review): docs/errors.md and docs/metrics.md told operators to set
 * `metrics.port` in the agent configuration, and docs/agent.md listed `attach.stdinOnce`,
 * `logs.*` and `limits.*`, but inject generated the configuration with no way to set any
 * of them; and a container's `stdinOnce: true` was silently ignored.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadAgentConfig, type AgentConfig } from '../../../src/config/agent-config.ts';
import { injectDocuments, type InjectInput } from '../../../src/inject/inject.ts';
import { agentConfigResolver } from '../../../src/inject/agent-settings.ts';
import { entrypointResolver, parseInjectOptions, podSpecPlan } from '../../../src/inject/options.ts';
import { expectCode } from '../../support/testing.ts';
import { validateKubernetesObjects } from './support/k8s-schema.ts';

const FIXTURES = new URL('../../fixtures/inject/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const AGENT_IMAGE = 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444';
const MANIFEST_DIGEST = '5555555555555555555555555555555555555555555555555555555555555555';
const APP_ARGS = ['--entrypoint', 'worker=["/usr/local/bin/worker","--queue","payments"]'];
const APP = (): InjectInput[] => [{ name: 'app.yaml', text: fixture('app.yaml') }];

/** Injects `inputs` with `settings` (a YAML text) as --agent-config settings.yaml, when given. */
function inject(inputs: readonly InjectInput[], argv: readonly string[], settings?: string) {
  const files: Record<string, string> = { 'proxy-reference-values.yaml': fixture('proxy-reference-values.yaml'), ...(settings === undefined ? {} : { 'settings.yaml': settings }) };
  const options = parseInjectOptions(
    ['-f', 'x', '--agent-image', AGENT_IMAGE, '--proxy-reference-values', 'proxy-reference-values.yaml', '--manifest-digest', MANIFEST_DIGEST, ...argv, ...(settings === undefined ? [] : ['--agent-config', 'settings.yaml'])],
    (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`no file ${path}`);
      return text;
    },
  );
  const configs = agentConfigResolver(options);
  const result = injectDocuments(inputs, podSpecPlan(options, entrypointResolver(options.entrypoints).lookup, configs.configFor));
  return { ...result, unusedSettings: configs.unused(), options };
}

interface Container {
  name: string;
  command: string[];
  stdin?: boolean;
}
interface PodSpec {
  initContainers: Container[];
  containers: Container[];
}

const objects = (text: string): unknown[] => parseAllDocuments(text).map((d) => d.toJS() as unknown).filter((o) => o !== null);

function podSpecs(output: string): PodSpec[] {
  return objects(output).flatMap((o) => {
    const obj = o as { kind: string; spec: { template?: { spec: PodSpec } } & PodSpec };
    if (obj.kind === 'Pod') return [obj.spec];
    return obj.spec.template === undefined ? [] : [obj.spec.template.spec];
  });
}

/**
 * What each wrapped container's agent loads in the pod: the install container's
 * `--agent-config` and `--container-config NAME=JSON` arguments become the files, and
 * each container's own argv (after the launcher) names its file.
 */
function agentConfigs(spec: PodSpec): Map<string, AgentConfig> {
  const install = spec.initContainers.find((c) => c.name === 'shadowplane-install')!;
  const files = new Map<string, string>([['/shadowplane/etc/agent.json', install.command[install.command.indexOf('--agent-config') + 1]!]]);
  install.command.forEach((arg, i) => {
    if (arg !== '--container-config') return;
    const value = install.command[i + 1]!;
    const eq = value.indexOf('=');
    files.set(`/shadowplane/etc/containers/${value.slice(0, eq)}.json`, value.slice(eq + 1));
  });
  const out = new Map<string, AgentConfig>();
  for (const c of [...spec.initContainers, ...spec.containers]) {
    if (c.command[0] !== '/shadowplane/bin/shadowplane' || c.command[1] !== 'agent') continue;
    out.set(
      c.name,
      loadAgentConfig({
        argv: c.command.slice(2),
        env: { POD_NAME: 'p-1', POD_NAMESPACE: 'payments', POD_IP: '10.1.2.3' },
        cwd: '/',
        readFile: (path) => {
          const text = files.get(path);
          if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
          return Buffer.from(text);
        },
      }),
    );
  }
  return out;
}

const SETTINGS = `# every wrapped container
logs: { memoryBytes: 33554432, maxLineBytes: 32768 }
limits: { maxConcurrentOperations: 512 }
attestation: { certValidityMs: 3600000 }
containers:
  api:
    metrics: { port: 9102, path: /internal/metrics }
  payments-api/worker:
    logLevel: debug
    logs: { files: 4 }
  report:
    limits: { verifyTimeoutMs: 20000 }
`;

describe('shadowplane inject --agent-config', () => {
  it('carries the owner\'s settings into the configuration of the containers they are for, which the agent loads', () => {
    const r = inject(APP(), APP_ARGS, SETTINGS);
    const [deployment, job] = podSpecs(r.output).map(agentConfigs);
    const api = deployment!.get('api')!;
    const worker = deployment!.get('worker')!;
    const shipper = deployment!.get('log-shipper')!;
    const report = job!.get('report')!;
    for (const c of [api, worker, shipper, report]) {
      expect(c.logs.memoryBytes).toBe(33554432);
      expect(c.logs.maxLineBytes).toBe(32768);
      expect(c.limits.maxConcurrentOperations).toBe(512);
      expect(c.attestation.certValidityMs).toBe(3600000);
      // What inject pins is as without settings.
      expect(c.proxy.allowedManifestDigests).toEqual([MANIFEST_DIGEST]);
      expect(c.listen).toEqual({ address: '10.1.2.3', port: 15443 });
      expect(c.shareDir).toBe('/run/shadowplane/share');
      expect(c.logs.dir).toBe(`/run/shadowplane/logs/${c.container}`);
    }
    expect(api.metrics).toEqual({ port: 9102, path: '/internal/metrics' });
    expect(worker.metrics.port).toBeNull();
    expect(worker.logLevel).toBe('debug');
    expect(worker.logs.files).toBe(4);
    expect(api.logLevel).toBe('info');
    expect(api.logs.files).toBe(2);
    expect(report.limits.verifyTimeoutMs).toBe(20000);
    expect(shipper.metrics.port).toBeNull();
    // The sidecar has no settings of its own: it reads the shared document.
    const spec = podSpecs(r.output)[0]!;
    expect(spec.initContainers.find((c) => c.name === 'log-shipper')!.command).toContain('/shadowplane/etc/agent.json');
    expect(spec.containers.find((c) => c.name === 'api')!.command).toContain('/shadowplane/etc/containers/api.json');
    expect(r.unusedSettings).toEqual([]);
  });

  it('produces objects that validate against the Kubernetes schemas', async () => {
    const objs = objects(inject(APP(), APP_ARGS, SETTINGS).output);
    expect(await validateKubernetesObjects(objs)).toEqual([]);
  });

  it('is deterministic (the file\'s key order does not matter) and idempotent, and injecting without it takes the settings out', () => {
    const once = inject(APP(), APP_ARGS, SETTINGS).output;
    expect(inject(APP(), APP_ARGS, SETTINGS).output).toBe(once);
    const reordered = `containers:\n  report: { limits: { verifyTimeoutMs: 20000 } }\n  payments-api/worker: { logs: { files: 4 }, logLevel: debug }\n  api: { metrics: { path: /internal/metrics, port: 9102 } }\nattestation: { certValidityMs: 3600000 }\nlimits: { maxConcurrentOperations: 512 }\nlogs: { maxLineBytes: 32768, memoryBytes: 33554432 }\n`;
    expect(inject(APP(), APP_ARGS, reordered).output).toBe(once);
    expect(inject(APP(), APP_ARGS, `metrics: {}\n${SETTINGS}`).output).toBe(once);
    expect(inject([{ name: 'app.yaml', text: once }], APP_ARGS, SETTINGS).output).toBe(once);
    const plain = inject(APP(), APP_ARGS).output;
    expect(plain).toBe(fixture('app.injected.yaml'));
    expect(inject([{ name: 'app.yaml', text: once }], APP_ARGS).output).toBe(plain);
  });

  it('gives a container its own document only when its settings differ from every container\'s', () => {
    const same = inject(APP(), APP_ARGS, 'logs: { files: 3 }\ncontainers:\n  api: { logs: { files: 3 } }\n');
    expect(same.output).not.toContain('--container-config');
    expect([...agentConfigs(podSpecs(same.output)[0]!).values()].map((c) => c.logs.files)).toEqual([3, 3, 3]);
  });

  it('refuses every key inject pins, at the top and per container, naming the field and what sets it', () => {
    const pinned: [string, string][] = [
      ['proxy: { allowedManifestDigests: [] }\n', 'proxy'],
      ['proxy: { allowSimulated: true }\n', 'proxy'],
      ['listen: { port: 16000 }\n', 'listen'],
      ['listen: { address: 0.0.0.0 }\n', 'listen'],
      ['attestation: { tee: simulated }\n', 'attestation.tee'],
      ['attestation: { simulatedDir: /sim }\n', 'attestation.simulatedDir'],
      ['attestation: { simulatedMeasurement: abc }\n', 'attestation.simulatedMeasurement'],
      ['shareDir: /tmp\n', 'shareDir'],
      ['pod: { name: x }\n', 'pod'],
      ['container: x\n', 'container'],
      ['attach: { stdinOnce: true }\n', 'attach'],
      ['logs: { dir: /var/log }\n', 'logs.dir'],
      ['logs: { requireMemoryBacked: false }\n', 'logs.requireMemoryBacked'],
    ];
    for (const [text, field] of pinned) {
      const top = expectCode(() => inject(APP(), APP_ARGS, text), 'SP_USAGE');
      expect(top.message).toContain(`--agent-config settings.yaml: ${field} is pinned by inject`);
      const nested = `containers:\n  api:\n${text.replace(/^/gm, '    ').trimEnd()}\n`;
      const own = expectCode(() => inject(APP(), APP_ARGS, nested), 'SP_USAGE');
      expect(own.message).toContain(`containers.api.${field} is pinned by inject`);
    }
    expect(expectCode(() => inject(APP(), APP_ARGS, 'proxy: { requireCrls: true }\n'), 'SP_USAGE').message).toContain('--require-crls');
    expect(expectCode(() => inject(APP(), APP_ARGS, 'attach: { stdin: true }\n'), 'SP_USAGE').message).toContain('stdinOnce');
  });

  it('refuses an unknown field or a value the agent would refuse, naming the field and never writing it', () => {
    const invalid: [string, readonly string[]][] = [
      ['metrics: { prot: 9102 }\n', ['metrics: unknown field "prot"']],
      ['metricz: { port: 9102 }\n', ['unknown field "metricz"']],
      ['containers:\n  api: { metrics: { port: 70000 } }\n', ['containers.api', 'metrics.port: must be at most 65535']],
      ['containers:\n  api: { metrics: { port: "9102" } }\n', ['containers.api', 'metrics.port: must be an integer']],
      ['containers:\n  api: { metrics: { path: metrics } }\n', ['containers.api', 'metrics.path: must be an absolute URL path']],
      ['logs: { files: 0 }\n', ['--agent-config settings.yaml', 'logs.files: must be at least 1']],
      ['limits: { handshakeTimeoutMs: 1 }\n', ['limits.handshakeTimeoutMs: must be at least 100']],
      ['attestation: { certValidityMs: 1000 }\n', ['attestation.certValidityMs: must be at least 60000']],
      ['logLevel: loud\n', ['logLevel must be one of']],
      // Each layer is fine alone; together the agent refuses them.
      ['logs: { maxLineBytes: 1048576 }\ncontainers:\n  api: { logs: { fileBytes: 65536 } }\n', ['containers.api', 'logs.fileBytes must be at least four times logs.maxLineBytes']],
      ['containers:\n  api: { metrics: { port: } }\n', ['containers.api.metrics.port: has no value']],
      ['containers:\n  api: { logs: { files: .inf } }\n', ['containers.api.logs.files: must be a finite number']],
      ['containers:\n  API: { logLevel: debug }\n', ['containers.API: must be named CONTAINER or OBJECT/CONTAINER']],
      ['containers:\n  api: { containers: {} }\n', ['containers.api: unknown field "containers"']],
      ['containers: [api]\n', ['containers: must be a mapping']],
      ['constructor: { a: 1 }\n', ['unknown field "constructor"']],
      ['containers:\n  api: { toString: 1 }\n', ['containers.api: unknown field "toString"']],
      ['- logs\n', ['(document): must be a mapping']],
      ['logs: { files: [1\n', ['settings.yaml: not valid YAML/JSON at line']],
    ];
    for (const [text, parts] of invalid) {
      const err = expectCode(() => inject(APP(), APP_ARGS, text), 'SP_CONFIG_INVALID');
      for (const part of parts) expect(err.message, text).toContain(part);
    }
  });

  it('checks a container\'s layers together: CONTAINER, then OBJECT/CONTAINER over it', () => {
    const text = 'containers:\n  worker: { logs: { maxLineBytes: 1048576, fileBytes: 8388608 } }\n  payments-api/worker: { logs: { fileBytes: 65536 } }\n';
    const err = expectCode(() => inject(APP(), APP_ARGS, text), 'SP_CONFIG_INVALID');
    expect(err.message).toContain('containers.payments-api/worker: logs.fileBytes must be at least four times logs.maxLineBytes');
    const ok = inject(APP(), APP_ARGS, 'containers:\n  worker: { logLevel: warn }\n  payments-api/worker: { logLevel: trace }\n  nightly-report/worker: { logLevel: error }\n');
    expect(agentConfigs(podSpecs(ok.output)[0]!).get('worker')!.logLevel).toBe('trace');
    expect(ok.unusedSettings).toEqual(['nightly-report/worker']);
  });

  it('takes the log level once for every container (--log-level or the file) and per container over it', () => {
    const err = expectCode(() => inject(APP(), [...APP_ARGS, '--log-level', 'warn'], 'logLevel: debug\n'), 'SP_USAGE');
    expect(err.message).toContain('--log-level and logLevel in --agent-config settings.yaml');
    const r = inject(APP(), [...APP_ARGS, '--log-level', 'warn'], 'containers:\n  api: { logLevel: debug }\n');
    const configs = agentConfigs(podSpecs(r.output)[0]!);
    expect(configs.get('api')!.logLevel).toBe('debug');
    expect(configs.get('worker')!.logLevel).toBe('warn');
  });

  it('reports a containers: entry that matched no wrapped container', () => {
    expect(inject(APP(), APP_ARGS, 'containers:\n  migrate: { logLevel: debug }\n  other/api: { logLevel: debug }\n').unusedSettings).toEqual(['migrate', 'other/api']);
  });
});

describe('a container\'s stdinOnce', () => {
  const pod = (container: Record<string, unknown>) =>
    stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'repl', namespace: 'secure' }, spec: { containers: [{ name: 'repl', image: 'i', command: ['python3'], ...container }, { name: 'plain', image: 'i', command: ['sleep', 'infinity'] }] } });

  it('becomes the agent\'s attach.stdinOnce (close stdin when the first attached client ends it), in that container only', () => {
    for (const tty of [false, true]) {
      const r = inject([{ name: 'p.yaml', text: pod({ stdin: true, stdinOnce: true, tty }) }], []);
      const spec = podSpecs(r.output)[0]!;
      const configs = agentConfigs(spec);
      expect(configs.get('repl')!.attach).toEqual({ stdin: true, stdinOnce: true, tty });
      expect(configs.get('plain')!.attach).toEqual({ stdin: false, stdinOnce: false, tty: false });
      expect(spec.containers[0]!.command).toContain('/shadowplane/etc/containers/repl.json');
      expect(spec.containers[1]!.command).toContain('/shadowplane/etc/agent.json');
      expect(r.warnings).toEqual([]);
      expect(inject([{ name: 'p.yaml', text: r.output }], []).output).toBe(r.output);
    }
  });

  it('warns that it has no effect without stdin, as in Kubernetes, and changes nothing', () => {
    const r = inject([{ name: 'p.yaml', text: pod({ stdinOnce: true }) }], []);
    expect(r.warnings).toEqual([expect.stringContaining('container "repl": stdinOnce has no effect without stdin: true')]);
    expect(r.output).not.toContain('--container-config');
    expect(agentConfigs(podSpecs(r.output)[0]!).get('repl')!.attach.stdinOnce).toBe(false);
  });
});
