import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { refusedNodeOptions, splitNodeOptions } from '../../../src/agent/node-options.ts';

const CLI = join(import.meta.dirname, '../../../src/cli/main.ts');

describe('the agent\'s own Node options', () => {
  it('finds the options that load code, open a debugger or dump the heap, and no others', () => {
    expect(refusedNodeOptions(['--inspect', '--inspect-brk=0.0.0.0:9229', '-r', '/x.cjs', '--require=/y', '--import', 'z', '--experimental-loader=./l.mjs', '--loader', 'l', '--openssl-config=/e.cnf', '--heapsnapshot-signal=SIGUSR2', '--heapsnapshot-near-heap-limit=1', '--debug-port=1'])).toEqual([
      '--inspect', '--inspect-brk', '-r', '--require', '--import', '--experimental-loader', '--loader', '--openssl-config', '--heapsnapshot-signal', '--heapsnapshot-near-heap-limit', '--debug-port',
    ]);
    expect(refusedNodeOptions(['--max-old-space-size=192', '--max-semi-space-size=8', '--enable-source-maps', '--cpu-prof', '--requirements', '-rx'])).toEqual([]);
    expect(splitNodeOptions('--max-old-space-size=64  --require "/path with space/t.js" -r x')).toEqual(['--max-old-space-size=64', '--require', '/path with space/t.js', '-r', 'x']);
  });

  it('makes the agent refuse to start, naming the options but not their values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-node-options-'));
    const preload = join(dir, 'secret-path-instrument.cjs');
    writeFileSync(preload, '// an instrumentation preload\n');
    for (const [execArgv, nodeOptions] of [[[], `--require ${preload}`], [['--inspect=127.0.0.1:0'], undefined]] as const) {
      const r = spawnSync(process.execPath, [...execArgv, CLI, 'agent', '--config', '/nonexistent', '--', 'true'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }) },
        timeout: 30_000,
      });
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).toContain('SP_CONFIG_INVALID');
      expect(r.stderr).toMatch(/--require|--inspect/);
      expect(r.stderr).toContain('SHADOWPLANE_WORKLOAD_NODE_OPTIONS');
      expect(r.stderr).not.toContain('secret-path');
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
