/**
 * `shadowplane verify`: verify a proxy's attestation, then write the dedicated kubeconfig
 * that pins the very certificate that was verified.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { MAX_CRL_FILES, loadReferenceValues, loadRevocationPolicy, revocationWarnings, referenceValuesWarnings } from '../attestation/index.ts';
import { type Manifest, type ManifestUser, loadManifest } from '../config/manifest.ts';
import { scraperByKey, scraperByToken, userByKey } from '../config/scope.ts';
import { ShadowplaneError } from '../errors.ts';
import { renderKubeconfig } from '../kubeconfig/kubeconfig.ts';
import { renderPrometheusConfig } from '../kubeconfig/prometheus-config.ts';
import { servingCertificateExpiry } from '../kubeconfig/serving-certificate.ts';
import { parseProxyServer, verifyProxy } from '../kubeconfig/verify-proxy.ts';
import { spkiSha256Hex } from '../tls/certificates.ts';
import { SIMULATED_BANNER } from './issuer.ts';
import { helpAsked, parseFlags } from '../config/flags.ts';
import { writeOutputFile } from '../config/output-file.ts';

export const VERIFY_USAGE = `shadowplane verify --server URL --manifest FILE --reference-values FILE
                   --client-cert FILE --client-key FILE [options]
shadowplane verify --server URL --manifest FILE --reference-values FILE
                   --prometheus-config FILE (--scraper-cert FILE --scraper-key FILE | --scraper-token-file FILE) [options]

Connects to the proxy, checks its attestation evidence (vendor chain, signature, the
binding to the certificate this connection saw, a fresh nonce, the measurement and host
data against the reference values, the manifest digest against FILE), then writes the
dedicated kubeconfig that pins that certificate. Without --client-cert, --client-key and
the other kubeconfig options (a Prometheus operator who is no user of the manifest), it
writes only the Prometheus scrape configuration.

  --server URL               https://host:port of the shadowplane proxy
  --manifest FILE            the manifest you expect the proxy to enforce
  --reference-values FILE    acceptable measurements of the proxy (docs/reference-values.md)
  --client-cert FILE         your certificate (shadowplane keygen)
  --client-key FILE          your key
  --token-file FILE          upstream token to include (forward-token mode)
  --tls-server-name NAME     name to ask for on the proxy's certificate (default the --server host;
                             the certificate must name it: the proxy's --san)
  --namespace NS             default namespace of the context
  --context NAME             context and cluster name (default shadowplane-<manifest name>)
  --out FILE                 write the kubeconfig here (mode 0600; default: stdout)
  --evidence-out FILE        keep the attestation answer for your records
  --allow-simulated          accept SIMULATED evidence (development only; proves nothing)
  --crl FILE                 a vendor CRL (DER or PEM) applied to the proxy's chain; repeatable,
                             at most 16 (default none: only CRLs the proxy sends are applied,
                             which is warned about)
  --require-crls             refuse the proxy unless every CRL issuer on its chain has a current
                             CRL among --crl (default off; docs/attestation.md, revocation)

Prometheus (docs/metrics.md): also write a scrape configuration pinned to the same certificate
  --prometheus-config FILE        write the Prometheus scrape configuration here
  --prometheus-ca-file FILE       where to write the pinned certificate (default FILE.ca.pem)
  --prometheus-pods-file FILE     file_sd targets of the per-pod job (default: beside FILE, shadowplane-pods.json)
  --prometheus-scrape-interval D  default 30s
  --scraper-cert FILE --scraper-key FILE   the scraper's client certificate and key, as Prometheus reads them
  --scraper-token-file FILE       or the scraper's bearer token file`;

export async function runVerifyCommand(argv: readonly string[]): Promise<number> {
  if (helpAsked(argv)) {
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
    crl: { type: 'string', multiple: true },
    'require-crls': { type: 'boolean' },
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
  // Canonical (scheme, host, port only): what the kubeconfig and Prometheus configuration name.
  const server = parseProxyServer(need('server')).origin;
  const manifest = loadManifest(need('manifest'));
  const reference = loadReferenceValues(need('reference-values'));
  const crlFiles = values.crl ?? [];
  if (crlFiles.length > MAX_CRL_FILES) throw new ShadowplaneError('SP_USAGE', `--crl may be given at most ${MAX_CRL_FILES} times`);
  const revocation = loadRevocationPolicy({ files: crlFiles, requireCrls: values['require-crls'] ?? false, option: '--crl' });
  const prometheusConfig = values['prometheus-config'];
  // Without a user's certificate only the Prometheus configuration is written.
  const kubeconfigWanted =
    prometheusConfig === undefined || (['client-cert', 'client-key', 'out', 'token-file', 'namespace', 'context'] as const).some((flag) => values[flag] !== undefined);
  const allowSimulated = values['allow-simulated'] ?? false;

  // Usage errors and credential checks before any network traffic.
  let userAndKeys: { user: ManifestUser; certPem: string; keyPem: string; token: string | undefined } | undefined;
  if (kubeconfigWanted) {
    const certPem = readText(need('client-cert'), 'client certificate');
    const keyPem = readText(need('client-key'), 'client key');
    const token = values['token-file'] === undefined ? undefined : readText(values['token-file'], 'token').trim();
    const certKey = matchingKeyPair(certPem, keyPem, need('client-cert'), need('client-key'));
    const user = userByKey(manifest, spkiSha256Hex(certKey));
    if (user === undefined) throw new ShadowplaneError('SP_USAGE', 'your client certificate\'s key is not a user of this manifest: ask its owner to add your public key');
    if (manifest.upstream.auth === 'forward-token' && token === undefined) {
      process.stderr.write('note: the proxy forwards your upstream token (forward-token mode) but no --token-file was given\n');
    }
    userAndKeys = { user, certPem, keyPem, token };
  }
  const scraper = prometheusConfig === undefined ? undefined : scraperCredential(values['scraper-cert'], values['scraper-key'], values['scraper-token-file']);
  const scraperName = scraper === undefined ? undefined : scraperOfManifest(manifest, scraper);
  if (allowSimulated) process.stderr.write(`${SIMULATED_BANNER}\n`);
  for (const line of [...referenceValuesWarnings(reference), ...revocationWarnings(revocation, [reference], '--crl FILE and --require-crls')]) process.stderr.write(`warning: ${line}\n`);

  const verified = await verifyProxy({
    server,
    reference,
    expectedManifestDigest: manifest.digest,
    allowSimulated,
    revocation,
    ...(values['tls-server-name'] === undefined ? {} : { tlsServerName: values['tls-server-name'] }),
  });

  if (userAndKeys !== undefined) {
    const kubeconfig = renderKubeconfig({
      server,
      certificatePem: verified.certificate.toString(),
      tlsServerName: values['tls-server-name'],
      context: values.context ?? `shadowplane-${manifest.name}`,
      namespace: values.namespace,
      userName: userAndKeys.user.name,
      clientCertPem: userAndKeys.certPem,
      clientKeyPem: userAndKeys.keyPem,
      token: userAndKeys.token,
      verified,
      manifestDigestHex: manifest.digestHex,
    });
    // It holds the client key (and maybe a token): 0600 whatever file it replaces.
    if (values.out === undefined) process.stdout.write(kubeconfig);
    else writeOutput(values.out, kubeconfig, 0o600, '--out');
  }
  if (values['evidence-out'] !== undefined) writeOutput(values['evidence-out'], `${JSON.stringify(verified.response, null, 2)}\n`, 0o644, '--evidence-out');
  if (prometheusConfig !== undefined && scraper !== undefined) {
    const caFile = resolve(values['prometheus-ca-file'] ?? `${prometheusConfig}.ca.pem`);
    // The pinned certificate is public; the configuration names the scraper's credential files and is kept private.
    writeOutput(caFile, verified.certificate.toString(), 0o644, '--prometheus-ca-file');
    writeOutput(
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
      0o600,
      '--prometheus-config',
    );
  }

  const e = verified.evidence;
  const expiry = servingCertificateExpiry(verified.certificate, new Date());
  process.stderr.write(
    [
      `verified shadowplane proxy at ${server}`,
      `  platform       ${e.platform}${e.simulated ? '  (SIMULATED: proves nothing)' : ''}`,
      `  measurement    ${e.measurement}`,
      `  reference      entry ${JSON.stringify(e.referenceName)} of ${reference.source}`,
      `  manifest       ${verified.manifestName} sha256:${manifest.digestHex}`,
      `  serving key    sha256:${verified.servingKeySha256} (pinned in the ${userAndKeys === undefined ? 'Prometheus configuration' : 'kubeconfig'})`,
      `  valid until    ${expiry.notAfter.toISOString()} (the serving certificate's notAfter: verify again after the proxy restarts)`,
      `  freshness      answered a fresh 32-byte nonce on this connection`,
      userAndKeys === undefined ? '' : `  you are        ${userAndKeys.user.name}${userAndKeys.user.groups.length > 0 ? ` (groups ${userAndKeys.user.groups.join(', ')})` : ''}`,
      scraperName === undefined ? '' : `  scraper        ${scraperName}`,
      values.out === undefined ? '' : `wrote ${values.out}; use: KUBECONFIG=${values.out} kubectl get pods`,
      prometheusConfig === undefined ? '' : `wrote ${prometheusConfig} (Prometheus scrape configuration)`,
      '',
    ].join('\n'),
  );
  if (expiry.expiresSoon) {
    process.stderr.write(`warning: the proxy's serving certificate expires at ${expiry.notAfter.toISOString()}: the proxy must be restarted and verified again before then\n`);
  }
  return 0;
}

/**
 * The public key of the client certificate, once the client key is known to be its
 * private half: kubectl would otherwise fail only later ("private key does not match
 * public key"). Nothing of either file is quoted in the errors.
 */
