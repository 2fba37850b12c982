/**
 * Options of `shadowplane inject`, parsed at the edge, validated and frozen. Files are
 * read through an injected reader (told which option names the file, for its bound and
 * its messages) so that tests need no disk.
 *
 * Defaults: agent port = the manifest's `agent.port` (else 15443); tee `auto`; no
 * runtimeClassName change; no manifest pin (any manifest, with a warning); no owner
 * settings (`--agent-config`: the agent's defaults).
 */
import { parseFlags } from '../config/flags.ts';
import { parseConfigText, parseManifestText } from '../config/manifest.ts';
import { MAX_REFERENCE_VALUES_BYTES, parseReferenceValues } from '../attestation/reference-values.ts';
import { MAX_CRL_FILES } from '../attestation/revocation.ts';
import { deepFreeze } from '../config/validate.ts';
import { type ManifestSigner, manifestSigner } from '../config/manifest-signature.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import { agentConfigText, checkAgentConfigText, type AgentConfigInput, type InjectTee } from './agent-config-document.ts';
import { agentConfigResolver, CHECK_CONTAINER, checkContainerSettings, parseAgentSettings, type AgentSettingsFile } from './agent-settings.ts';
import { CRL_MOUNT, DEFAULT_AGENT_PORT } from './layout.ts';
import { INSTALL_USAGE } from './install.ts';
import type { PodSpecPlan } from './pod-spec.ts';
import { DNS_SUBDOMAIN, isContainerSelector } from '../config/dns-names.ts';

export const INJECT_USAGE = `shadowplane inject -f FILE [-f FILE...] --agent-image REF --proxy-reference-values FILE [options]

Adds the shadowplane agent to the Pods, Deployments, StatefulSets, DaemonSets, Jobs and
CronJobs of FILE (multi-document YAML; - reads stdin) and prints the result. Other
objects pass through unchanged. Run it on your own machine; pin the output with the
pod's policy. See docs/inject.md.

  -f, --filename FILE             input (repeatable; - for stdin)
  -o, --output FILE               write here instead of stdout
  --agent-image REF               the agent-runtime image, pinned by digest: name@sha256:...
  --allow-unpinned-image          development only: accept a tag (name:tag) for --agent-image,
                                  with a warning: the registry then chooses what the pods run
  --proxy-reference-values FILE   what the agents accept as the proxy's evidence
  --manifest FILE                 pin the proxy's manifest by digest (repeatable)
  --manifest-digest HEX           the same, by digest (repeatable)
  --manifest-signer FILE          accept any manifest signed by this owner public key (PEM,
                                  Ed25519 or ECDSA P-256/P-384; repeatable): the manifest can
                                  then pin the agents' policy digest (docs/deploy.md)
  --minimum-manifest-serial N     refuse signed manifests with a lower serial (default 0)
  --agent-port N                  default: the manifest's agent.port, else 15443
  --tee auto|sev-snp|tdx          the agents' evidence source, default auto
  --runtime-class NAME            set runtimeClassName (kata-qemu-snp, kata-qemu-tdx, contrast-cc...)
  --entrypoint [OBJECT/]CONTAINER=CMD
                                  the command of a container that has none in the spec: a path,
                                  or a JSON array ('["/entrypoint.sh","serve"]'); repeatable
  --log-level LEVEL               the agents' log level
  --agent-config FILE             agent settings that are yours to choose (logs, metrics,
                                  limits, certValidityMs, logLevel), for every container or
                                  per CONTAINER or OBJECT/CONTAINER under containers: (YAML;
                                  docs/inject.md). What inject pins is refused
  --crl-configmap NAME=KEY[,KEY]  vendor CRLs for the agents: the ConfigMap NAME (in each
                                  pod's namespace) mounted read-only, its KEYs applied to the
                                  proxy's chain (default none: warned at agent start)
  --require-crls                  the agents refuse a proxy without a current CRL from each
                                  CRL issuer among them (needs --crl-configmap)
  --tee simulated --simulated-dir DIR --allow-simulated-proxy
                                  development only: simulated attestation, proves nothing

${INSTALL_USAGE}`;

