/**
 * Configuration of `shadowplane agent [options] -- COMMAND [ARGS...]`, the in-pod agent.
 *
 * Sources, strongest first: command-line flags, the configuration file (`--config`,
 * YAML or JSON), environment variables (the downward API gives POD_NAMESPACE, POD_NAME,
 * POD_IP), then the defaults documented here and in docs/agent.md. This is the only
 * place the agent reads `process.env`. The result is validated and deep-frozen.
 *
 * The configuration file is part of what the pod's attestation measures (it ships in
 * the image or the pod policy): it holds the reference values the agent checks the
 * proxy against.
 */
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { MAX_CRL_FILES, MAX_RA_TLS_VALIDITY_MS } from '../attestation/index.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { LogLevel } from '../log.ts';
import { FileRefused, readBoundedFile } from './bounded-file.ts';
import { parseFlags } from './flags.ts';
import { type ManifestSigner, manifestSigner } from './manifest-signature.ts';
import { FieldReader, deepFreeze } from './validate.ts';
import { yamlErrorWhere } from './yaml-position.ts';
import { DNS_LABEL, DNS_SUBDOMAIN } from './dns-names.ts';

export interface AgentConfig {
  /** The pod, from the file or POD_NAMESPACE / POD_NAME (downward API). Required. */
  readonly pod: { readonly namespace: string; readonly name: string };
  /** This container's name (`--container`, file `container`, SHADOWPLANE_CONTAINER). Required. */
  readonly container: string;
  /** Where the channel listens. Default address: POD_IP, else 0.0.0.0. Default port 15443. */
  readonly listen: { readonly address: string; readonly port: number };
  /** Memory-backed directory shared by the pod's agents (unix sockets). Default /run/shadowplane/share. */
  readonly shareDir: string;
  readonly logs: {
    /** Memory-backed directory for this container's log files. Default /run/shadowplane/logs/<container>. */
    readonly dir: string;
    /** In-memory ring. Default 16 MiB. */
    readonly memoryBytes: number;
    /** One log file before rotation. Default 8 MiB. */
    readonly fileBytes: number;
    /** Files kept per run (current included). Default 2. */
    readonly files: number;
    /** Longer lines are split into partial pieces. Default 16 KiB (the CRI runtimes' size). */
    readonly maxLineBytes: number;
    /** Write log files only to a tmpfs/ramfs directory (else keep logs in memory only). Default true. */
    readonly requireMemoryBacked: boolean;
  };
  readonly attach: {
    /** Keep the workload's stdin open as a pipe that attach may write to. Default false. */
    readonly stdin: boolean;
    /** Close the workload's stdin when an attached client ends its stdin. Default false. */
    readonly stdinOnce: boolean;
    /** Run the workload on a pseudo-terminal (the container's `tty: true`). Default false. */
    readonly tty: boolean;
  };
  /** How the agent decides that a connecting proxy is genuine. */
  readonly proxy: {
    /** Reference values for the proxy's evidence (inline document), or null. */
    readonly referenceValues: unknown;
    /** The same, from a file; used when `referenceValues` is null. */
    readonly referenceValuesFile: string | null;
    /**
     * Manifest digests (64 hex) the proxy's evidence may bind. Default empty. With
     * `manifestSigners` a manifest is accepted when it is pinned here or signed; with
     * neither, any manifest is (logged loudly).
     */
    readonly allowedManifestDigests: readonly string[];
    /**
     * Owner keys whose manifest signatures the agent accepts (src/config/manifest-signature.ts),
     * each with the lowest serial it accepts from that key. Default none.
     */
    readonly manifestSigners: readonly ManifestSigner[];
    /** Accept simulated evidence. Default false. Development only; logged loudly. */
    readonly allowSimulated: boolean;
    /**
     * CRL files (DER or PEM, at most 16) applied to the proxy's vendor chain in addition to
     * CRLs the proxy sends, read once at start. Default none, which is logged loudly when
     * the proxy's reference values accept a real (non-simulated) platform.
     */
    readonly crlFiles: readonly string[];
    /**
     * Require a current CRL from every CRL issuer on the proxy's chain. Default false (the
     * simulated/development set-up has no CRLs); see docs/attestation.md, revocation.
     */
    readonly requireCrls: boolean;
  };
  /** Where this agent's own evidence comes from (its RA-TLS certificate). */
  readonly attestation: {
    /** `auto` (the platform's configfs-tsm provider), `sev-snp`, `tdx` or `simulated`. Default auto. SHADOWPLANE_TEE. */
    readonly tee: AgentTee;
    /** Directory from `shadowplane simulate init` (tee simulated). SHADOWPLANE_SIMULATED_DIR. */
    readonly simulatedDir: string | null;
    /** MEASUREMENT the simulated platform reports (96 hex). Default: the simulator's default. */
    readonly simulatedMeasurement: string | null;
    /** Lifetime of the agent's RA-TLS certificate; renewed at half of it. Default 24 h. */
    readonly certValidityMs: number;
  };
  /** Where the agent scrapes the workload when the proxy's policy names no target. Default port null (none), path /metrics. */
  readonly metrics: { readonly port: number | null; readonly path: string };
  readonly limits: {
    /** Concurrent operations per proxy session (HTTP/2 streams). Default 2048. */
    readonly maxConcurrentOperations: number;
    /** TLS handshake deadline. Default 10000 ms. */
    readonly handshakeTimeoutMs: number;
    /** Deadline for judging the proxy's evidence. Default 10000 ms. */
    readonly verifyTimeoutMs: number;
  };
  /** The workload: argv after `--`, the agent's environment minus SHADOWPLANE_*, its cwd. */
  readonly workload: {
    readonly command: string;
    readonly args: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    readonly cwd: string;
  };
  /** Default info. SHADOWPLANE_LOG_LEVEL. */
  readonly logLevel: LogLevel;
}

