import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { refusedNodeOptions, splitNodeOptions } from '../../../src/agent/node-options.ts';

const CLI = join(import.meta.dirname, '../../../src/cli/main.ts');

describe('the agent\'s own Node options', () => {
  it('finds the options that load code, open a debugger or dump the heap, and no others', () => {
    expect(refusedNodeOptions(['--inspect', '--inspect-brk=0.0.0.0:9229', '-r', '/x.cjs', '--require=/y', '--import', 'z', '--experimental-loader=./l.mjs', '--loader', 'l', '--openssl-config=/e.cnf', '--heapsnapshot-signal=SIGUSR2', '--heapsnapshot-near-heap-limit=1', '--inspect-wait'])).toEqual([
      '--inspect', '--inspect-brk', '-r', '--require', '--import', '--experimental-loader', '--loader', '--openssl-config', '--heapsnapshot-signal', '--heapsnapshot-near-heap-limit', '--inspect-wait',
    ]);
    expect(refusedNodeOptions(['--max-old-space-size=192', '--max-semi-space-size=8', '--enable-source-maps', '--cpu-prof', '--require-module', '--inspect-port=0', '--debug-port=1', '--debug-arraybuffer-allocations'])).toEqual([]);
    expect(refusedNodeOptions(['--snapshot-blob', 'x.blob', '--report-on-signal', '--abort_on_uncaught_exception', '--openssl-shared-config'])).toEqual(['--snapshot-blob', '--report-on-signal', '--abort-on-uncaught-exception', '--openssl-shared-config']);
    expect(splitNodeOptions('--max-old-space-size=64  --require "/path with space/t.js" -r x')).toEqual(['--max-old-space-size=64', '--require', '/path with space/t.js', '-r', 'x']);
    // Quotes anywhere are removed and backslashes inside them escape, as Node reads NODE_OPTIONS.
    for (const spelled of ['--req"uire"=/x.cjs', '"--req"uire=/x', '"--requ\\ire=/x"', '-"r" /x']) {
      expect(refusedNodeOptions(splitNodeOptions(spelled)), spelled).toEqual([spelled.includes('-"r"') ? '-r' : '--require']);
    }
  });

  it('makes the agent refuse to start, naming the options but not their values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-node-options-'));
    const preload = join(dir, 'secret-path-instrument.cjs');
    writeFileSync(preload, '// an instrumentation preload\n');
    for (const [execArgv, nodeOptions] of [[[], `--require ${preload}`], [[], `--req"uire"=${preload}`], [['--inspect=127.0.0.1:0'], undefined]] as const) {
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
