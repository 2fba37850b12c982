import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { installRuntime, parseInstallOptions } from '../../../src/inject/install.ts';

describe('shadowplane inject install (the init container step)', () => {
  let dir: string;
  let from: string;
  let to: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-install-'));
    from = join(dir, 'opt');
    to = join(dir, 'vol');
    mkdirSync(join(from, 'bin'), { recursive: true });
    mkdirSync(join(from, 'lib'), { recursive: true });
    mkdirSync(join(from, 'app', 'dist'), { recursive: true });
    writeFileSync(join(from, 'bin', 'shadowplane'), 'launcher', { mode: 0o755 });
    writeFileSync(join(from, 'lib', 'libc.so.6'), 'lib', { mode: 0o644 });
    writeFileSync(join(from, 'app', 'dist', 'main.mjs'), 'bundle', { mode: 0o644 });
    mkdirSync(to);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const expectCode = (fn: () => unknown, code: string): void => {
    let thrown: unknown;
    try {
      fn();
    } catch (err) {
      thrown = err;
    }
    expect(isShadowplaneError(thrown) ? thrown.code : thrown).toBe(code);
  };

  it('copies the runtime with its modes and writes the configuration read-only', () => {
    const config = '{"listen":{"port":15443}}\n';
    const r = installRuntime({ from, to, agentConfig: config });
    expect(r.configSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(to, 'bin', 'shadowplane'), 'utf8')).toBe('launcher');
    expect(statSync(join(to, 'bin', 'shadowplane')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(to, 'app', 'dist', 'main.mjs'), 'utf8')).toBe('bundle');
    expect(readFileSync(join(to, 'etc', 'agent.json'), 'utf8')).toBe(config);
    expect(statSync(join(to, 'etc', 'agent.json')).mode & 0o777).toBe(0o444);
  });

  it('replaces an earlier installation (the init container runs again after a pod restart)', () => {
    installRuntime({ from, to, agentConfig: '{"a":1}' });
    writeFileSync(join(to, 'lib', 'stale.so'), 'x');
    installRuntime({ from, to, agentConfig: '{"a":2}' });
    expect(() => statSync(join(to, 'lib', 'stale.so'))).toThrow();
    expect(readFileSync(join(to, 'etc', 'agent.json'), 'utf8')).toBe('{"a":2}');
  });

  it('refuses a configuration that is not a JSON object, or too large', () => {
    expectCode(() => installRuntime({ from, to, agentConfig: 'not json' }), 'SP_INSTALL_FAILED');
    expectCode(() => installRuntime({ from, to, agentConfig: '[1]' }), 'SP_INSTALL_FAILED');
    expectCode(() => installRuntime({ from, to, agentConfig: `{"a":"${'x'.repeat(1024 * 1024)}"}` }), 'SP_INSTALL_FAILED');
  });

  it('refuses a runtime directory without its parts, or without an executable launcher', () => {
    rmSync(join(from, 'lib'), { recursive: true });
    expectCode(() => installRuntime({ from, to, agentConfig: '{}' }), 'SP_INSTALL_FAILED');
    mkdirSync(join(from, 'lib'));
    chmodSync(join(from, 'bin', 'shadowplane'), 0o644);
    expectCode(() => installRuntime({ from, to, agentConfig: '{}' }), 'SP_INSTALL_FAILED');
  });

  it('writes each container\'s own configuration read-only under etc/containers, and replaces what an earlier run left', () => {
    const options = parseInstallOptions(['--from', from, '--to', to, '--agent-config', '{"a":1}', '--container-config', 'api={"a":2}', '--container-config', 'repl={"a":3}']);
    const r = installRuntime(options);
    expect(readFileSync(join(to, 'etc', 'containers', 'api.json'), 'utf8')).toBe('{"a":2}');
    expect(readFileSync(join(to, 'etc', 'containers', 'repl.json'), 'utf8')).toBe('{"a":3}');
    expect(statSync(join(to, 'etc', 'containers', 'api.json')).mode & 0o777).toBe(0o444);
    expect(r.containerConfigSha256.map((c) => c.container)).toEqual(['api', 'repl']);
    installRuntime({ from, to, agentConfig: '{"a":1}' });
    expect(() => statSync(join(to, 'etc', 'containers', 'api.json'))).toThrow();
  });

  it('refuses a container configuration with a name that is not a container name, given twice, or not a JSON object', () => {
    const base = ['--from', from, '--to', to, '--agent-config', '{}'];
    for (const bad of ['{"a":1}', '../x={"a":1}', 'a/b={}', 'API={}', '={}']) expectCode(() => parseInstallOptions([...base, '--container-config', bad]), 'SP_USAGE');
    expectCode(() => parseInstallOptions([...base, '--container-config', 'a={}', '--container-config', 'a={}']), 'SP_USAGE');
    expectCode(() => installRuntime(parseInstallOptions([...base, '--container-config', 'a=[1]'])), 'SP_INSTALL_FAILED');
    expectCode(() => installRuntime(parseInstallOptions([...base, '--container-config', 'a=nope'])), 'SP_INSTALL_FAILED');
  });

  it('needs --from, --to and --agent-config', () => {
    expect(parseInstallOptions(['--from', '/a', '--to', '/b', '--agent-config', '{}'])).toEqual({ from: '/a', to: '/b', agentConfig: '{}', containerConfigs: [] });
    expectCode(() => parseInstallOptions(['--from', '/a']), 'SP_USAGE');
    expectCode(() => parseInstallOptions(['--bogus']), 'SP_USAGE');
  });
});
