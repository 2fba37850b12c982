/**
 * Starts the proxy: the in-memory serving identity, the upstream connection, the
 * attestation endpoint and (when given) the confidential service, behind one TLS listener.
 *
 * The serving key is generated here, in memory, and never written anywhere: a restart is a
 * new key, and users re-run `shadowplane verify`.
 */
import type { AddressInfo, Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { EvidenceIssuer } from '../attestation/index.ts';
import type { Manifest } from '../config/manifest.ts';
import type { Logger } from '../log.ts';
import { createSelfSigned } from '../tls/certificates.ts';
import { createAttestEndpoint } from './attest-endpoint.ts';
import type { MetricsEndpoints } from './metrics-endpoints.ts';
import type { RequestMetrics } from './self-metrics.ts';
import { respondJson } from './respond.ts';
import { createProxyServer, type ConfidentialService, type EndpointHandler } from './server.ts';
import type { ShadowplaneEndpoint } from './route.ts';
import { Upstream } from './upstream.ts';
import { loadUpstreamCredentials } from './upstream-credentials.ts';

export interface StartProxyOptions {
  readonly manifest: Manifest;
  readonly issuer: EvidenceIssuer;
  readonly listen: { readonly host: string; readonly port: number };
  readonly subjectAltNames: readonly string[];
  readonly servingCertValidityMs?: number;
  readonly inClusterDir?: string;
  readonly upstreamConnectTimeoutMs?: number;
  readonly maxHeaderBytes?: number;
  /** Builds the confidential service once the upstream exists; undefined refuses confidential routes. */
  readonly confidential?: (deps: { upstream: Upstream }) => ConfidentialService;
  /** Extra authenticated endpoints (audit). */
  readonly endpoints?: Partial<Record<ShadowplaneEndpoint, EndpointHandler>>;
  /** The federation and self-metrics endpoints (users with `metrics`, and scrapers). */
  readonly metricsEndpoints?: MetricsEndpoints;
  /** shadowplane's own request metrics. */
  readonly requestMetrics?: RequestMetrics;
  readonly logger: Logger;
}

export interface RunningProxy {
  /** https://host:port as reachable on the listen address. */
  readonly url: string;
  readonly port: number;
  readonly servingCertPem: string;
  readonly servingKeySha256: string;
  readonly upstream: Upstream;
  close(): Promise<void>;
}

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const { manifest, logger } = opts;
  const serving = await createSelfSigned({
    commonName: `shadowplane-proxy ${manifest.name}`,
    dnsNames: opts.subjectAltNames.filter((n) => !isIpAddress(n)),
    ipAddresses: opts.subjectAltNames.filter(isIpAddress),
    validityMs: opts.servingCertValidityMs ?? 30 * 86_400_000,
    usage: 'server',
  });
  const servingSpkiDer = new X509Certificate(serving.certDer).publicKey.export({ type: 'spki', format: 'der' });

  const credentials = await loadUpstreamCredentials(manifest.upstream, { inClusterDir: opts.inClusterDir ?? '/var/run/secrets/kubernetes.io/serviceaccount' });
  const upstream = new Upstream({
    server: manifest.upstream.server,
    credentials,
    connectTimeoutMs: opts.upstreamConnectTimeoutMs ?? 5000,
    logger,
  });

  const server = createProxyServer({
    manifest,
    upstream,
    serving,
    endpoints: {
      attest: createAttestEndpoint({ issuer: opts.issuer, servingSpkiDer, manifestDigest: manifest.digest, manifestName: manifest.name, logger }),
      healthz: (_req, res) => respondJson(res, { status: 'ok' }),
      ...opts.endpoints,
    },
    confidential: opts.confidential?.({ upstream }),
    ...(opts.metricsEndpoints === undefined ? {} : { metricsEndpoints: opts.metricsEndpoints }),
    ...(opts.requestMetrics === undefined ? {} : { requestMetrics: opts.requestMetrics }),
    limits: { maxHeaderBytes: opts.maxHeaderBytes ?? 64 * 1024 },
    logger,
  });

  // Long-lived watches and stream sessions would hold close() open: close() ends them.
  const openSockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    openSockets.add(s);
    s.once('close', () => openSockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.listen.host === '0.0.0.0' || opts.listen.host === '::' ? '127.0.0.1' : opts.listen.host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { listen: `${opts.listen.host}:${port}`, manifest: manifest.name, manifestDigest: manifest.digestHex, platform: opts.issuer.platform, servingKeySha256: serving.spkiSha256, upstream: manifest.upstream.server, auth: manifest.upstream.auth },
    'proxy listening',
  );

  return {
    url,
    port,
    servingCertPem: serving.certPem,
    servingKeySha256: serving.spkiSha256,
    upstream,
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
        for (const s of openSockets) s.destroy();
      }),
  };
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}
