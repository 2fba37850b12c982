/**
 * Everything the proxy needs to serve confidential routes, built in one place: its own
 * RA-TLS channel credentials (claims: role proxy + manifest digest), the pool of attested
 * agent sessions judged against the manifest's per-workload reference values, the pod
 * address directory, the audit log, the metrics hash key, and shadowplane's own metrics.
 *
 * The metrics hash key is generated here (32 random bytes, in memory only) unless one is
 * given (from attested key release or sealed storage). It is stable for the proxy's
 * lifetime, so hashed label values stay joinable across scrapes and pods; a restart with
 * a generated key changes every hashed value.
 */
import { randomBytes } from 'node:crypto';
import { createVerificationCache, type AttestedCertificateResult, type EvidenceIssuer, type RevocationSetting } from '../../attestation/index.ts';
import { startRenewingCredentials } from '../../channel/attested-credentials.ts';
import { AgentPool } from '../../channel/agent-pool.ts';
import { proxyClaims, raTlsAgentVerifier } from '../../channel/ra-tls-trust.ts';
import type { AgentVerifier } from '../../channel/trust.ts';
import type { Manifest } from '../../config/manifest.ts';
import { workloadFor } from '../../config/scope.ts';
import { ShadowplaneError, asShadowplaneError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { MIN_HASH_KEY_BYTES } from '../../metrics/hash.ts';
import { AuditLog } from '../audit.ts';
import { createMetricsEndpoints, type MetricsEndpoints } from '../metrics-endpoints.ts';
import { RequestMetrics } from '../self-metrics.ts';
import type { ConfidentialService } from '../server.ts';
import type { AcceptOptions } from '../streams/upgrade.ts';
import type { Upstream } from '../upstream.ts';
import { PodAgents } from './pod-agents.ts';
import { PodDirectory } from './pod-directory.ts';
import { PodMetricsScraper } from './pod-metrics.ts';
import { createConfidentialService } from './service.ts';

export interface ConfidentialStack {
  readonly audit: AuditLog;
  /** shadowplane's own metrics and the request trackers that feed them. */
  readonly requestMetrics: RequestMetrics;
  /** For startProxy: builds the service once the upstream exists. */
  readonly service: (deps: { upstream: Upstream }) => ConfidentialService;
  /** The federation and self-metrics endpoints (they answer SP_CONFIDENTIAL_NOT_SERVED until `service` was built). */
  readonly metricsEndpoints: MetricsEndpoints;
  close(): void;
}

export async function createConfidentialStack(opts: {
  readonly manifest: Manifest;
  /** The owner's signature of the manifest (src/config/manifest-signature.ts), for agents that pin the owner key. */
  readonly manifestSignature?: string;
  readonly issuer: EvidenceIssuer;
  readonly allowSimulatedAgents: boolean;
  /** CRLs the proxy applies to agents' chains, and whether they are required. Default: only CRLs in the evidence. */
  readonly revocation?: RevocationSetting;
  readonly channelCertValidityMs?: number;
  readonly agentConnectTimeoutMs?: number;
  readonly accept?: AcceptOptions;
  /** HMAC key for hashed metric label values (≥ 16 bytes). Default: 32 random bytes for this process. */
  readonly metricsHashKey?: Buffer;
  /** Federation: pods scraped at once (default 8) and the deadline of one pod (default 10 s). */
  readonly federation?: { readonly concurrency?: number };
  readonly logger: Logger;
}): Promise<ConfidentialStack> {
  const { manifest, logger } = opts;
  const hashKey = opts.metricsHashKey ?? randomBytes(32);
  if (hashKey.length < MIN_HASH_KEY_BYTES) throw new ShadowplaneError('SP_CONFIG_INVALID', `the metrics hash key must be at least ${MIN_HASH_KEY_BYTES} bytes`);
  const requestMetrics = new RequestMetrics();
  const credentials = await startRenewingCredentials({
    issuer: opts.issuer,
    claims: proxyClaims(manifest.digestHex, opts.manifestSignature),
    validityMs: opts.channelCertValidityMs ?? 24 * 3_600_000,
    logger,
  });
  const pool = new AgentPool({
    credentials: () => credentials.current(),
    verifyAgent: countingVerifier(
      raTlsAgentVerifier({
        referenceFor: (id) => workloadFor(manifest, id.namespace, id.pod)?.referenceValues,
        allowSimulated: opts.allowSimulatedAgents,
        ...(opts.revocation === undefined ? {} : { revocation: opts.revocation }),
        cache: createVerificationCache<AttestedCertificateResult>(),
        logger,
      }),
      manifest,
      requestMetrics,
    ),
    logger,
    ...(opts.agentConnectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.agentConnectTimeoutMs }),
  });
  const audit = new AuditLog();
  let pods: PodDirectory | undefined;
  let podMetrics: PodMetricsScraper | undefined;
  const metricsEndpoints = createMetricsEndpoints({
    manifest,
    podMetrics: () => podMetrics,
    metrics: requestMetrics.metrics,
    ...(opts.federation?.concurrency === undefined ? {} : { concurrency: opts.federation.concurrency }),
    logger,
  });
  return {
    audit,
    requestMetrics,
    metricsEndpoints,
    service: ({ upstream }) => {
      const hasOwnCredential = manifest.upstream.credential.source !== 'none';
      const ownAuth = hasOwnCredential
        ? async () => {
            const authorization = await upstream.credentials.authorization();
            return authorization === undefined ? {} : { authorization };
          }
        : undefined;
      pods = new PodDirectory({ upstream, namespaces: manifest.confidential.map((c) => c.namespace), ownAuth, logger });
      const agents = new PodAgents({ pool, pods, agentPort: manifest.agent.port });
      podMetrics = new PodMetricsScraper({
        manifest,
        agents,
        hashKey,
        metrics: requestMetrics.metrics,
        logger,
      });
      return createConfidentialService({
        manifest,
        agents,
        audit,
        podMetrics,
        services: { upstream, ownAuth },
        logger,
        ...(opts.accept === undefined ? {} : { accept: opts.accept }),
      });
    },
    close: () => {
      credentials.stop();
      pool.close();
      pods?.close();
      // Ends the federations' worker threads (never rejects); a running federation fails.
      void metricsEndpoints.close();
    },
  };
}

/**
 * Counts every verification of an agent's evidence: by the platform the verified evidence
 * names, or (for a refusal) the platform the workload's reference values name, when they
 * name exactly one; a refusal under reference values for several platforms is not
 * attributed to a platform and is logged only.
 */
function countingVerifier(verify: AgentVerifier, manifest: Manifest, requestMetrics: RequestMetrics): AgentVerifier {
  const { attestations } = requestMetrics.metrics;
  return async (peer, expected) => {
    const platforms = new Set(workloadFor(manifest, expected.namespace, expected.pod)?.referenceValues.entries.map((e) => e.platform) ?? []);
    try {
      const verified = await verify(peer, expected);
      const platform = verified.platform ?? (platforms.size === 1 ? [...platforms][0] : undefined);
      if (platform !== undefined) attestations.inc({ platform, code: 'ok' });
      return verified;
    } catch (err) {
      if (platforms.size === 1) attestations.inc({ platform: [...platforms][0]!, code: asShadowplaneError(err).code });
      throw err;
    }
  };
}
