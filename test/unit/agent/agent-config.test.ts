import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_DEFAULTS, loadAgentConfig, type AgentConfigSources } from '../../../src/config/agent-config.ts';
import { codeOf } from '../../support/testing.ts';

const ENV = { POD_NAMESPACE: 'payments', POD_NAME: 'api-7d9f', PATH: '/bin' };

function load(argv: string[], env: Record<string, string> = ENV, file?: string): ReturnType<typeof loadAgentConfig> {
  const sources: AgentConfigSources = { argv, env, cwd: '/srv', readFile: () => Buffer.from(file ?? '') };
  return loadAgentConfig(sources);
}


describe('agent configuration', () => {
  it('says where a configuration file is not valid YAML, without quoting it', () => {
    let message = '';
    try {
      load(['--config', '/c.yaml', '--container', 'app', '--', 'x'], ENV, 'logs:\n  dir: /x\n bad: [hunter2\n');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('configuration file is not valid YAML or JSON at line 3, column 1 (BAD_INDENT)');
    expect(message).not.toContain('hunter2');
  });

  it('applies the documented defaults', () => {
    const config = load(['--container', 'app', '--', 'server', '--flag']);
    expect(config).toMatchObject({
      pod: { namespace: 'payments', name: 'api-7d9f' },
      container: 'app',
      listen: { address: '0.0.0.0', port: 15443 },
      shareDir: '/run/shadowplane/share',
      logs: { dir: '/run/shadowplane/logs/app', memoryBytes: 16 << 20, fileBytes: 8 << 20, files: 2, maxLineBytes: 16384, requireMemoryBacked: true },
      attach: { stdin: false, stdinOnce: false },
      proxy: { referenceValues: null, referenceValuesFile: null, allowedManifestDigests: [], manifestSigners: [], allowSimulated: false, crlFiles: [], requireCrls: false },
      attestation: { tee: 'auto', simulatedDir: null, simulatedMeasurement: null, certValidityMs: 86_400_000 },
      metrics: { port: null, path: '/metrics' },
      limits: { maxConcurrentOperations: 2048, handshakeTimeoutMs: 10_000, verifyTimeoutMs: 10_000 },
      workload: { command: 'server', args: ['--flag'], cwd: '/srv' },
      logLevel: 'info',
    });
    expect(Object.isFrozen(config.logs)).toBe(true);
    expect(Object.isFrozen(config.workload.args)).toBe(true);
  });

  it('takes the pod address from the downward API and keeps SHADOWPLANE_* out of the workload environment', () => {
    const config = load(['--', 'server'], { ...ENV, POD_IP: '10.1.2.3', SHADOWPLANE_CONTAINER: 'web', SHADOWPLANE_LOG_LEVEL: 'debug', APP_MODE: 'x' });
    expect(config.listen.address).toBe('10.1.2.3');
    expect(config.container).toBe('web');
    expect(config.logLevel).toBe('debug');
    expect(config.workload.env).toEqual({ POD_NAMESPACE: 'payments', POD_NAME: 'api-7d9f', PATH: '/bin', POD_IP: '10.1.2.3', APP_MODE: 'x' });
  });

  it("gives the workload back the NODE_OPTIONS, LD_PRELOAD and LD_AUDIT the runtime's launcher moved aside", () => {
    const config = load(['--', 'server'], { ...ENV, POD_IP: '10.1.2.3', SHADOWPLANE_CONTAINER: 'web', SHADOWPLANE_WORKLOAD_NODE_OPTIONS: '--max-old-space-size=512', SHADOWPLANE_WORKLOAD_LD_PRELOAD: '/lib/libjemalloc.so.2', SHADOWPLANE_WORKLOAD_LD_AUDIT: '/lib/audit.so' });
    expect(config.workload.env['NODE_OPTIONS']).toBe('--max-old-space-size=512');
    expect(config.workload.env['LD_PRELOAD']).toBe('/lib/libjemalloc.so.2');
    expect(config.workload.env['LD_AUDIT']).toBe('/lib/audit.so');
    expect(Object.keys(config.workload.env).filter((k) => k.startsWith('SHADOWPLANE_'))).toEqual([]);
  });

  it('reads a YAML file, and flags win over it', () => {
    const file = [
      'container: app',
      'listen: { port: 16000 }',
      'logs: { memoryBytes: 1048576 }',
      'attach: { stdin: true, stdinOnce: true }',
      'proxy:',
      '  referenceValues: { version: 1, entries: [] }',
      `  allowedManifestDigests: [ ${'a'.repeat(64)} ]`,
      'attestation: { tee: simulated, simulatedDir: /sim }',
    ].join('\n');
    const config = load(['--config', '/etc/agent.yaml', '--port', '17000', '--', 'server'], ENV, file);
    expect(config.listen.port).toBe(17000);
    expect(config.logs.memoryBytes).toBe(1048576);
    expect(config.attach).toEqual({ stdin: true, stdinOnce: true, tty: false });
    expect(config.proxy.referenceValues).toEqual({ version: 1, entries: [] });
    expect(config.proxy.allowedManifestDigests).toEqual(['a'.repeat(64)]);
    expect(config.attestation).toMatchObject({ tee: 'simulated', simulatedDir: '/sim' });
  });

  it('reads the CRL files the agent applies to the proxy\'s chain, and whether it requires CRLs', () => {
    const file = ['container: app', 'proxy:', '  crlFiles: [ /etc/shadowplane/crl/amd-milan.crl, /etc/shadowplane/crl/intel-root.pem ]', '  requireCrls: true'].join('\n');
    const config = load(['--config', '/etc/agent.yaml', '--', 'server'], ENV, file);
    expect(config.proxy).toMatchObject({ crlFiles: ['/etc/shadowplane/crl/amd-milan.crl', '/etc/shadowplane/crl/intel-root.pem'], requireCrls: true });
    expect(Object.isFrozen(config.proxy.crlFiles)).toBe(true);
    const tooMany = `container: app\nproxy: { crlFiles: [ ${Array.from({ length: 17 }, (_, i) => `/c${i}`).join(', ')} ] }`;
    expect(codeOf(() => load(['--config', 'f', '--', 'x'], ENV, tooMany))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--', 'x'], ENV, 'container: app\nproxy: { requireCrls: yes please }'))).toBe('SP_CONFIG_INVALID');
  });

  it('refuses what it cannot use', () => {
    expect(codeOf(() => load(['--container', 'app']))).toBe('SP_USAGE');
    expect(codeOf(() => load(['--container', 'app', '--']))).toBe('SP_USAGE');
    expect(codeOf(() => load(['--bogus', '--', 'x']))).toBe('SP_USAGE');
    expect(codeOf(() => load(['--', 'x']))).toBe('SP_CONFIG_INVALID'); // no container
    expect(codeOf(() => load(['--container', 'App', '--', 'x']))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--container', 'app', '--', 'x'], { POD_NAME: 'p' }))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--container', 'app', '--listen-address', 'pod.local', '--', 'x']))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--container', 'app', '--port', '70000', '--', 'x']))).toBe('SP_USAGE');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'lgos: {}'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'logs: { fileBytes: 65536, maxLineBytes: 65536 }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'proxy: { referenceValues: [1], }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'proxy: { referenceValuesFile: /a, referenceValues: {} }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'proxy: { allowedManifestDigests: [ABC] }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'proxy: { manifestSigners: [ { publicKey: nonsense } ] }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, 'proxy: { manifestSigners: [ { key: x } ] }'))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--container', 'app', '--tee', 'simulated', '--', 'x']))).toBe('SP_CONFIG_INVALID');
    expect(codeOf(() => load(['--config', 'f', '--container', 'app', '--', 'x'], ENV, '{ not yaml'))).toBe('SP_CONFIG_INVALID');
  });

  it('documents every default in docs/agent.md', () => {
    const doc = readFileSync(new URL('../../../docs/agent.md', import.meta.url), 'utf8');
    for (const value of Object.values(AGENT_DEFAULTS)) expect(doc).toContain(`\`${String(value)}`);
  });
});
