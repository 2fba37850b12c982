/**
 * `shadowplane verify`: verify a proxy's attestation, then write the dedicated kubeconfig
 * that pins the very certificate that was verified.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadReferenceValues } from '../attestation/index.ts';
import { loadManifest } from '../config/manifest.ts';
import { userByKey } from '../config/scope.ts';
import { ShadowplaneError } from '../errors.ts';
import { renderKubeconfig } from '../kubeconfig/kubeconfig.ts';
import { renderPrometheusConfig } from '../kubeconfig/prometheus-config.ts';
import { verifyProxy } from '../kubeconfig/verify-proxy.ts';
import { spkiSha256Hex } from '../tls/certificates.ts';
import { SIMULATED_BANNER } from './issuer.ts';
import { parseFlags } from '../config/flags.ts';

export const VERIFY_USAGE = `shadowplane verify --server URL --manifest FILE --reference-values FILE
                   --client-cert FILE --client-key FILE [options]

Connects to the proxy, checks its attestation evidence (vendor chain, signature, the
binding to the certificate this connection saw, a fresh nonce, the measurement and host
data against the reference values, the manifest digest against FILE), then writes the
dedicated kubeconfig that pins that certificate.

  --server URL               https://host:port of the shadowplane proxy
  --manifest FILE            the manifest you expect the proxy to enforce
  --reference-values FILE    acceptable measurements of the proxy (docs/reference-values.md)
  --client-cert FILE         your certificate (shadowplane keygen)
  --client-key FILE          your key
  --token-file FILE          upstream token to include (forward-token mode)
  --tls-server-name NAME     name to ask for on the proxy's certificate
  --namespace NS             default namespace of the context
  --context NAME             context and cluster name (default shadowplane-<manifest name>)
  --out FILE                 write the kubeconfig here (mode 0600; default: stdout)
  --evidence-out FILE        keep the attestation answer for your records
  --allow-simulated          accept SIMULATED evidence (development only; proves nothing)

Prometheus (docs/metrics.md): also write a scrape configuration pinned to the same certificate
  --prometheus-config FILE        write the Prometheus scrape configuration here
  --prometheus-ca-file FILE       where to write the pinned certificate (default FILE.ca.pem)
  --prometheus-pods-file FILE     file_sd targets of the per-pod job (default: beside FILE, shadowplane-pods.json)
  --prometheus-scrape-interval D  default 30s
  --scraper-cert FILE --scraper-key FILE   the scraper's client certificate and key, as Prometheus reads them
  --scraper-token-file FILE       or the scraper's bearer token file`;

export async function runVerifyCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${VERIFY_USAGE}\n`);
    return 0;
  }
  const values = parseFlags(argv, {
    server: { type: 'string' },
    manifest: { type: 'string' },
    'reference-values': { type: 'string' },
    'client-cert': { type: 'string' },
    'client-key': { type: 'string' },
    'token-file': { type: 'string' },
    'tls-server-name': { type: 'string' },
    namespace: { type: 'string' },
    context: { type: 'string' },
    out: { type: 'string' },
    'evidence-out': { type: 'string' },
    'allow-simulated': { type: 'boolean' },
    'prometheus-config': { type: 'string' },
    'prometheus-ca-file': { type: 'string' },
    'prometheus-pods-file': { type: 'string' },
    'prometheus-scrape-interval': { type: 'string' },
    'scraper-cert': { type: 'string' },
    'scraper-key': { type: 'string' },
    'scraper-token-file': { type: 'string' },
  });
  const need = (name: 'server' | 'manifest' | 'reference-values' | 'client-cert' | 'client-key'): string => {
    const v = values[name];
    if (v === undefined || v === '') throw new ShadowplaneError('SP_USAGE', `--${name} is required\n\n${VERIFY_USAGE}`);
    return v;
  };
  const server = need('server');
  const manifest = loadManifest(need('manifest'));
  const reference = loadReferenceValues(need('reference-values'));
  const certPem = readText(need('client-cert'), 'client certificate');
  const keyPem = readText(need('client-key'), 'client key');
  const token = values['token-file'] === undefined ? undefined : readText(values['token-file'], 'token').trim();
  const allowSimulated = values['allow-simulated'] ?? false;

  const user = userByKey(manifest, spkiSha256Hex(createPublicKey(certPem)));
  if (user === undefined) throw new ShadowplaneError('SP_USAGE', 'your client certificate\'s key is not a user of this manifest: ask its owner to add your public key');
  if (manifest.upstream.auth === 'forward-token' && token === undefined) {
    process.stderr.write('note: the proxy forwards your upstream token (forward-token mode) but no --token-file was given\n');
  }
  if (allowSimulated) process.stderr.write(`${SIMULATED_BANNER}\n`);

  const prometheusConfig = values['prometheus-config'];
  // Usage errors before any network traffic.
  const scraper = prometheusConfig === undefined ? undefined : scraperCredential(values['scraper-cert'], values['scraper-key'], values['scraper-token-file']);

  const verified = await verifyProxy({
    server,
    reference,
    expectedManifestDigest: manifest.digest,
    allowSimulated,
    ...(values['tls-server-name'] === undefined ? {} : { tlsServerName: values['tls-server-name'] }),
  });

  const kubeconfig = renderKubeconfig({
    server,
    certificatePem: verified.certificate.toString(),
    tlsServerName: values['tls-server-name'],
    context: values.context ?? `shadowplane-${manifest.name}`,
    namespace: values.namespace,
    userName: user.name,
    clientCertPem: certPem,
    clientKeyPem: keyPem,
    token,
    verified,
    manifestDigestHex: manifest.digestHex,
  });
  if (values.out === undefined) process.stdout.write(kubeconfig);
  else writeFileSync(values.out, kubeconfig, { mode: 0o600 });
  if (values['evidence-out'] !== undefined) writeFileSync(values['evidence-out'], `${JSON.stringify(verified.response, null, 2)}\n`);
  if (prometheusConfig !== undefined && scraper !== undefined) {
    const caFile = resolve(values['prometheus-ca-file'] ?? `${prometheusConfig}.ca.pem`);
    writeFileSync(caFile, verified.certificate.toString());
    writeFileSync(
      prometheusConfig,
      renderPrometheusConfig({
        server,
        tlsServerName: values['tls-server-name'],
        caFile,
        credential: scraper,
        podTargetsFile: resolve(values['prometheus-pods-file'] ?? join(dirname(prometheusConfig), 'shadowplane-pods.json')),
        ...(values['prometheus-scrape-interval'] === undefined ? {} : { scrapeInterval: values['prometheus-scrape-interval'] }),
        verified,
        manifestDigestHex: manifest.digestHex,
      }),
    );
  }

  const e = verified.evidence;
  process.stderr.write(
    [
      `verified shadowplane proxy at ${server}`,
      `  platform       ${e.platform}${e.simulated ? '  (SIMULATED: proves nothing)' : ''}`,
      `  measurement    ${e.measurement}`,
      `  reference      entry ${JSON.stringify(e.referenceName)} of ${reference.source}`,
      `  manifest       ${verified.manifestName} sha256:${manifest.digestHex}`,
      `  serving key    sha256:${verified.servingKeySha256} (pinned in the kubeconfig)`,
      `  freshness      answered a fresh 32-byte nonce on this connection`,
      `  you are        ${user.name}${user.groups.length > 0 ? ` (groups ${user.groups.join(', ')})` : ''}`,
      values.out === undefined ? '' : `wrote ${values.out}; use: KUBECONFIG=${values.out} kubectl get pods`,
      prometheusConfig === undefined ? '' : `wrote ${prometheusConfig} (Prometheus scrape configuration)`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** The scraper credential paths for the Prometheus configuration: a certificate and key, or a token file. */
function scraperCredential(cert: string | undefined, key: string | undefined, tokenFile: string | undefined): { certFile: string; keyFile: string } | { tokenFile: string } {
  if (tokenFile !== undefined && cert === undefined && key === undefined) return { tokenFile: resolve(tokenFile) };
  if (tokenFile === undefined && cert !== undefined && key !== undefined) return { certFile: resolve(cert), keyFile: resolve(key) };
  throw new ShadowplaneError('SP_USAGE', '--prometheus-config needs --scraper-cert and --scraper-key, or --scraper-token-file');
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new ShadowplaneError('SP_USAGE', `cannot read the ${what} file ${path}`);
  }
}
