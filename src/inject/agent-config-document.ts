/**
 * The agent configuration that inject pins into every injected pod.
 *
 * It is carried as one argument of the install init container's command, which the
 * pod's CoCo policy pins byte for byte (genpolicy records every container's args), and
 * the install step writes it to a memory-backed volume inside the TEE. So the proxy's
 * reference values and the manifest digests or owner keys the agents accept are part of the pod's
 * measured identity: change them and the policy digest (SNP HOST_DATA, TDX MRCONFIGID)
 * changes with them.
 *
 * The text is deterministic: keys in a fixed order (the agent's sections in its own
 * order, the owner's settings in agent-settings.ts order, whatever order the owner's file
 * had), reference values as given (after validation), two-space JSON.
 *
 * Every document inject writes is first loaded by the agent's own configuration loader
 * (checkAgentConfigText), so a value the agent would refuse fails on the owner's machine.
 */
import { parseReferenceValues } from '../attestation/index.ts';
import { loadAgentConfig } from '../config/agent-config.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { AgentSettings } from './agent-settings.ts';
import { AGENT_CONFIG_PATH, SHARE_DIR } from './layout.ts';

export type InjectTee = 'auto' | 'sev-snp' | 'tdx' | 'simulated';

export interface AgentConfigInput {
  /** The proxy's reference values document (plain JSON values, already parsed). */
  readonly proxyReferenceValues: unknown;
  /** Manifest digests (64 lower-case hex) the proxy's evidence may bind. */
  readonly allowedManifestDigests: readonly string[];
  /** Owner keys (PEM) whose signed manifests the agents accept; with no digest either, any manifest. */
  readonly manifestSigners: ReadonlyArray<{ readonly publicKey: string; readonly minimumSerial: number }>;
  readonly port: number;
  readonly tee: InjectTee;
  /** Only with tee `simulated` (development). */
  readonly simulatedDir: string | undefined;
  /** Accept a proxy with simulated evidence (development only). */
  readonly allowSimulatedProxy: boolean;
  readonly logLevel: string | undefined;
  /** Paths of CRL files in the pod the agent applies to the proxy's chain (`proxy.crlFiles`). */
  readonly crlFiles: readonly string[];
  /** Refuse a proxy without a current CRL from each CRL issuer (`proxy.requireCrls`). */
  readonly requireCrls: boolean;
  /** The owner's settings (`--agent-config`, agent-settings.ts); their `logLevel` is over `logLevel`. */
  readonly settings: AgentSettings;
  /** `attach.stdinOnce`: the container's `stdinOnce` (with `stdin`) in the pod spec. */
  readonly stdinOnce: boolean;
}

/** The configuration document as plain values, in the order it is written. */
export function agentConfigDocument(input: AgentConfigInput): Record<string, unknown> {
  // Validate now, on the owner's machine: an agent that refuses its configuration at
  // start would only show up as a crash-looping pod.
  parseReferenceValues(input.proxyReferenceValues, '--proxy-reference-values');
  for (const d of input.allowedManifestDigests) {
    if (!/^[0-9a-f]{64}$/.test(d)) throw new ShadowplaneError('SP_USAGE', 'a manifest digest must be 64 lower-case hex digits');
  }
  if (input.tee === 'simulated' && input.simulatedDir === undefined) {
    throw new ShadowplaneError('SP_USAGE', '--tee simulated needs --simulated-dir (development only)');
  }
  const proxy: Record<string, unknown> = {
    referenceValues: input.proxyReferenceValues,
    allowedManifestDigests: [...new Set(input.allowedManifestDigests)].sort(),
  };
  if (input.manifestSigners.length > 0) proxy['manifestSigners'] = input.manifestSigners.map((s) => ({ publicKey: s.publicKey, minimumSerial: s.minimumSerial }));
  if (input.allowSimulatedProxy) proxy['allowSimulated'] = true;
  if (input.crlFiles.length > 0) proxy['crlFiles'] = [...input.crlFiles];
  if (input.requireCrls) proxy['requireCrls'] = true;
  const attestation: Record<string, unknown> = { tee: input.tee };
  if (input.simulatedDir !== undefined) attestation['simulatedDir'] = input.simulatedDir;
  const { settings } = input;
  // The agent's order of sections (FILE_KEYS in src/config/agent-config.ts); a section
  // only when something is set in it, so that a configuration without settings is the
  // same bytes as before there were any.
  const doc: Record<string, unknown> = { listen: { port: input.port }, shareDir: SHARE_DIR };
  if (settings.logs !== undefined) doc['logs'] = { ...settings.logs };
  if (input.stdinOnce) doc['attach'] = { stdinOnce: true };
  doc['proxy'] = proxy;
  doc['attestation'] = { ...attestation, ...settings.attestation };
  if (settings.metrics !== undefined) doc['metrics'] = { ...settings.metrics };
  if (settings.limits !== undefined) doc['limits'] = { ...settings.limits };
  const logLevel = settings.logLevel ?? input.logLevel;
  if (logLevel !== undefined) doc['logLevel'] = logLevel;
  return doc;
}

/** The text written to etc/agent.json: JSON, two-space indented, trailing newline. */
export function agentConfigText(input: AgentConfigInput): string {
  return `${JSON.stringify(agentConfigDocument(input), null, 2)}\n`;
}

/**
 * Refuses `text` (SP_CONFIG_INVALID, after `where`) unless the agent loads it: the agent's
 * own loader (src/config/agent-config.ts), given the document as the agent of `container`
 * reads it in the pod. Its messages name the field (`metrics.port: must be at most
 * 65535`); the pod identity is a stand-in (the downward API gives it in the pod).
 */
export function checkAgentConfigText(text: string, container: string, where: string): void {
  try {
    loadAgentConfig({
      argv: ['--config', AGENT_CONFIG_PATH, '--container', container, '--', 'true'],
      env: { POD_NAMESPACE: 'inject-check', POD_NAME: 'inject-check' },
      cwd: '/',
      readFile: () => Buffer.from(text, 'utf8'),
    });
  } catch (err) {
    if (isShadowplaneError(err)) throw new ShadowplaneError('SP_CONFIG_INVALID', `${where}: ${err.detail ?? err.message}`, { cause: err });
    throw err;
  }
}
