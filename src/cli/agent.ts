/**
 * `shadowplane agent [options] -- COMMAND [ARGS...]`: the confidential container's
 * entrypoint wrapper. Wiring only: configuration (src/config/agent-config.ts), the agent's
 * own evidence and RA-TLS credentials, the proxy verifier, then the agent itself.
 *
 * The agent exits with the workload's exit code (128+signal when a signal ended it).
 */
import {
  createVerificationCache,
  loadReferenceValues,
  parseReferenceValues,
  revocationWarnings,
  referenceValuesWarnings,
  watchRevocationFiles,
  type AttestedCertificateResult,
  type ReferenceValues,
} from '../attestation/index.ts';
import { startRenewingCredentials } from '../channel/attested-credentials.ts';
import { agentClaims, raTlsProxyVerifier } from '../channel/ra-tls-trust.ts';
import { agentConfigFromProcess, ownNodeOptions, type AgentConfig } from '../config/agent-config.ts';
import { helpAsked } from '../config/flags.ts';
import { ShadowplaneError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { startAgent } from '../agent/agent.ts';
import { refuseCodeLoadingNodeOptions } from '../agent/node-options.ts';
import { createIssuer } from './issuer.ts';

export const AGENT_USAGE = `shadowplane agent [--config FILE] [options] -- COMMAND [ARGS...]

Runs COMMAND as the workload of a confidential container: its output stays in a log
store inside the TEE; exec, attach, logs and port-forward are served to the attested
shadowplane proxy only. A flag overrides the configuration file, which overrides the
environment; docs/agent.md has every setting, its file key and its default.

  --config FILE           the configuration (YAML or JSON; env SHADOWPLANE_AGENT_CONFIG)
  --container NAME        this container's name (env SHADOWPLANE_CONTAINER; required)
  --listen-address IP     default POD_IP, else 0.0.0.0
  --port N                the pod's agent port, default 15443
  --share-dir DIR         shared by the pod's agents, default /run/shadowplane/share
  --log-dir DIR           default /run/shadowplane/logs/<container>
  --attach-stdin          keep the workload's stdin open for attach
  --attach-tty            run the workload on a pseudo-terminal
  --tee auto|sev-snp|tdx|simulated   this agent's evidence source, default auto
  --simulated-dir DIR     from 'shadowplane simulate init' (with --tee simulated)
  --allow-simulated       accept a simulated proxy (development only)
  --log-level LEVEL       default info`;

export async function runAgentCommand(argv: readonly string[]): Promise<number> {
  // Only the agent's own options: after -- everything is the workload's (helpAsked stops there).
  if (helpAsked(argv)) {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return 0;
  }
  // Before anything else: this Node must be the agent's alone. Node opens its inspector
  // on SIGUSR1 unless a listener is installed, and anything in the pod running as the
  // agent's user (an exec'd command, say) can send it one: this listener stays for the
  // agent's life (the supervisor forwards SIGUSR1 to the workload while it runs).
  refuseCodeLoadingNodeOptions(process.execArgv, ownNodeOptions());
  process.on('SIGUSR1', () => undefined);
  const config = agentConfigFromProcess(argv);
  const logger = createLogger({ level: config.logLevel, name: 'shadowplane-agent' });
  const issuer = await createIssuer({ tee: config.attestation.tee, simulatedDir: config.attestation.simulatedDir, simulatedMeasurement: config.attestation.simulatedMeasurement, logger });
  if (config.proxy.allowedManifestDigests.length === 0 && config.proxy.manifestSigners.length === 0) {
    // Then any proxy of the measured image, in anyone's TEE, with anyone's manifest is accepted.
    logger.warn('*** proxy.allowedManifestDigests and proxy.manifestSigners are empty: a proxy bound to ANY manifest is accepted. Pin the manifest digest or the owner key (inject does). ***');
  }
  if (config.proxy.allowSimulated) {
    logger.warn({ allowSimulated: true }, '*** accepting a proxy with SIMULATED attestation: this pod is not protected. Development only. ***');
  }
  const reference = proxyReferenceValues(config);
  // Followed afterwards: refreshed CRL files take effect without a restart.
  const revocation = watchRevocationFiles({ files: config.proxy.crlFiles, requireCrls: config.proxy.requireCrls, option: 'proxy.crlFiles', logger });
  for (const line of [...referenceValuesWarnings(reference), ...revocationWarnings(revocation.initial, [reference], 'proxy.crlFiles and proxy.requireCrls')]) logger.warn(line);
  const credentials = await startRenewingCredentials({
    issuer,
    claims: agentClaims({ namespace: config.pod.namespace, pod: config.pod.name, container: config.container }),
    validityMs: config.attestation.certValidityMs,
    subjectAltNames: [config.listen.address],
    logger,
  });
  const agent = await startAgent(config, {
    credentials: credentials.current(),
    verifyProxy: raTlsProxyVerifier({
      reference,
      allowedManifestDigests: config.proxy.allowedManifestDigests,
      manifestSigners: config.proxy.manifestSigners,
      allowSimulated: config.proxy.allowSimulated,
      revocation,
      cache: createVerificationCache<AttestedCertificateResult>(),
      logger,
    }),
    logger,
    notice: (line) => process.stdout.write(`${line}\n`),
    signals: process,
  });
  credentials.onRenew((c) => agent.setCredentials(c));
  const code = await agent.done;
  credentials.stop();
  return code;
}

function proxyReferenceValues(config: AgentConfig): ReferenceValues {
  if (config.proxy.referenceValues !== null) return parseReferenceValues(config.proxy.referenceValues, 'agent configuration proxy.referenceValues');
  if (config.proxy.referenceValuesFile !== null) return loadReferenceValues(config.proxy.referenceValuesFile);
  throw new ShadowplaneError('SP_CONFIG_INVALID', 'the agent needs the proxy\'s reference values (proxy.referenceValues or proxy.referenceValuesFile)');
}