export type AgentTee = 'auto' | 'sev-snp' | 'tdx' | 'simulated';

export const AGENT_DEFAULTS = {
  port: 15443,
  shareDir: '/run/shadowplane/share',
  logsRoot: '/run/shadowplane/logs',
  memoryBytes: 16 * 1024 * 1024,
  fileBytes: 8 * 1024 * 1024,
  files: 2,
  maxLineBytes: 16 * 1024,
  metricsPath: '/metrics',
  maxConcurrentOperations: 2048,
  handshakeTimeoutMs: 10_000,
  verifyTimeoutMs: 10_000,
  certValidityMs: 24 * 3_600_000,
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const FILE_KEYS = ['pod', 'container', 'listen', 'shareDir', 'logs', 'attach', 'proxy', 'attestation', 'metrics', 'limits', 'logLevel'] as const;
const TEES: readonly AgentTee[] = ['auto', 'sev-snp', 'tdx', 'simulated'];
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface AgentConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Injected for tests; default: read within the configuration's size bound (bounded-file.ts). */
  readonly readFile?: (path: string) => Buffer;
}

function usage(message: string): never {
  throw new ShadowplaneError('SP_USAGE', message);
}

function invalid(message: string): never {
  throw new ShadowplaneError('SP_CONFIG_INVALID', message);
}

/**
 * The agent's own flags, before `--`: the same parser as every subcommand (flags.ts), so
 * a negative number such as `--port -1` reaches the range check instead of being refused
 * as an "ambiguous" value.
 */
