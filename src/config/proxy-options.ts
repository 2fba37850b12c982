/**
 * Runtime options of `shadowplane proxy`: command-line flags, then SHADOWPLANE_* environment
 * variables, then the documented defaults. Parsed once, validated, frozen.
 */
import { MAX_CRL_FILES } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import type { LogLevel } from '../log.ts';
import { deepFreeze } from './validate.ts';
import { parseDuration, parseHostPort, parseLogLevel, parseTee, type TeeChoice } from './option-values.ts';
import { parseFlags } from './flags.ts';

export interface ProxyOptions {
  /** Path of the manifest (YAML or JSON). Required. Env SHADOWPLANE_MANIFEST. */
  readonly manifestPath: string;
  /** Path of the owner's signature of the manifest (`shadowplane manifest sign`). Default none. */
  readonly manifestSignaturePath: string | undefined;
  /** Listen address. Default 0.0.0.0:8443. Env SHADOWPLANE_LISTEN. */
  readonly listen: { readonly host: string; readonly port: number };
  /** DNS names and IP addresses of the serving certificate. Default: localhost, 127.0.0.1 and the listen host. */
  readonly subjectAltNames: readonly string[];
  /** Evidence source. Default `auto` (configfs-tsm provider). Env SHADOWPLANE_TEE. */
  readonly tee: TeeChoice;
  /** Directory made by `shadowplane simulate init` (for --tee simulated). Env SHADOWPLANE_SIMULATED_DIR. */
  readonly simulatedDir: string | undefined;
  /** Accept agents whose evidence is simulated. Default false; loud when true. */
  readonly allowSimulatedAgents: boolean;
  /**
   * CRL files (DER or PEM, at most 16) applied to every agent's vendor chain in addition to
   * CRLs the agent sends, read once at start (`--crl`, repeatable). Default none, which is
   * announced loudly when the manifest accepts real (non-simulated) platforms.
   */
  readonly crlFiles: readonly string[];
  /**
   * Require a current CRL from every CRL issuer on an agent's chain (`--require-crls`).
   * Default false, so that the simulated/development set-up works without CRLs; see
   * docs/attestation.md, revocation.
   */
  readonly requireCrls: boolean;
  /** Service-account mount for `credential.source: in-cluster`. Default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly inClusterDir: string;
  /** Upstream connect timeout. Default 5 s. */
  readonly upstreamConnectTimeoutMs: number;
  /** Serving certificate lifetime. Default 30 days (the key lives as long as the process). */
  readonly servingCertValidityMs: number;
  /** Largest request header block. Default 64 KiB. */
  readonly maxHeaderBytes: number;
  /**
   * File holding the metrics hash key (raw bytes, 32 to 1024), e.g. from attested key
   * release or sealed storage. Default none: a random key for the process's lifetime.
   */
  readonly metricsHashKeyFile: string | undefined;
  /** Default info. Env SHADOWPLANE_LOG_LEVEL. */
  readonly logLevel: LogLevel;
}

export function parseProxyOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ProxyOptions {
  const values = parseFlags(argv, {
    manifest: { type: 'string' },
    'manifest-signature': { type: 'string' },
    listen: { type: 'string' },
    san: { type: 'string', multiple: true },
    tee: { type: 'string' },
    'simulated-dir': { type: 'string' },
    'allow-simulated-agents': { type: 'boolean' },
    crl: { type: 'string', multiple: true },
    'require-crls': { type: 'boolean' },
    'in-cluster-dir': { type: 'string' },
    'upstream-connect-timeout': { type: 'string' },
    'serving-cert-validity': { type: 'string' },
    'max-header-bytes': { type: 'string' },
    'metrics-hash-key-file': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const manifestPath = values.manifest ?? env.SHADOWPLANE_MANIFEST;
  if (manifestPath === undefined || manifestPath === '') throw new ShadowplaneError('SP_USAGE', '--manifest FILE is required');
  const listen = parseHostPort(values.listen ?? env.SHADOWPLANE_LISTEN ?? '0.0.0.0:8443', '--listen');
  const sans = values.san ?? ['localhost', '127.0.0.1', ...(listen.host === '0.0.0.0' || listen.host === '::' ? [] : [listen.host])];
  const maxHeaderBytes = Number(values['max-header-bytes'] ?? 64 * 1024);
  if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes < 4096 || maxHeaderBytes > 1024 * 1024) {
    throw new ShadowplaneError('SP_USAGE', '--max-header-bytes must be an integer between 4096 and 1048576');
  }
  const crlFiles = values.crl ?? [];
  if (crlFiles.length > MAX_CRL_FILES) throw new ShadowplaneError('SP_USAGE', `--crl may be given at most ${MAX_CRL_FILES} times`);
  return deepFreeze({
    manifestPath,
    manifestSignaturePath: values['manifest-signature'],
    listen,
    subjectAltNames: [...new Set(sans)],
    tee: parseTee(values.tee ?? env.SHADOWPLANE_TEE ?? 'auto', '--tee'),
    simulatedDir: values['simulated-dir'] ?? env.SHADOWPLANE_SIMULATED_DIR,
    allowSimulatedAgents: values['allow-simulated-agents'] ?? false,
    crlFiles,
    requireCrls: values['require-crls'] ?? false,
    inClusterDir: values['in-cluster-dir'] ?? '/var/run/secrets/kubernetes.io/serviceaccount',
    upstreamConnectTimeoutMs: parseDuration(values['upstream-connect-timeout'] ?? '5s', '--upstream-connect-timeout'),
    servingCertValidityMs: parseDuration(values['serving-cert-validity'] ?? '720h', '--serving-cert-validity'),
    maxHeaderBytes,
    metricsHashKeyFile: values['metrics-hash-key-file'],
    logLevel: parseLogLevel(values['log-level'] ?? env.SHADOWPLANE_LOG_LEVEL ?? 'info', '--log-level'),
  });
}
