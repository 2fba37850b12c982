import { X509Certificate } from 'node:crypto';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { renderPrometheusConfig, type PrometheusConfigInput } from '../../../src/kubeconfig/prometheus-config.ts';
import type { VerifiedProxy } from '../../../src/kubeconfig/verify-proxy.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';

let verified: VerifiedProxy;

beforeAll(async () => {
  const serving = await createSelfSigned({ commonName: 'proxy', ipAddresses: ['127.0.0.1'], validityMs: 3_600_000, usage: 'server' });
  verified = {
    certificate: new X509Certificate(serving.certPem),
    servingKeySha256: serving.spkiSha256,
    manifestName: 'payments-prod',
    evidence: { platform: 'sev-snp', simulated: false, measurement: 'ab'.repeat(48) } as VerifiedProxy['evidence'],
    response: {},
  };
});

interface Job {
  job_name: string;
  metrics_path?: string;
  honor_labels?: boolean;
  static_configs?: { targets: string[] }[];
  file_sd_configs?: { files: string[] }[];
  relabel_configs?: { regex?: string; replacement?: string; target_label: string }[];
  tls_config: Record<string, string>;
  authorization?: { credentials_file: string };
}

function render(extra: Partial<PrometheusConfigInput> = {}): { global: Record<string, string>; scrape_configs: Job[] } {
  return parse(
    renderPrometheusConfig({
      server: 'https://10.0.0.5:8443',
      tlsServerName: undefined,
      caFile: '/etc/prometheus/shadowplane-ca.pem',
      credential: { certFile: '/etc/prometheus/scraper.crt', keyFile: '/etc/prometheus/scraper.key' },
      podTargetsFile: '/etc/prometheus/shadowplane-pods.json',
      verified,
      manifestDigestHex: 'cd'.repeat(32),
      ...extra,
    }),
  ) as { global: Record<string, string>; scrape_configs: Job[] };
}

describe('the Prometheus scrape configuration', () => {
  it('scrapes the federation endpoint and the listed pods over TLS pinned to the CA file, with the scraper certificate', () => {
    const config = render();
    expect(config.global).toEqual({ scrape_interval: '30s', scrape_timeout: '25s' });
    const [federate, pods] = config.scrape_configs;
    expect(federate).toMatchObject({ job_name: 'shadowplane-federate', metrics_path: '/.well-known/shadowplane/federate', honor_labels: true, static_configs: [{ targets: ['10.0.0.5:8443'] }] });
    for (const job of [federate!, pods!]) {
      expect(job.tls_config).toEqual({ ca_file: '/etc/prometheus/shadowplane-ca.pem', cert_file: '/etc/prometheus/scraper.crt', key_file: '/etc/prometheus/scraper.key' });
      expect(job.authorization).toBeUndefined();
    }
    expect(pods!.file_sd_configs).toEqual([{ files: ['/etc/prometheus/shadowplane-pods.json'] }]);
    expect(pods!.relabel_configs!.at(-1)).toEqual({ target_label: '__address__', replacement: '10.0.0.5:8443' });
  });

  it('builds the per-pod metrics path from "NAMESPACE/POD[:PORT]" targets', () => {
    const rules = render().scrape_configs[1]!.relabel_configs!;
    const path = (target: string): string | undefined => {
      let result: string | undefined;
      for (const r of rules.filter((x) => x.target_label === '__metrics_path__')) {
        const m = new RegExp(`^(?:${r.regex!})$`).exec(target);
        if (m !== null) result = r.replacement!.replace(/\$\{(\d)\}/g, (_x, i: string) => m[Number(i)]!);
      }
      return result;
    };
    expect(path('payments/api-0:9102')).toBe('/api/v1/namespaces/payments/pods/api-0:9102/proxy/metrics');
    expect(path('payments/api-0')).toBe('/api/v1/namespaces/payments/pods/api-0/proxy/metrics');
  });

  it('authenticates with a bearer token file instead, and names the TLS server when asked', () => {
    const config = render({ credential: { tokenFile: '/etc/prometheus/scraper.token' }, tlsServerName: 'proxy.example', scrapeInterval: '5s' });
    expect(config.global).toEqual({ scrape_interval: '5s', scrape_timeout: '5s' });
    for (const job of config.scrape_configs) {
      expect(job.tls_config).toEqual({ ca_file: '/etc/prometheus/shadowplane-ca.pem', server_name: 'proxy.example' });
      expect(job.authorization).toEqual({ credentials_file: '/etc/prometheus/scraper.token' });
    }
  });

  it('keeps hostile paths inside their YAML strings', () => {
    const config = render({ caFile: '/tmp/x"\n  evil: true', credential: { tokenFile: "/tmp/a'b: c" } });
    expect(config.scrape_configs[0]!.tls_config.ca_file).toBe('/tmp/x"\n  evil: true');
    expect(config.scrape_configs[0]!.authorization).toEqual({ credentials_file: "/tmp/a'b: c" });
  });

  it('refuses an interval that is not a Prometheus duration', () => {
    for (const scrapeInterval of ['1.5s', '0s', '10', '1d', '-1s']) {
      let code = '';
      try {
        render({ scrapeInterval });
      } catch (err) {
        if (isShadowplaneError(err)) code = err.code;
      }
      expect(code, scrapeInterval).toBe('SP_USAGE');
    }
  });
});