/** The options whose value is a file inject reads (`-f` aside). */
export type InjectFileOption = '--proxy-reference-values' | '--manifest' | '--manifest-signer' | '--agent-config';

export interface InjectOptions {
  readonly files: readonly string[];
  readonly output: string | undefined;
  readonly agentImage: string;
  /** The configuration of every wrapped container without settings of its own. */
  readonly agentConfigText: string;
  /** What `agentConfigText` is made of: the base of each container's own configuration. */
  readonly agentConfigInput: AgentConfigInput;
  /** `--agent-config`, if given. */
  readonly agentSettings: AgentSettingsFile | undefined;
  readonly port: number;
  readonly runtimeClassName: string | undefined;
  /** `container` or `object/container` → the command. */
  readonly entrypoints: ReadonlyMap<string, readonly string[]>;
  /** True when neither a manifest digest nor an owner key is pinned. */
  readonly anyManifest: boolean;
  readonly simulated: boolean;
  /** True when `agentImage` is a tag, not a digest (`--allow-unpinned-image`). */
  readonly unpinnedImage: boolean;
  /** The ConfigMap of vendor CRLs mounted into injected containers, if any. */
  readonly crlConfigMap: string | undefined;
}

const TEES: readonly InjectTee[] = ['auto', 'sev-snp', 'tdx', 'simulated'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** An image reference: [registry/]path[:tag][@sha256:hex], without spaces or controls. */
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;
/** The image is pinned: what the pod policy records is then one image, not whatever a tag names next. */
const PINNED_IMAGE = /@sha256:[0-9a-f]{64}$/;

function usage(message: string): never {
  throw new ShadowplaneError('SP_USAGE', message);
}

/** Parses `[OBJECT/]CONTAINER=CMD`; CMD is a path or a JSON array of strings. */
export function parseEntrypoint(text: string): [string, readonly string[]] {
  const eq = text.indexOf('=');
  if (eq <= 0) usage('--entrypoint must be [OBJECT/]CONTAINER=CMD');
  const selector = text.slice(0, eq);
  const value = text.slice(eq + 1);
  if (!isContainerSelector(selector)) usage('--entrypoint selector must be CONTAINER or OBJECT/CONTAINER (DNS names)');
  let command: unknown = [value];
  if (value.startsWith('[')) {
    try {
      command = JSON.parse(value) as unknown;
    } catch {
      usage('--entrypoint CMD starting with [ must be a JSON array of strings');
    }
  }
  if (!Array.isArray(command) || command.length === 0 || command.some((c) => typeof c !== 'string') || command[0] === '') {
    usage('--entrypoint CMD must be a non-empty path or JSON array of strings');
  }
  return [selector, command as string[]];
}

export function parseInjectOptions(argv: readonly string[], readFile: (path: string, option: InjectFileOption) => string): InjectOptions {
  const values = parseFlags(argv, {
    filename: { type: 'string', short: 'f', multiple: true },
    output: { type: 'string', short: 'o' },
    'agent-image': { type: 'string' },
    'allow-unpinned-image': { type: 'boolean' },
    'proxy-reference-values': { type: 'string' },
    manifest: { type: 'string', multiple: true },
    'manifest-digest': { type: 'string', multiple: true },
    'manifest-signer': { type: 'string', multiple: true },
    'minimum-manifest-serial': { type: 'string' },
    'agent-port': { type: 'string' },
    tee: { type: 'string' },
    'runtime-class': { type: 'string' },
    entrypoint: { type: 'string', multiple: true },
    'log-level': { type: 'string' },
    'simulated-dir': { type: 'string' },
    'allow-simulated-proxy': { type: 'boolean' },
    'crl-configmap': { type: 'string' },
    'require-crls': { type: 'boolean' },
    'agent-config': { type: 'string' },
  });
  const files = values.filename ?? [];
  if (files.length === 0) usage('inject needs at least one -f FILE (- for stdin)');
  const agentImage = values['agent-image'];
  if (agentImage === undefined) usage('--agent-image REF is required (pin it by digest)');
  if (agentImage.length > 512 || !IMAGE_REF.test(agentImage)) usage('--agent-image is not an image reference');
  const unpinnedImage = !PINNED_IMAGE.test(agentImage);
  if (unpinnedImage && values['allow-unpinned-image'] !== true) {
    usage('--agent-image must be pinned by digest (name@sha256:<64 hex>), so that the pods run the image whose reference values you publish; --allow-unpinned-image accepts a tag (development only)');
  }
  const rvPath = values['proxy-reference-values'];
  if (rvPath === undefined) usage('--proxy-reference-values FILE is required: the agents must know which proxy to trust');

  const referenceValues = parseConfigText(readFile(rvPath, '--proxy-reference-values'), rvPath, MAX_REFERENCE_VALUES_BYTES);
  const digests: string[] = [...(values['manifest-digest'] ?? [])].map((d) => d.toLowerCase().replace(/^sha256:/, ''));
  const ports = new Set<number>();
  for (const path of values.manifest ?? []) {
    const manifest = parseManifestText(readFile(path, '--manifest'), path);
    digests.push(manifest.digestHex);
    ports.add(manifest.agent.port);
  }
  const minimumSerialText = values['minimum-manifest-serial'] ?? '0';
  if (!/^[0-9]{1,10}$/.test(minimumSerialText) || Number(minimumSerialText) > 2 ** 31 - 1) usage('--minimum-manifest-serial must be 0..2147483647');
  if (values['minimum-manifest-serial'] !== undefined && values['manifest-signer'] === undefined) usage('--minimum-manifest-serial needs --manifest-signer');
  const manifestSigners = (values['manifest-signer'] ?? []).map((path) => {
    const text = readFile(path, '--manifest-signer');
    let signer: ManifestSigner;
    try {
      signer = manifestSigner(text);
    } catch (err) {
      usage(`--manifest-signer ${path}: ${isShadowplaneError(err) ? (err.detail ?? 'not an owner key') : 'not an owner key'}`);
    }
    // The key as re-exported, never the file's own text, which goes into the pod spec.
    return { publicKey: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString(), minimumSerial: Number(minimumSerialText) };
  });
  let port: number;
  if (values['agent-port'] !== undefined) {
    const text = values['agent-port'];
    if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) usage('--agent-port must be 1..65535');
    port = Number(text);
  } else {
    if (ports.size > 1) usage('the manifests name different agent ports; choose one with --agent-port');
    port = [...ports][0] ?? DEFAULT_AGENT_PORT;
  }
  const tee = values.tee ?? 'auto';
  if (!(TEES as readonly string[]).includes(tee)) usage(`--tee must be one of ${TEES.join(', ')}`);
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const runtimeClassName = values['runtime-class'];
  if (runtimeClassName !== undefined && !DNS_SUBDOMAIN.test(runtimeClassName)) usage('--runtime-class must be a DNS subdomain');
  const simulated = tee === 'simulated' || values['allow-simulated-proxy'] === true;
  // Every agent would refuse every proxy: say so now, not in each pod's log.
  const proxyPlatforms = new Set(parseReferenceValues(referenceValues, rvPath).entries.map((e) => e.platform));
  if (proxyPlatforms.size === 1 && proxyPlatforms.has('simulated') && values['allow-simulated-proxy'] !== true) {
    usage(`${rvPath} accepts only a simulated proxy, which the agents refuse without --allow-simulated-proxy (development only); for a real proxy give its reference values`);
  }

  const entrypoints = new Map<string, readonly string[]>();
  for (const e of values.entrypoint ?? []) {
    const [selector, command] = parseEntrypoint(e);
    if (entrypoints.has(selector)) usage(`--entrypoint ${selector} is given twice`);
    entrypoints.set(selector, command);
  }

  const crls = crlConfigMapOf(values['crl-configmap']);
  if (values['require-crls'] === true && crls === undefined) usage('--require-crls needs --crl-configmap: the agents must have CRLs to require');

  const settingsPath = values['agent-config'];
  const settings = settingsPath === undefined ? undefined : parseAgentSettings(readFile(settingsPath, '--agent-config'), settingsPath);
  if (settings?.all.logLevel !== undefined && logLevel !== undefined) usage(`--log-level and logLevel in --agent-config ${settingsPath} both set the agents' log level; give it once`);

  const agentConfigInput: AgentConfigInput = {
    proxyReferenceValues: referenceValues,
    allowedManifestDigests: digests,
    manifestSigners,
    port,
    tee: tee as InjectTee,
    simulatedDir: values['simulated-dir'],
    allowSimulatedProxy: values['allow-simulated-proxy'] ?? false,
    logLevel,
    crlFiles: crls === undefined ? [] : crls.keys.map((k) => `${CRL_MOUNT}/${k}`),
    requireCrls: values['require-crls'] ?? false,
    settings: settings?.all ?? {},
    stdinOnce: false,
  };
  const agentConfig = agentConfigText(agentConfigInput);
  // The agent's own loader judges every document before any input is read: the one every
  // container reads, and each `containers:` entry's over it (the pods' containers are
  // checked again, with all that applies to them, in agentConfigResolver).
  checkAgentConfigText(agentConfig, CHECK_CONTAINER, settings === undefined ? 'the agent configuration' : `--agent-config ${settings.source}`);
  if (settings !== undefined) checkContainerSettings(agentConfigInput, settings);
  return deepFreeze({
    files,
    output: values.output,
    agentImage,
    agentConfigText: agentConfig,
    agentConfigInput,
    agentSettings: settings,
    port,
    runtimeClassName,
    entrypoints,
    anyManifest: digests.length === 0 && manifestSigners.length === 0,
    simulated,
    unpinnedImage,
    crlConfigMap: crls?.name,
  });
}