function agentFlags(argv: readonly string[]) {
  const split = argv.indexOf('--');
  if (split === -1) usage('agent needs the workload after --: shadowplane agent [options] -- COMMAND [ARGS...]');
  const command = argv.slice(split + 1);
  if (command.length === 0 || command[0] === '') usage('agent needs a command after --');
  const values = parseFlags(argv.slice(0, split), {
    config: { type: 'string' },
    container: { type: 'string' },
    'listen-address': { type: 'string' },
    port: { type: 'string' },
    'share-dir': { type: 'string' },
    'log-dir': { type: 'string' },
    'attach-stdin': { type: 'boolean' },
    'attach-tty': { type: 'boolean' },
    'allow-simulated': { type: 'boolean' },
    tee: { type: 'string' },
    'simulated-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  return { values, command };
}

function readDocument(path: string, readFile: (path: string) => Buffer): unknown {
  let bytes: Buffer;
  try {
    bytes = readFile(path);
  } catch (err) {
    if (err instanceof FileRefused) return invalid(`configuration file ${path}: ${err.detail}`);
    return invalid(`configuration file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (bytes.length > MAX_CONFIG_BYTES) invalid(`configuration file exceeds ${MAX_CONFIG_BYTES} bytes`);
  const text = bytes.toString('utf8');
  try {
    return parseYaml(text, { maxAliasCount: 16, prettyErrors: false }) as unknown;
  } catch (err) {
    return invalid(`configuration file is not valid YAML or JSON${yamlErrorWhere(text, err)}`);
  }
}

function portOf(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) usage(`${what} must be a port 1..65535`);
  return Number(text);
}

/** Parses, validates and freezes the agent configuration. */
export function loadAgentConfig(sources: AgentConfigSources): AgentConfig {
  const { values: flags, command } = agentFlags(sources.argv);
  const env = sources.env;
  const configPath = flags.config ?? env['SHADOWPLANE_AGENT_CONFIG'];
  const doc = configPath === undefined ? {} : readDocument(configPath, sources.readFile ?? ((path) => readBoundedFile(path, MAX_CONFIG_BYTES)));
  const root = new FieldReader(doc ?? {}, '', 'SP_CONFIG_INVALID').object(FILE_KEYS);

  const podField = root.optional('pod')?.object(['namespace', 'name']);
  const namespace = podField?.optional('namespace')?.string({ maxLength: 63, pattern: DNS_LABEL, patternHint: 'must be a DNS label' }) ?? env['POD_NAMESPACE'];
  const podName = podField?.optional('name')?.string({ maxLength: 253, pattern: DNS_SUBDOMAIN, patternHint: 'must be a DNS subdomain' }) ?? env['POD_NAME'];
  if (namespace === undefined || !DNS_LABEL.test(namespace)) invalid('pod.namespace (or POD_NAMESPACE from the downward API) is required and must be a DNS label');
  if (podName === undefined || !DNS_SUBDOMAIN.test(podName)) invalid('pod.name (or POD_NAME from the downward API) is required and must be a DNS subdomain');

  const container = flags.container ?? root.optional('container')?.string({ maxLength: 63 }) ?? env['SHADOWPLANE_CONTAINER'];
  if (container === undefined || !DNS_LABEL.test(container)) invalid('container (--container or SHADOWPLANE_CONTAINER) is required and must be a DNS label');

  const listenField = root.optional('listen')?.object(['address', 'port']);
  const address = flags['listen-address'] ?? listenField?.optional('address')?.string({ maxLength: 64 }) ?? env['POD_IP'] ?? '0.0.0.0';
  if (isIP(address) === 0) invalid('listen.address must be an IP address');
  const port = flags.port !== undefined ? portOf(flags.port, '--port') : (listenField?.optional('port')?.integer({ min: 1, max: 65535 }) ?? AGENT_DEFAULTS.port);

  const shareDir = flags['share-dir'] ?? root.optional('shareDir')?.string() ?? AGENT_DEFAULTS.shareDir;

  const logsField = root.optional('logs')?.object(['dir', 'memoryBytes', 'fileBytes', 'files', 'maxLineBytes', 'requireMemoryBacked']);
  const maxLineBytes = logsField?.optional('maxLineBytes')?.integer({ min: 1024, max: 1024 * 1024 }) ?? AGENT_DEFAULTS.maxLineBytes;
  const logs = {
    dir: flags['log-dir'] ?? logsField?.optional('dir')?.string() ?? `${AGENT_DEFAULTS.logsRoot}/${container}`,
    memoryBytes: logsField?.optional('memoryBytes')?.integer({ min: 64 * 1024, max: 1024 * 1024 * 1024 }) ?? AGENT_DEFAULTS.memoryBytes,
    fileBytes: logsField?.optional('fileBytes')?.integer({ min: 64 * 1024, max: 1024 * 1024 * 1024 }) ?? AGENT_DEFAULTS.fileBytes,
    files: logsField?.optional('files')?.integer({ min: 1, max: 16 }) ?? AGENT_DEFAULTS.files,
    maxLineBytes,
    requireMemoryBacked: logsField?.optional('requireMemoryBacked')?.boolean() ?? true,
  };
  // A file must hold a few of the longest lines (plus their CRI prefixes).
  if (logs.fileBytes < 4 * (maxLineBytes + 64)) invalid('logs.fileBytes must be at least four times logs.maxLineBytes');

  const attachField = root.optional('attach')?.object(['stdin', 'stdinOnce', 'tty']);
  const attach = {
    stdin: flags['attach-stdin'] ?? attachField?.optional('stdin')?.boolean() ?? false,
    stdinOnce: attachField?.optional('stdinOnce')?.boolean() ?? false,
    tty: flags['attach-tty'] ?? attachField?.optional('tty')?.boolean() ?? false,
  };

  const proxyField = root.optional('proxy')?.object(['referenceValues', 'referenceValuesFile', 'allowedManifestDigests', 'manifestSigners', 'allowSimulated', 'crlFiles', 'requireCrls']);
  const referenceValuesField = proxyField?.optional('referenceValues');
  const rawReference = referenceValuesField?.raw;
  if (referenceValuesField !== undefined && (typeof rawReference !== 'object' || Array.isArray(rawReference))) referenceValuesField.fail('must be a reference values document (an object)');
  const proxy = {
    referenceValues: referenceValuesField?.raw ?? null,
    referenceValuesFile: proxyField?.optional('referenceValuesFile')?.string() ?? null,
    allowedManifestDigests: (proxyField?.optional('allowedManifestDigests')?.stringList({ maxItems: 64, item: { pattern: /^[0-9a-f]{64}$/, patternHint: 'must be 64 lower-case hex digits' } }) ?? []),
    manifestSigners: (proxyField?.optional('manifestSigners')?.array({ maxItems: 16 }) ?? []).map((item) => {
      const o = item.object(['publicKey', 'minimumSerial']);
      const keyField = o.required('publicKey');
      const publicKey = keyField.string({ maxLength: 4096 });
      const minimumSerial = o.optional('minimumSerial')?.integer({ min: 0, max: 2 ** 31 - 1 }) ?? 0;
      try {
        return manifestSigner(publicKey, minimumSerial);
      } catch (err) {
        return keyField.fail(isShadowplaneError(err) ? (err.detail ?? 'is not a manifest owner key') : 'is not a manifest owner key');
      }
    }),
    allowSimulated: flags['allow-simulated'] ?? proxyField?.optional('allowSimulated')?.boolean() ?? false,
    crlFiles: proxyField?.optional('crlFiles')?.stringList({ maxItems: MAX_CRL_FILES, item: { maxLength: 4096 } }) ?? [],
    requireCrls: proxyField?.optional('requireCrls')?.boolean() ?? false,
  };
  if (proxy.referenceValues !== null && proxy.referenceValuesFile !== null) invalid('proxy.referenceValues and proxy.referenceValuesFile are exclusive');

  const attestationField = root.optional('attestation')?.object(['tee', 'simulatedDir', 'simulatedMeasurement', 'certValidityMs']);
  const teeText = flags.tee ?? attestationField?.optional('tee')?.string() ?? env['SHADOWPLANE_TEE'] ?? 'auto';
  if (!(TEES as readonly string[]).includes(teeText)) invalid(`attestation.tee must be one of ${TEES.join(', ')}`);
  const attestation = {
    tee: teeText as AgentTee,
    simulatedDir: flags['simulated-dir'] ?? attestationField?.optional('simulatedDir')?.string() ?? env['SHADOWPLANE_SIMULATED_DIR'] ?? null,
    simulatedMeasurement: attestationField?.optional('simulatedMeasurement')?.string({ pattern: /^[0-9a-f]{96}$/, patternHint: 'must be 96 lower-case hex digits' }) ?? null,
    certValidityMs: attestationField?.optional('certValidityMs')?.integer({ min: 60_000, max: MAX_RA_TLS_VALIDITY_MS }) ?? AGENT_DEFAULTS.certValidityMs,
  };
  if (attestation.tee === 'simulated' && attestation.simulatedDir === null) invalid('attestation.simulatedDir (or SHADOWPLANE_SIMULATED_DIR) is required with tee simulated');

  const metricsField = root.optional('metrics')?.object(['port', 'path']);
  const metrics = {
    port: metricsField?.optional('port')?.integer({ min: 1, max: 65535 }) ?? null,
    path: metricsField?.optional('path')?.string({ maxLength: 256, pattern: /^\/[\x21-\x7e]*$/, patternHint: 'must be an absolute URL path' }) ?? AGENT_DEFAULTS.metricsPath,
  };

  const limitsField = root.optional('limits')?.object(['maxConcurrentOperations', 'handshakeTimeoutMs', 'verifyTimeoutMs']);
  const limits = {
    maxConcurrentOperations: limitsField?.optional('maxConcurrentOperations')?.integer({ min: 1, max: 65_536 }) ?? AGENT_DEFAULTS.maxConcurrentOperations,
    handshakeTimeoutMs: limitsField?.optional('handshakeTimeoutMs')?.integer({ min: 100, max: 120_000 }) ?? AGENT_DEFAULTS.handshakeTimeoutMs,
    verifyTimeoutMs: limitsField?.optional('verifyTimeoutMs')?.integer({ min: 100, max: 120_000 }) ?? AGENT_DEFAULTS.verifyTimeoutMs,
  };

  const levelText = flags['log-level'] ?? root.optional('logLevel')?.string() ?? env['SHADOWPLANE_LOG_LEVEL'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(levelText)) invalid(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);

  const workloadEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !key.startsWith('SHADOWPLANE_')) workloadEnv[key] = value;
  }
  // The runtime's launcher moves the container's NODE_OPTIONS, LD_PRELOAD and LD_AUDIT aside
  // so that the agent's own Node does not apply them (scripts/build-image-launcher.c); they
  // are the workload's.
  for (const name of ['NODE_OPTIONS', 'LD_PRELOAD', 'LD_AUDIT']) {
    const value = env[`SHADOWPLANE_WORKLOAD_${name}`];
    if (value !== undefined) workloadEnv[name] = value;
  }

  return deepFreeze({
    pod: { namespace, name: podName },
    container,
    listen: { address, port },
    shareDir,
    logs,
    attach,
    proxy,
    attestation,
    metrics,
    limits,
    workload: { command: command[0] as string, args: command.slice(1), env: workloadEnv, cwd: sources.cwd },
    logLevel: levelText as LogLevel,
  });
}

/** The NODE_OPTIONS the agent's own Node was started with (src/agent/node-options.ts checks them). */
export function ownNodeOptions(): string | undefined {
  return process.env.NODE_OPTIONS;
}

/** The agent's own view of process.env and cwd, for the CLI. */
export function agentConfigFromProcess(argv: readonly string[]): AgentConfig {
  return loadAgentConfig({ argv, env: process.env, cwd: process.cwd() });
}
