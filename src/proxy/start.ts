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
import { ShadowplaneError } from '../errors.ts';
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
  /**
   * Called when the serving certificate expires: no client accepts it any more, and only a
   * new process (new key, new attestation, users verify again) can serve. Default: logged only.
   */
  readonly onServingCertExpired?: () => void;
  readonly logger: Logger;
}

export interface RunningProxy {
  /** https://host:port as reachable on the listen address. */
  readonly url: string;
  readonly port: number;
  readonly servingCertPem: string;
  readonly servingKeySha256: string;
  /** When the serving certificate expires (--serving-cert-validity after start). */
  readonly servingCertNotAfter: Date;
  readonly upstream: Upstream;
  close(): Promise<void>;
}

/** setTimeout's largest delay (about 24.8 days); longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long before the serving certificate expires the proxy starts saying so. */
const EXPIRY_WARNING_MS = 24 * 3_600_000;

export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  const { manifest, logger } = opts;
  const serving = await createSelfSigned({
    commonName: `shadowplane-proxy ${manifest.name}`,
    dnsNames: opts.subjectAltNames.filter((n) => !isIpAddress(n)),
    ipAddresses: opts.subjectAltNames.filter(isIpAddress),
    validityMs: opts.servingCertValidityMs ?? 30 * 86_400_000,
    usage: 'server',
  });
  const servingCert = new X509Certificate(serving.certDer);
  const servingSpkiDer = servingCert.publicKey.export({ type: 'spki', format: 'der' });
  const servingCertNotAfter = new Date(servingCert.validTo);

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

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listen.port, opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    upstream.close();
    server.close();
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such local address' : code;
    throw new ShadowplaneError('SP_CONFIG_INVALID', `--listen ${opts.listen.host}:${opts.listen.port}: cannot listen (${why})`, { cause: err });
  }
  const port = (server.address() as AddressInfo).port;
  const host = opts.listen.host === '0.0.0.0' || opts.listen.host === '::' ? '127.0.0.1' : opts.listen.host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { listen: `${opts.listen.host}:${port}`, manifest: manifest.name, manifestDigest: manifest.digestHex, platform: opts.issuer.platform, servingKeySha256: serving.spkiSha256, upstream: manifest.upstream.server, auth: manifest.upstream.auth },
    'proxy listening',
  );
  logger.info({ servingCertNotAfter: servingCertNotAfter.toISOString() }, 'serving certificate valid until then: restart the proxy before, and users verify again');
  const validityMs = servingCertNotAfter.getTime() - Date.now();
  const expiryTimers = [
    callAt(servingCertNotAfter.getTime() - Math.min(EXPIRY_WARNING_MS, validityMs / 10), () =>
      logger.warn({ servingCertNotAfter: servingCertNotAfter.toISOString() }, '*** the serving certificate expires soon: restart the proxy (a new key and attestation), then users run shadowplane verify again ***'),
    ),
    callAt(servingCertNotAfter.getTime(), () => {
      logger.error({ servingCertNotAfter: servingCertNotAfter.toISOString() }, '*** the serving certificate has expired: no client accepts it; restart the proxy, then users run shadowplane verify again ***');
      opts.onServingCertExpired?.();
    }),
  ];

  return {
    url,
    port,
    servingCertPem: serving.certPem,
    servingKeySha256: serving.spkiSha256,
    servingCertNotAfter,
    upstream,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of expiryTimers) t.cancel();
        upstream.close();
        server.close(() => resolve());
        for (const s of openSockets) s.destroy();
      }),
  };
}

/**
 * Runs `fn` once at the time `atMs` (ms since the epoch), however far ahead, and never
 * before this call returned (a time already past runs on a later turn, when the caller's
 * handlers are in place); the timer does not keep the process alive.
 */
function callAt(atMs: number, fn: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = atMs - Date.now();
    if (left <= 0) {
      timer = undefined;
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  timer = setTimeout(arm, 0);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}
