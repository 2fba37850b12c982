/**
 * Everything the proxy needs to serve confidential routes, built in one place: its own
 * RA-TLS channel credentials (claims: role proxy + manifest digest), the pool of attested
 * agent sessions judged against the manifest's per-workload reference values, the pod
 * address directory, and the audit log.
 */
import { createVerificationCache, type AttestedCertificateResult, type EvidenceIssuer } from '../../attestation/index.ts';
import { startRenewingCredentials } from '../../channel/attested-credentials.ts';
import { AgentPool } from '../../channel/agent-pool.ts';
import { proxyClaims, raTlsAgentVerifier } from '../../channel/ra-tls-trust.ts';
import type { Manifest } from '../../config/manifest.ts';
import { workloadFor } from '../../config/scope.ts';
import type { Logger } from '../../log.ts';
import { AuditLog } from '../audit.ts';
import type { ConfidentialService } from '../server.ts';
import type { AcceptOptions } from '../streams/upgrade.ts';
import type { Upstream } from '../upstream.ts';
import { PodDirectory } from './pod-directory.ts';
import { createConfidentialService } from './service.ts';

export interface ConfidentialStack {
  readonly audit: AuditLog;
  /** For startProxy: builds the service once the upstream exists. */
  readonly service: (deps: { upstream: Upstream }) => ConfidentialService;
  close(): void;
}

export async function createConfidentialStack(opts: {
  readonly manifest: Manifest;
  readonly issuer: EvidenceIssuer;
  readonly allowSimulatedAgents: boolean;
  readonly channelCertValidityMs?: number;
  readonly agentConnectTimeoutMs?: number;
  readonly accept?: AcceptOptions;
  readonly logger: Logger;
}): Promise<ConfidentialStack> {
  const { manifest, logger } = opts;
  const credentials = await startRenewingCredentials({
    issuer: opts.issuer,
    claims: proxyClaims(manifest.digestHex),
    validityMs: opts.channelCertValidityMs ?? 24 * 3_600_000,
    logger,
  });
  const pool = new AgentPool({
    credentials: () => credentials.current(),
    verifyAgent: raTlsAgentVerifier({
      referenceFor: (id) => workloadFor(manifest, id.namespace, id.pod)?.referenceValues,
      allowSimulated: opts.allowSimulatedAgents,
      cache: createVerificationCache<AttestedCertificateResult>(),
      logger,
    }),
    logger,
    ...(opts.agentConnectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.agentConnectTimeoutMs }),
  });
  const audit = new AuditLog();
  let pods: PodDirectory | undefined;
  return {
    audit,
    service: ({ upstream }) => {
      const hasOwnCredential = manifest.upstream.credential.source !== 'none';
      pods = new PodDirectory({
        upstream,
        namespaces: manifest.confidential.map((c) => c.namespace),
        ownAuth: hasOwnCredential
          ? async () => {
              const authorization = await upstream.credentials.authorization();
              return authorization === undefined ? {} : { authorization };
            }
          : undefined,
        logger,
      });
      return createConfidentialService({ manifest, pool, pods, audit, logger, ...(opts.accept === undefined ? {} : { accept: opts.accept }) });
    },
    close: () => {
      credentials.stop();
      pool.close();
      pods?.close();
    },
  };
}