/** ConfigMap keys: what Kubernetes allows (a file name in the mounted volume). */
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

/** `NAME=KEY[,KEY…]` of `--crl-configmap`: a ConfigMap name and its keys, at most MAX_CRL_FILES. */
function crlConfigMapOf(value: string | undefined): { name: string; keys: string[] } | undefined {
  if (value === undefined) return undefined;
  const eq = value.indexOf('=');
  const name = eq === -1 ? '' : value.slice(0, eq);
  const keys = eq === -1 ? [] : value.slice(eq + 1).split(',');
  if (!DNS_SUBDOMAIN.test(name) || keys.length === 0) usage('--crl-configmap must be NAME=KEY[,KEY...] (a ConfigMap name and the keys that hold CRLs)');
  if (keys.length > MAX_CRL_FILES) usage(`--crl-configmap names at most ${MAX_CRL_FILES} keys`);
  for (const k of keys) {
    if (!CONFIGMAP_KEY.test(k) || k === '.' || k === '..' || k.startsWith('..')) usage('--crl-configmap keys must be ConfigMap keys (letters, digits, - _ .)');
  }
  if (new Set(keys).size !== keys.length) usage('--crl-configmap names a key twice');
  return { name, keys };
}

/** The `--entrypoint` lookup (object-qualified first), remembering which selectors matched. */
export function entrypointResolver(entrypoints: ReadonlyMap<string, readonly string[]>): {
  readonly lookup: (objectName: string, container: string) => readonly string[] | undefined;
  readonly unused: () => string[];
} {
  const used = new Set<string>();
  return {
    lookup: (objectName, container) => {
      for (const key of [`${objectName}/${container}`, container]) {
        const command = entrypoints.get(key);
        if (command !== undefined) {
          used.add(key);
          return command;
        }
      }
      return undefined;
    },
    unused: () => [...entrypoints.keys()].filter((k) => !used.has(k)),
  };
}

/**
 * The pod-spec plan for these options. Without `containerConfigFor`, a resolver of its own
 * (agentConfigResolver: the settings apply all the same; only which entries matched is not
 * kept).
 */
export function podSpecPlan(
  options: InjectOptions,
  entrypointFor: PodSpecPlan['entrypointFor'],
  containerConfigFor: PodSpecPlan['containerConfigFor'] = agentConfigResolver(options).configFor,
): PodSpecPlan {
  return {
    agentImage: options.agentImage,
    agentConfigText: options.agentConfigText,
    port: options.port,
    runtimeClassName: options.runtimeClassName,
    crlConfigMap: options.crlConfigMap,
    entrypointFor,
    containerConfigFor,
  };
}
