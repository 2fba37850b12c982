/**
 * `shadowplane inject --agent-config FILE` as a process: the owner's settings reach the
 * files the init container writes in the pod, which the agent loads; what inject pins and
 * what the agent would refuse stop the command before anything is written.
 *
 * Regression (operator review): docs/errors.md (SP_METRICS_NOT_CONFIGURED) and
 * docs/metrics.md told operators to set `metrics.port` in the agent configuration, but
 * inject generated that configuration with no way to set it (nor `logs.*`, `limits.*`,
 * `attach.stdinOnce`), and a container's `stdinOnce: true` was silently ignored.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../../../src/config/agent-config.ts';
import { INJECT_BASE, runCli } from '../../support/inject-cli.ts';

const BASE = INJECT_BASE;
const run = runCli;

const dir = mkdtempSync(join(tmpdir(), 'sp-inject-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: secure}
spec:
  containers:
  - name: app
    image: registry.example/app:1
    command: [/app]
  - name: repl
    image: registry.example/repl:1
    command: [python3]
    stdin: true
    stdinOnce: true
    tty: true
  - name: plain
    image: registry.example/plain:1
    command: [sleep, infinity]
`;
const podPath = join(dir, 'pod.yaml');
writeFileSync(podPath, POD);

function settingsFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const SETTINGS = settingsFile('settings.yaml', 'limits: { maxConcurrentOperations: 256 }\ncontainers:\n  app:\n    metrics: { port: 9102, path: /stats }\n    logs: { memoryBytes: 1048576 }\n');

interface Container {
  name: string;
  command: string[];
}

describe('shadowplane inject --agent-config (command)', () => {
  it('writes settings that the install step puts where each container\'s agent reads them, and the agent loads', () => {
    const r = run([...BASE, '-f', podPath, '--agent-config', SETTINGS]);
    expect(r.status, r.stderr).toBe(0);
    const spec = (parseAllDocuments(r.stdout)[0]!.toJS() as { spec: { initContainers: Container[]; containers: Container[] } }).spec;
    const install = spec.initContainers[0]!;
    expect(install.name).toBe('shadowplane-install');

    // The init container's step, as the pod runs it, into a stand-in of the runtime volume.
    const from = join(dir, 'opt');
    const to = join(dir, 'vol');
    for (const d of ['bin', 'lib', 'app']) mkdirSync(join(from, d), { recursive: true });
    writeFileSync(join(from, 'bin', 'shadowplane'), 'launcher', { mode: 0o755 });
    mkdirSync(to);
    const args = install.command.slice(1);
    args[args.indexOf('--from') + 1] = from;
    args[args.indexOf('--to') + 1] = to;
    const installed = run(args);
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toMatch(/^shadowplane: agent runtime installed; agent configuration sha256:[0-9a-f]{64}; container app configuration sha256:[0-9a-f]{64}; container repl configuration sha256:[0-9a-f]{64}\n$/);

    const load = (c: Container) =>
      loadAgentConfig({
        argv: c.command.slice(2),
        env: { POD_NAME: 'web', POD_NAMESPACE: 'secure', POD_IP: '10.1.2.3' },
        cwd: '/',
        readFile: (path) => readFileSync(join(to, path.slice('/shadowplane/'.length))),
      });
    const [app, repl, plain] = spec.containers.map(load);
    expect(app!.metrics).toEqual({ port: 9102, path: '/stats' });
    expect(app!.logs.memoryBytes).toBe(1048576);
    expect(repl!.attach).toEqual({ stdin: true, stdinOnce: true, tty: true });
    expect(repl!.metrics.port).toBeNull();
    expect(plain!.attach.stdinOnce).toBe(false);
    for (const c of [app!, repl!, plain!]) {
      expect(c.limits.maxConcurrentOperations).toBe(256);
      expect(c.proxy.allowedManifestDigests).toEqual(['5555555555555555555555555555555555555555555555555555555555555555']);
      expect(c.listen.port).toBe(15443);
    }
    expect(spec.containers[2]!.command).toContain('/shadowplane/etc/agent.json');
  });

  it('gives the same bytes for the same inputs, and changes nothing when run on its own output', () => {
    const once = run([...BASE, '-f', podPath, '--agent-config', SETTINGS]);
    const again = run([...BASE, '-f', podPath, '--agent-config', SETTINGS]);
    expect(once.status).toBe(0);
    expect(again.stdout).toBe(once.stdout);
    const reinjected = run([...BASE, '-f', '-', '--agent-config', SETTINGS], once.stdout);
    expect(reinjected.status, reinjected.stderr).toBe(0);
    expect(reinjected.stdout).toBe(once.stdout);
  });

  it('refuses a key inject pins (exit 2, SP_USAGE naming the field) and writes no output', () => {
    const out = join(dir, 'pinned-out.yaml');
    const path = settingsFile('pinned.yaml', 'containers:\n  app:\n    proxy: { allowedManifestDigests: [] }\n');
    const r = run([...BASE, '-f', podPath, '--agent-config', path, '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`shadowplane: SP_USAGE: the command line is not valid: --agent-config ${path}: containers.app.proxy is pinned by inject and cannot be set here (the proxy the agents trust: --proxy-reference-values, --manifest, --manifest-digest, --manifest-signer, --crl-configmap, --require-crls, --allow-simulated-proxy)\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a value the agent would refuse, or a typo (exit 1, SP_CONFIG_INVALID naming the field), and writes no output', () => {
    const out = join(dir, 'invalid-out.yaml');
    const range = settingsFile('range.yaml', 'containers:\n  app:\n    metrics: { port: 70000 }\n');
    const r = run([...BASE, '-f', podPath, '--agent-config', range, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`shadowplane: SP_CONFIG_INVALID: a configuration value is invalid: --agent-config ${range}, containers.app: metrics.port: must be at most 65535\n`);
    const typo = settingsFile('typo.yaml', 'metrics: { prot: 9102 }\n');
    const t = run([...BASE, '-f', podPath, '--agent-config', typo, '-o', out]);
    expect(t.status).toBe(1);
    expect(t.stderr).toBe(`shadowplane: SP_CONFIG_INVALID: a configuration value is invalid: --agent-config ${typo}: metrics: unknown field "prot" (allowed: port, path)\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('reads the file within its bound: a device or a file over 64 KiB is refused while reading', () => {
    const device = run([...BASE, '-f', podPath, '--agent-config', '/dev/zero']);
    expect(device.status).toBe(2);
    expect(device.stderr).toContain('SP_USAGE: the command line is not valid: --agent-config /dev/zero: not a regular file');
    const big = settingsFile('big.yaml', `# ${'x'.repeat(64 * 1024)}\n`);
    expect(run([...BASE, '-f', podPath, '--agent-config', big]).stderr).toContain(`--agent-config ${big}: larger than 65536 bytes`);
  });

  it('warns about a containers: entry that matched no wrapped container, and about stdinOnce without stdin', () => {
    const path = settingsFile('unused.yaml', 'containers:\n  other: { logLevel: debug }\n');
    const pod = POD.replace('    stdin: true\n', '');
    const r = run([...BASE, '-f', '-', '--agent-config', path], pod);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('shadowplane inject: warning: --agent-config: containers.other matched no wrapped container');
    expect(r.stderr).toContain('container "repl": stdinOnce has no effect without stdin: true');
  });
});
