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
 * The text is deterministic: keys in a fixed order, reference values as given (after
 * validation), two-space JSON.
 */
import { parseReferenceValues } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import { SHARE_DIR } from './layout.ts';

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
  const doc: Record<string, unknown> = {
    listen: { port: input.port },
    shareDir: SHARE_DIR,
    proxy,
    attestation,
  };
  if (input.logLevel !== undefined) doc['logLevel'] = input.logLevel;
  return doc;
}

/** The text written to etc/agent.json: JSON, two-space indented, trailing newline. */
export function agentConfigText(input: AgentConfigInput): string {
  return `${JSON.stringify(agentConfigDocument(input), null, 2)}\n`;
}
