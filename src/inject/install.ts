/**
 * `shadowplane inject install --from DIR --to DIR --agent-config JSON [--container-config
 * NAME=JSON...]`: the init container's step inside the pod. It copies the self-contained
 * runtime (launcher, node, libraries, bundle) from the agent image into the memory-backed
 * volume that the pod's containers mount read-only, and writes the agent configuration
 * next to it, and the configuration of each container that has one of its own (its
 * settings differ, layout.ts containerConfigPath).
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
import { AGENT_CONFIG_RELATIVE, CONTAINER_CONFIG_DIR_RELATIVE, LAUNCHER_RELATIVE } from './layout.ts';
import { DNS_LABEL } from '../config/dns-names.ts';

export const INSTALL_USAGE = `shadowplane inject install --from DIR --to DIR --agent-config JSON [--container-config NAME=JSON...]
  (the init container's step inside the pod: copies the runtime, writes the configurations)`;

/** The parts of a runtime directory that are copied. */
export const RUNTIME_ENTRIES = ['bin', 'lib', 'app'] as const;
const MAX_AGENT_CONFIG_BYTES = 1024 * 1024;

export interface InstallOptions {
  readonly from: string;
  readonly to: string;
  readonly agentConfig: string;
  /** Containers with a configuration of their own: name (a DNS label) and JSON, in order. Default none. */
  readonly containerConfigs?: ReadonlyArray<{ readonly container: string; readonly config: string }>;
}

export function parseInstallOptions(argv: readonly string[]): InstallOptions {
  const values = parseFlags(argv, { from: { type: 'string' }, to: { type: 'string' }, 'agent-config': { type: 'string' }, 'container-config': { type: 'string', multiple: true } });
  const { from, to } = values;
  const agentConfig = values['agent-config'];
  if (from === undefined || to === undefined || agentConfig === undefined) throw new ShadowplaneError('SP_USAGE', 'install needs --from DIR --to DIR --agent-config JSON');
  const containerConfigs = (values['container-config'] ?? []).map((text) => {
    const eq = text.indexOf('=');
    const container = eq === -1 ? '' : text.slice(0, eq);
    // The name becomes a file name: a DNS label has no `/` and no `..`.
    if (!DNS_LABEL.test(container)) throw new ShadowplaneError('SP_USAGE', '--container-config must be NAME=JSON with NAME a container name (a DNS label)');
    return { container, config: text.slice(eq + 1) };
  });
  if (new Set(containerConfigs.map((c) => c.container)).size !== containerConfigs.length) throw new ShadowplaneError('SP_USAGE', '--container-config names a container twice');
  return { from, to, agentConfig, containerConfigs };
}

function failed(step: string, err: unknown): never {
  throw new ShadowplaneError('SP_INSTALL_FAILED', `${step} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
}

export interface InstallResult {
  readonly configSha256: string;
  /** The SHA-256 of each container's own configuration, in the order given. */
  readonly containerConfigSha256: ReadonlyArray<{ readonly container: string; readonly sha256: string }>;
}

/** Refuses a configuration that is not a JSON object of at most 1 MiB (`what` names it). */
function checkConfig(text: string, what: string): void {
  if (Buffer.byteLength(text, 'utf8') > MAX_AGENT_CONFIG_BYTES) throw new ShadowplaneError('SP_INSTALL_FAILED', `${what} is larger than 1 MiB`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new ShadowplaneError('SP_INSTALL_FAILED', `${what} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ShadowplaneError('SP_INSTALL_FAILED', `${what} is not a JSON object`);
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Writes `text` at `path`, read-only, replacing what an earlier run left. */
function writeConfig(path: string, text: string): void {
  if (existsSync(path)) unlinkSync(path);
  writeFileSync(path, text, { mode: 0o444 });
  chmodSync(path, 0o444);
}

/** Copies the runtime and writes etc/agent.json (and etc/containers/NAME.json). */
export function installRuntime(options: InstallOptions): InstallResult {
  checkConfig(options.agentConfig, 'the agent configuration');
  const own = options.containerConfigs ?? [];
  for (const c of own) checkConfig(c.config, `the agent configuration of container ${c.container}`);
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
  try {
    mkdirSync(join(options.to, 'etc'), { recursive: true, mode: 0o755 });
    writeConfig(join(options.to, AGENT_CONFIG_RELATIVE), options.agentConfig);
    if (own.length > 0) mkdirSync(join(options.to, CONTAINER_CONFIG_DIR_RELATIVE), { recursive: true, mode: 0o755 });
    for (const c of own) writeConfig(join(options.to, CONTAINER_CONFIG_DIR_RELATIVE, `${c.container}.json`), c.config);
  } catch (err) {
    failed('writing the agent configuration', err);
  }
  try {
    if ((statSync(join(options.to, LAUNCHER_RELATIVE)).mode & 0o111) === 0) throw new ShadowplaneError('SP_INSTALL_FAILED', 'the launcher is not executable');
  } catch (err) {
    if (err instanceof ShadowplaneError) throw err;
    failed('checking the launcher', err);
  }
  return { configSha256: sha256(options.agentConfig), containerConfigSha256: own.map((c) => ({ container: c.container, sha256: sha256(c.config) })) };
}
