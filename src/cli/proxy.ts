/** `shadowplane proxy`: wiring of options, manifest, attestation and the proxy. */
import { revocationWarnings, referenceValuesWarnings, watchRevocationFiles } from '../attestation/index.ts';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { helpAsked } from '../config/flags.ts';
import { type Manifest, loadManifest } from '../config/manifest.ts';
import { type ManifestSignaturePayload, readManifestSignature } from '../config/manifest-signature.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import { parseProxyOptions } from '../config/proxy-options.ts';
import { type Logger, createLogger } from '../log.ts';
import { startShadowplaneProxy } from '../proxy/assemble.ts';
import { createIssuer } from './issuer.ts';

export const PROXY_USAGE = `shadowplane proxy --manifest FILE [options]

  --manifest FILE               the owner's manifest (YAML or JSON)         env SHADOWPLANE_MANIFEST
  --manifest-signature FILE     the owner's signature of it ('shadowplane manifest sign'), for
                                agents that pin the owner's key instead of the digest
  --listen HOST:PORT            default 0.0.0.0:8443                         env SHADOWPLANE_LISTEN
  --san NAME                    serving certificate name/IP (repeatable; default localhost, 127.0.0.1)
  --tee auto|sev-snp|tdx|simulated   evidence source, default auto          env SHADOWPLANE_TEE
  --simulated-dir DIR           from 'shadowplane simulate init' (with --tee simulated)
  --allow-simulated-agents      accept agents with simulated evidence (development only)
  --crl FILE                    a vendor CRL (DER or PEM) applied to every agent's chain;
                                repeatable, at most 16; read at start and followed (a
                                changed file is loaded again within a minute, only forward)
                                (default none: only CRLs the agent sends are applied, and
                                that is warned about; 'shadowplane crl fetch' gets them)
  --require-crls                refuse an agent unless every CRL issuer on its chain has a
                                current CRL among --crl (default off; docs/attestation.md)
  --in-cluster-dir DIR          service-account mount (credential source in-cluster)
  --upstream-connect-timeout D  default 5s
  --serving-cert-validity D     default 720h; the proxy exits (status 1) when it ends, and
                                users verify the restarted proxy again
  --max-header-bytes N          default 65536
  --metrics-hash-key-file FILE  key for hashed metric label values (32..1024 raw bytes, from
                                attested key release or sealed storage); default: 32 random
                                bytes per process (hashed values change when it restarts)
  --log-level LEVEL             default info                                 env SHADOWPLANE_LOG_LEVEL`;

export async function runProxyCommand(argv: readonly string[]): Promise<number> {
  if (helpAsked(argv)) {
    process.stdout.write(`${PROXY_USAGE}\n`);
    return 0;
  }
  const options = parseProxyOptions(argv);
  const logger = createLogger({ level: options.logLevel, name: 'shadowplane-proxy' });
  const manifest = loadManifest(options.manifestPath);
  const manifestSignature = options.manifestSignaturePath === undefined ? undefined : readSignatureFor(options.manifestSignaturePath, manifest, logger);
  // Before the issuer: a bad CRL file or an unannounced weakening stops or warns at start.
  // The files are followed afterwards: refreshed CRLs take effect without a restart.
  const revocation = watchRevocationFiles({ files: options.crlFiles, requireCrls: options.requireCrls, option: '--crl', logger });
  const references = manifest.workloads.map((w) => w.referenceValues);
  for (const line of [...references.flatMap((r) => referenceValuesWarnings(r)), ...revocationWarnings(revocation.initial, references, '--crl FILE and --require-crls')]) {
    logger.warn(line);
  }
  const issuer = await createIssuer({ tee: options.tee, simulatedDir: options.simulatedDir, logger });
  const metricsHashKey = options.metricsHashKeyFile === undefined ? undefined : readHashKey(options.metricsHashKeyFile);
  // Set before the proxy starts: a certificate already expired then is noticed too.
  let expiredEarly = false;
  let expired = (): void => {
    expiredEarly = true;
  };
  const proxy = await startShadowplaneProxy({
    manifest,
    ...(manifestSignature === undefined ? {} : { manifestSignature }),
    issuer,
    allowSimulatedAgents: options.allowSimulatedAgents,
    revocation,
    ...(metricsHashKey === undefined ? {} : { metricsHashKey }),
    listen: options.listen,
    subjectAltNames: options.subjectAltNames,
    servingCertValidityMs: options.servingCertValidityMs,
    inClusterDir: options.inClusterDir,
    upstreamConnectTimeoutMs: options.upstreamConnectTimeoutMs,
    maxHeaderBytes: options.maxHeaderBytes,
    // No client accepts an expired certificate: exit, so that the orchestrator starts a new
    // proxy (new key, new attestation), which users then verify again.
    onServingCertExpired: () => expired(),
    logger,
  });
  const reason = await new Promise<'signal' | 'expired'>((resolve) => {
    const stop = (): void => resolve('signal');
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    expired = () => resolve('expired');
    if (expiredEarly) resolve('expired');
  });
  logger.info({ reason }, 'shutting down');
  await proxy.close();
  // Expired: logged above as an error; the exit status tells the orchestrator to restart it.
  return reason === 'expired' ? 1 : 0;
}

/**
 * The owner's signature of the manifest, checked to be for this manifest (the proxy
 * holds no owner key: whether it is genuine is for the agents to judge). A signature for
 * another manifest stops the start, since every agent pinning the key would refuse.
 */
function readSignatureFor(path: string, manifest: Manifest, logger: Logger): string {
  let text: string;
  try {
    text = readBoundedFile(path, 4096).toString('utf8').trim();
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `--manifest-signature: ${err.detail}`);
    throw new ShadowplaneError('SP_USAGE', `--manifest-signature cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let payload: ManifestSignaturePayload;
  try {
    payload = readManifestSignature(text);
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `--manifest-signature: ${isShadowplaneError(err) ? err.detail : 'not a manifest signature'}`);
  }
  if (payload.sha256 !== manifest.digestHex) {
    throw new ShadowplaneError('SP_USAGE', `--manifest-signature is for manifest sha256:${payload.sha256.slice(0, 16)}…, not for the loaded sha256:${manifest.digestHex.slice(0, 16)}…`);
  }
  if (payload.notAfter !== undefined && Date.parse(payload.notAfter) <= Date.now()) throw new ShadowplaneError('SP_USAGE', `--manifest-signature expired at ${payload.notAfter}`);
  logger.info({ serial: payload.serial, notAfter: payload.notAfter ?? null }, 'manifest signature loaded; agents that pin the owner key will check it');
  return text;
}

/** The delivered metrics hash key: raw bytes of a regular file, read to at most the bound (bounded-file.ts). */
function readHashKey(path: string): Buffer {
  let key: Buffer;
  try {
    key = readBoundedFile(path, 1024);
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `--metrics-hash-key-file: ${err.detail}`);
    throw new ShadowplaneError('SP_USAGE', `--metrics-hash-key-file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (key.length < 32) throw new ShadowplaneError('SP_USAGE', '--metrics-hash-key-file must hold 32 to 1024 bytes');
  return key;
}