function matchingKeyPair(certPem: string, keyPem: string, certFile: string, keyFile: string): KeyObject {
  let certKey: KeyObject;
  try {
    // A certificate, not any key: createPublicKey would take the private key too.
    certKey = new X509Certificate(certPem).publicKey;
  } catch {
    throw new ShadowplaneError('SP_USAGE', `--client-cert ${certFile} is not a PEM certificate`);
  }
  let publicOfKey: KeyObject;
  try {
    publicOfKey = createPublicKey(createPrivateKey(keyPem));
  } catch {
    throw new ShadowplaneError('SP_USAGE', `--client-key ${keyFile} is not an unencrypted PEM private key`);
  }
  const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
  if (!spki(certKey).equals(spki(publicOfKey))) {
    throw new ShadowplaneError('SP_USAGE', `--client-key ${keyFile} is not the key of --client-cert ${certFile} (their public keys differ): pass the key made with that certificate (shadowplane keygen writes NAME.key beside NAME.crt)`);
  }
  return certKey;
}

/** Writes one output file whole with `mode` (src/config/output-file.ts); a failure names the option and the errno code. */
function writeOutput(path: string, data: string, mode: number, option: string): void {
  try {
    writeOutputFile(path, data, { mode });
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `cannot write ${option} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

/**
 * The name of the manifest scraper whose credential Prometheus will read, checked here
 * when the files are readable on this machine (a certificate's key or a token's SHA-256
 * must be listed, as the proxy will check them); `(not checked)` when they are not.
 */
function scraperOfManifest(manifest: Manifest, credential: ScraperCredential): string {
  let found: { name: string } | undefined;
  if ('certFile' in credential) {
    let pem: string;
    try {
      pem = readBoundedFile(credential.certFile, MAX_CREDENTIAL_FILE_BYTES).toString('utf8');
    } catch (err) {
      if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `--scraper-cert ${credential.certFile}: ${err.detail}`);
      process.stderr.write(`note: ${credential.certFile} is not readable here; the scraper certificate was not checked against the manifest\n`);
      return '(not checked)';
    }
    let key: string;
    try {
      key = spkiSha256Hex(new X509Certificate(pem).publicKey);
    } catch {
      throw new ShadowplaneError('SP_USAGE', `the scraper certificate ${credential.certFile} is not a PEM certificate`);
    }
    found = scraperByKey(manifest, key);
    if (found === undefined) throw new ShadowplaneError('SP_USAGE', "the scraper certificate's key is not a scraper of this manifest: ask its owner to add it under scrapers");
  } else {
    let token: string;
    try {
      // Prometheus trims the credentials file as it reads it.
      token = readBoundedFile(credential.tokenFile, MAX_CREDENTIAL_FILE_BYTES).toString('utf8').trim();
    } catch (err) {
      if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `--scraper-token-file ${credential.tokenFile}: ${err.detail}`);
      process.stderr.write(`note: ${credential.tokenFile} is not readable here; the scraper token was not checked against the manifest\n`);
      return '(not checked)';
    }
    found = scraperByToken(manifest, token);
    if (found === undefined) throw new ShadowplaneError('SP_USAGE', "the scraper token's SHA-256 is not a scraper of this manifest: ask its owner to add it under scrapers");
  }
  return found.name;
}

type ScraperCredential = { certFile: string; keyFile: string } | { tokenFile: string };

/** The scraper credential paths for the Prometheus configuration: a certificate and key, or a token file. */
function scraperCredential(cert: string | undefined, key: string | undefined, tokenFile: string | undefined): ScraperCredential {
  if (tokenFile !== undefined && cert === undefined && key === undefined) return { tokenFile: resolve(tokenFile) };
  if (tokenFile === undefined && cert !== undefined && key !== undefined) return { certFile: resolve(cert), keyFile: resolve(key) };
  throw new ShadowplaneError('SP_USAGE', '--prometheus-config needs --scraper-cert and --scraper-key, or --scraper-token-file');
}

/** A certificate, key or token is far below this; a device or a growing file is not read past it (bounded-file.ts). */
const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;

function readText(path: string, what: string): string {
  try {
    return readBoundedFile(path, MAX_CREDENTIAL_FILE_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `the ${what} file ${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_USAGE', `cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
