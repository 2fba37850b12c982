/** The real `shadowplane inject` as a child process, with the test fixtures' pinned inputs. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI, REPO } from './bed.ts';

export const INJECT_FIXTURES = join(REPO, 'test/fixtures/inject');

/** `inject` with an agent image, proxy reference values and a manifest digest: the options every run needs. */
export const INJECT_BASE: readonly string[] = [
  'inject',
  '--agent-image', 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444',
  '--proxy-reference-values', join(INJECT_FIXTURES, 'proxy-reference-values.yaml'),
  '--manifest-digest', '5555555555555555555555555555555555555555555555555555555555555555',
];

/** Runs the CLI with `args` (and `input` on stdin) under a bare environment. */
export const runCli = (args: readonly string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env['PATH'] ?? '' } });
