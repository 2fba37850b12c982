/**
 * The whole proxy as it runs: the confidential stack (channel credentials, agent pool, pod
 * directory, audit, metrics) composed with the listener in one place, for the CLI and for
 * anything that embeds the proxy (the test bed, the demo).
 */
import type { EvidenceIssuer, RevocationSetting } from '../attestation/index.ts';
import type { Manifest } from '../config/manifest.ts';
import type { Logger } from '../log.ts';
import { createAuditEndpoint } from './audit.ts';
import { createConfidentialStack, type ConfidentialStack } from './confidential/stack.ts';
import { startProxy, type RunningProxy, type StartProxyOptions } from './start.ts';

export interface ShadowplaneProxyOptions extends Omit<StartProxyOptions, 'confidential' | 'endpoints' | 'metricsEndpoints' | 'requestMetrics'> {
  readonly manifest: Manifest;
  /** The owner's signature of the manifest, carried to the agents in the channel certificate's claims. */
  readonly manifestSignature?: string;
  readonly issuer: EvidenceIssuer;
  /** Accept agents whose evidence is simulated (development only). */
  readonly allowSimulatedAgents: boolean;
  /** CRLs applied to agents' chains, and whether they are required. Default: only CRLs in the evidence. */
  readonly revocation?: RevocationSetting;
  /** The metrics hash key; default 32 random bytes for this process. */
  readonly metricsHashKey?: Buffer;
  readonly agentConnectTimeoutMs?: number;
  readonly logger: Logger;
}

export interface ShadowplaneProxy extends RunningProxy {
  readonly stack: ConfidentialStack;
}

export async function startShadowplaneProxy(opts: ShadowplaneProxyOptions): Promise<ShadowplaneProxy> {
  const { manifest, logger } = opts;
  if (opts.allowSimulatedAgents) {
    logger.warn({ allowSimulatedAgents: true }, '*** accepting agents with SIMULATED attestation: confidential pods are not protected. Development only. ***');
  }
  const stack = await createConfidentialStack({
    manifest,
    ...(opts.manifestSignature === undefined ? {} : { manifestSignature: opts.manifestSignature }),
    issuer: opts.issuer,
    allowSimulatedAgents: opts.allowSimulatedAgents,
    ...(opts.revocation === undefined ? {} : { revocation: opts.revocation }),
    logger,
    ...(opts.metricsHashKey === undefined ? {} : { metricsHashKey: opts.metricsHashKey }),
    ...(opts.agentConnectTimeoutMs === undefined ? {} : { agentConnectTimeoutMs: opts.agentConnectTimeoutMs }),
  });
  let running: RunningProxy;
  try {
    running = await startProxy({
      ...opts,
      confidential: stack.service,
      endpoints: { audit: createAuditEndpoint(stack.audit, manifest) },
      metricsEndpoints: stack.metricsEndpoints,
      requestMetrics: stack.requestMetrics,
    });
  } catch (err) {
    stack.close();
    throw err;
  }
  return {
    ...running,
    stack,
    close: async () => {
      stack.close();
      await running.close();
    },
  };
}
