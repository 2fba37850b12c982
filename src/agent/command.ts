/**
 * `shadowplane agent [options] -- COMMAND [ARGS...]`: the container's entrypoint wrapper.
 *
 * Wiring only: configuration (src/config/agent-config.ts) → this agent's evidence issuer →
 * RA-TLS credentials bound to the pod's identity → the proxy verifier from the measured
 * configuration → startAgent. Exit code: the workload's (128 + signal when a signal ended
 * it); 127/126 when the workload cannot be started (as a shell would say); 1 when the
 * agent itself cannot start (the workload is then not run: no attested agent, no workload).
 */
import { createAttestedCredentials, createSimulatedIssuer, createVerificationCache, loadReferenceValues, parseReferenceValues, SIMULATED_DEFAULT_MEASUREMENT, type EvidenceIssuer, type ReferenceValues } from '../attestation/index.ts';
import { agentClaims, raTlsProxyVerifier } from '../channel/ra-tls-trust.ts';
import { agentConfigFromProcess, type AgentConfig } from '../config/agent-config.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { startAgent } from './agent.ts';

/** This agent's source of evidence. Real platforms need a configfs-tsm issuer (not in this build). */
export function evidenceIssuerFor(config: AgentConfig): EvidenceIssuer {
  const { attestation } = config;
  if (attestation.tee === 'simulated' && attestation.simulatedDir !== null) {
    return createSimulatedIssuer({ dir: attestation.simulatedDir, measurement: attestation.simulatedMeasurement ?? SIMULATED_DEFAULT_MEASUREMENT });
  }
  throw new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `no evidence issuer for tee ${attestation.tee} in this build`);
}

function proxyReference(config: AgentConfig): ReferenceValues {
  if (config.proxy.referenceValues !== null) return parseReferenceValues(config.proxy.referenceValues, 'agent configuration proxy.referenceValues');
  if (config.proxy.referenceValuesFile !== null) return loadReferenceValues(config.proxy.referenceValuesFile);
  throw new ShadowplaneError('SP_CONFIG_INVALID', 'proxy.referenceValues or proxy.referenceValuesFile is required: the agent serves only a verified proxy');
}

function notice(line: string): void {
  process.stdout.write(`${line}\n`);
}

function renewLoop(config: AgentConfig, issuer: EvidenceIssuer, apply: (c: { key: string; cert: string }) => void, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    createAttestedCredentials({ issuer, claims: agentClaims({ namespace: config.pod.namespace, pod: config.pod.name, container: config.container }), validity: config.attestation.certValidityMs }).then(
      (c) => {
        apply({ key: c.keyPem, cert: c.certPem });
        logger.info('agent RA-TLS certificate renewed');
      },
      (err: unknown) => logger.error({ code: isShadowplaneError(err) ? err.code : 'SP_INTERNAL' }, 'agent RA-TLS certificate renewal failed'),
    );
  }, Math.max(60_000, Math.floor(config.attestation.certValidityMs / 2)));
  timer.unref();
  return timer;
}

export async function runAgentCommand(argv: readonly string[]): Promise<number> {
  const config = agentConfigFromProcess(argv);
  const logger = createLogger({ level: config.logLevel, name: 'shadowplane-agent' });
  if (config.proxy.allowSimulated) {
    logger.warn('SIMULATED proxy evidence is accepted: no TEE protects the proxy this agent serves; development only');
    notice('shadowplane agent: WARNING: simulated attestation is allowed; this pod is not protected');
  }
  const reference = proxyReference(config);
  const issuer = evidenceIssuerFor(config);
  const claims = agentClaims({ namespace: config.pod.namespace, pod: config.pod.name, container: config.container });
  const credentials = await createAttestedCredentials({ issuer, claims, validity: config.attestation.certValidityMs });
  const verifyProxy = raTlsProxyVerifier({
    reference,
    allowedManifestDigests: config.proxy.allowedManifestDigests,
    allowSimulated: config.proxy.allowSimulated,
    cache: createVerificationCache(),
    logger,
  });
  let agent;
  try {
    agent = await startAgent(config, { credentials: { key: credentials.keyPem, cert: credentials.certPem }, verifyProxy, logger, notice, signals: process });
  } catch (err) {
    if (isShadowplaneError(err, 'SP_EXEC_START_FAILED')) {
      notice('shadowplane agent: the workload could not be started');
      return err.detail === 'EACCES' ? 126 : 127;
    }
    throw err;
  }
  const renew = renewLoop(config, issuer, (c) => agent.setCredentials(c), logger);
  const code = await agent.done;
  clearInterval(renew);
  // The container must end when its workload did: if a handle lingers, do not wait for it.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
