/**
 * The Prometheus scrape configuration for a verified proxy: the federation endpoint and
 * per-pod targets through `pods/POD:PORT/proxy/metrics`, TLS pinned to the verified
 * serving certificate (written to its own CA file), authenticated as a manifest scraper
 * by client certificate or bearer token file. Rendered from
 * kubeconfig-templates/prometheus-scrape.yaml.
 */
import { ShadowplaneError } from '../errors.ts';
import type { VerifiedProxy } from './verify-proxy.ts';
import { renderTemplateFile, verificationValues } from './render.ts';

export interface PrometheusConfigInput {
  /** https://host:port of the proxy. */
  readonly server: string;
  readonly tlsServerName: string | undefined;
  /** Where the pinned serving certificate (PEM) is written; the config names this path. */
  readonly caFile: string;
  /** The scraper's credential as Prometheus will read it: a client certificate and key, or a token file. */
  readonly credential: { readonly certFile: string; readonly keyFile: string } | { readonly tokenFile: string };
  /** The file_sd targets file of the per-pod job. */
  readonly podTargetsFile: string;
  /** Prometheus duration. Default 30s. */
  readonly scrapeInterval?: string;
  readonly verified: VerifiedProxy;
  readonly manifestDigestHex: string;
  readonly jobPrefix?: string;
  readonly now?: Date;
}

const DURATION = /^[1-9][0-9]{0,5}(ms|s|m|h)$/;

function durationMs(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(text)!;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export function renderPrometheusConfig(input: PrometheusConfigInput): string {
  const interval = input.scrapeInterval ?? '30s';
  if (!DURATION.test(interval)) throw new ShadowplaneError('SP_USAGE', 'the scrape interval must be a Prometheus duration such as 15s or 1m');
  // A scrape may not outlast its interval; federation waits for slow pods up to about 20 s.
  const timeoutMs = Math.min(durationMs(interval), 25_000);
  const url = URL.parse(input.server);
  if (url === null || url.protocol !== 'https:' || url.host === '') throw new ShadowplaneError('SP_USAGE', '--server must be an https:// URL');
  const prefix = input.jobPrefix ?? 'shadowplane';
  return renderTemplateFile('prometheus-scrape.yaml', {
    ...verificationValues(input.verified, input.manifestDigestHex, input.now),
    scrapeInterval: interval,
    scrapeTimeout: timeoutMs % 1000 === 0 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`,
    federateJob: `${prefix}-federate`,
    podsJob: `${prefix}-pods`,
    proxyAddress: url.host,
    caFile: input.caFile,
    tlsServerName: input.tlsServerName,
    certFile: 'certFile' in input.credential ? input.credential.certFile : undefined,
    keyFile: 'keyFile' in input.credential ? input.credential.keyFile : undefined,
    tokenFile: 'tokenFile' in input.credential ? input.credential.tokenFile : undefined,
    podTargetsFile: input.podTargetsFile,
  });
}
