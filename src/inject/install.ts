/**
 * `shadowplane inject install --from DIR --to DIR --agent-config JSON`: the init
 * container's step inside the pod. It copies the self-contained runtime (launcher, node,
 * libraries, bundle) from the agent image into the memory-backed volume that the pod's
 * containers mount read-only, and writes the agent configuration next to it.
 *
 * The configuration arrives as a command argument because the pod's policy pins every
 * container's arguments: what lands in etc/agent.json is exactly what the owner
 * injected. The volume is an emptyDir with medium Memory, so it lives in the TEE's
 * memory; the host never sees or changes it.
 *
 * Runs again after a pod restart (init containers do): it replaces what is there.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseFlags } from '../config/flags.ts';
import { ShadowplaneError } from '../errors.ts';
import { AGENT_CONFIG_RELATIVE, LAUNCHER_RELATIVE } from './layout.ts';

export const INSTALL_USAGE = `shadowplane inject install --from DIR --to DIR --agent-config JSON
  (the init container's step inside the pod: copies the runtime, writes the configuration)`;

/** The parts of a runtime directory that are copied. */
export const RUNTIME_ENTRIES = ['bin', 'lib', 'app'] as const;
const MAX_AGENT_CONFIG_BYTES = 1024 * 1024;

export interface InstallOptions {
  readonly from: string;
  readonly to: string;
  readonly agentConfig: string;
}

export function parseInstallOptions(argv: readonly string[]): InstallOptions {
  const values = parseFlags(argv, { from: { type: 'string' }, to: { type: 'string' }, 'agent-config': { type: 'string' } });
  const { from, to } = values;
  const agentConfig = values['agent-config'];
  if (from === undefined || to === undefined || agentConfig === undefined) throw new ShadowplaneError('SP_USAGE', 'install needs --from DIR --to DIR --agent-config JSON');
  return { from, to, agentConfig };
}

function failed(step: string, err: unknown): never {
  throw new ShadowplaneError('SP_INSTALL_FAILED', `${step} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
}

export interface InstallResult {
  readonly configSha256: string;
}

/** Copies the runtime and writes etc/agent.json. */
export function installRuntime(options: InstallOptions): InstallResult {
  if (Buffer.byteLength(options.agentConfig, 'utf8') > MAX_AGENT_CONFIG_BYTES) throw new ShadowplaneError('SP_INSTALL_FAILED', 'the agent configuration is larger than 1 MiB');
  let parsed: unknown;
  try {
    parsed = JSON.parse(options.agentConfig) as unknown;
  } catch {
    throw new ShadowplaneError('SP_INSTALL_FAILED', 'the agent configuration is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ShadowplaneError('SP_INSTALL_FAILED', 'the agent configuration is not a JSON object');
  for (const entry of RUNTIME_ENTRIES) {
    if (!existsSync(join(options.from, entry))) throw new ShadowplaneError('SP_INSTALL_FAILED', `the runtime directory has no ${entry}/`);
  }
  for (const entry of [...RUNTIME_ENTRIES, 'etc']) {
    try {
      rmSync(join(options.to, entry), { recursive: true, force: true });
    } catch (err) {
      failed(`clearing ${entry}/`, err);
    }
  }
  for (const entry of RUNTIME_ENTRIES) {
    try {
      cpSync(join(options.from, entry), join(options.to, entry), { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
    } catch (err) {
      failed(`copying ${entry}/`, err);
    }
  }
  const configPath = join(options.to, AGENT_CONFIG_RELATIVE);
  try {
    mkdirSync(join(options.to, 'etc'), { recursive: true, mode: 0o755 });
    if (existsSync(configPath)) unlinkSync(configPath);
    writeFileSync(configPath, options.agentConfig, { mode: 0o444 });
    chmodSync(configPath, 0o444);
  } catch (err) {
    failed('writing the agent configuration', err);
  }
  try {
    if ((statSync(join(options.to, LAUNCHER_RELATIVE)).mode & 0o111) === 0) throw new ShadowplaneError('SP_INSTALL_FAILED', 'the launcher is not executable');
  } catch (err) {
    if (err instanceof ShadowplaneError) throw err;
    failed('checking the launcher', err);
  }
  return { configSha256: createHash('sha256').update(options.agentConfig, 'utf8').digest('hex') };
}
