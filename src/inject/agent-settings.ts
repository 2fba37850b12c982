/**
 * `shadowplane inject --agent-config FILE`: the agent settings that are the owner's to
 * choose, for every wrapped container or for some of them.
 *
 *   logs: { memoryBytes: 33554432 }             # every wrapped container
 *   containers:
 *     api: { metrics: { port: 9102 } }          # every container named api
 *     payments-api/worker: { logLevel: debug }  # only in the object named payments-api
 *
 * An allowlist: only the keys of OWNER_SETTINGS are taken. What inject pins for the pods'
 * security (the proxy the agents trust, their evidence source, where they listen, the
 * memory-backed volumes) is refused with what sets it instead, and anything else is an
 * unknown field: a new agent setting is not the owner's until it is listed here. Values
 * are not checked here but by the agent's own validation, on the very document inject
 * writes (agent-config-document.ts): one set of rules, the agent's.
 */
import { parseConfigText } from '../config/manifest.ts';
import { FieldReader } from '../config/validate.ts';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import { agentConfigText, checkAgentConfigText, type AgentConfigInput } from './agent-config-document.ts';
import { isContainerSelector } from '../config/dns-names.ts';

/** The bound of the file (read within it, bounded-file.ts): settings are a few lines. */
export const MAX_AGENT_SETTINGS_BYTES = 64 * 1024;

/** The owner's settings, by section of the agent configuration, in the order they are written. */
const OWNER_SETTINGS = {
  logs: ['memoryBytes', 'fileBytes', 'files', 'maxLineBytes'],
  attestation: ['certValidityMs'],
  metrics: ['port', 'path'],
  limits: ['maxConcurrentOperations', 'handshakeTimeoutMs', 'verifyTimeoutMs'],
} as const satisfies Readonly<Record<string, readonly string[]>>;

export type AgentSettingsSection = keyof typeof OWNER_SETTINGS;
export const AGENT_SETTINGS_SECTIONS = Object.keys(OWNER_SETTINGS) as readonly AgentSettingsSection[];

/** Settings as plain values, sections and keys in OWNER_SETTINGS order (so the output is too). */
export type AgentSettings = { readonly [S in AgentSettingsSection]?: Readonly<Record<string, unknown>> } & { readonly logLevel?: unknown };

/** What inject pins, and what sets it instead. */
const PINNED: Readonly<Record<string, string>> = {
  pod: 'the downward API gives the pod\'s name and namespace',
  container: 'each agent is given its container\'s name',
  listen: 'the agents listen on the pod IP at the agent port: --agent-port, or the manifest\'s agent.port',
  shareDir: 'the agents share sockets in inject\'s memory-backed volume',
  'logs.dir': 'the agents keep their log files in inject\'s memory-backed volume',
  'logs.requireMemoryBacked': 'log files are written only to memory-backed volumes',
  attach: 'set stdin, stdinOnce and tty on the container in the pod spec',
  proxy: 'the proxy the agents trust: --proxy-reference-values, --manifest, --manifest-digest, --manifest-signer, --crl-configmap, --require-crls, --allow-simulated-proxy',
  'attestation.tee': 'the agents\' evidence source: --tee',
  'attestation.simulatedDir': 'development only: --simulated-dir',
  'attestation.simulatedMeasurement': 'development only: the simulator\'s',
};

export interface AgentSettingsFile {
  /** The file, for messages. */
  readonly source: string;
  /** Settings of every wrapped container. */
  readonly all: AgentSettings;
  /** `CONTAINER` or `OBJECT/CONTAINER` → that container's settings, over `all`. */
  readonly containers: ReadonlyMap<string, AgentSettings>;
}

const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

function refusePinned(path: string, key: string): void {
  const reason = Object.hasOwn(PINNED, key) ? PINNED[key] : undefined;
  if (reason !== undefined) throw new ShadowplaneError('SP_USAGE', `${at(path, key)} is pinned by inject and cannot be set here (${reason})`);
}

/** A value as the agent will read it from JSON: null would read as "not set", a non-finite number as null. */
function settingValue(field: FieldReader): unknown {
  const v = field.raw;
  if (v === null || v === undefined) field.fail('has no value');
  if (typeof v === 'number' && !Number.isFinite(v)) field.fail('must be a finite number');
  return v;
}

/** The settings of one mapping (the file's top level, or one container's). */
function settingsOf(field: FieldReader, top: boolean): AgentSettings {
  const raw = field.raw;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) field.fail('must be a mapping');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Readonly<Record<string, unknown>>)) {
    refusePinned(field.path, key);
    if (Object.hasOwn(OWNER_SETTINGS, key) && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const sub of Object.keys(value)) refusePinned(field.path, `${key}.${sub}`);
    }
  }
  const o = field.object([...AGENT_SETTINGS_SECTIONS, 'logLevel', ...(top ? ['containers'] : [])]);
  for (const section of AGENT_SETTINGS_SECTIONS) {
    const f = o.field(section);
    if (f.raw === undefined) continue;
    const keys: readonly string[] = OWNER_SETTINGS[section];
    const s = f.object(keys);
    const values: Record<string, unknown> = {};
    for (const key of keys) {
      const v = s.field(key);
      if (v.raw !== undefined) values[key] = settingValue(v);
    }
    out[section] = values;
  }
  const level = o.field('logLevel');
  if (level.raw !== undefined) out['logLevel'] = settingValue(level);
  // Canonical: an empty section (`metrics: {}`) is no section.
  return mergeAgentSettings([out]);
}

/**
 * Parses the `--agent-config` document. Refuses (SP_USAGE) a key inject pins, naming the
 * field and what sets it; refuses (SP_CONFIG_INVALID) a document that is not YAML, an
 * unknown field, a bad selector, a key without a value. Messages name the file and the
 * field, never a value.
 */
export function parseAgentSettings(text: string, source: string): AgentSettingsFile {
  const where = `--agent-config ${source}`;
  let doc: unknown;
  try {
    doc = parseConfigText(text, where, MAX_AGENT_SETTINGS_BYTES);
  } catch (err) {
    if (isShadowplaneError(err)) throw new ShadowplaneError('SP_CONFIG_INVALID', err.detail, { cause: err });
    throw err;
  }
  try {
    const root = new FieldReader(doc, '', 'SP_CONFIG_INVALID');
    const all = settingsOf(root, true);
    const containers = new Map<string, AgentSettings>();
    const field: FieldReader = root.object([...AGENT_SETTINGS_SECTIONS, 'logLevel', 'containers']).field('containers');
    if (field.raw !== undefined) {
      const raw = field.raw;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) field.fail('must be a mapping of CONTAINER or OBJECT/CONTAINER to settings');
      const o = field.object(Object.keys(raw));
      for (const key of Object.keys(raw)) {
        const entry = o.field(key);
        if (!isContainerSelector(key)) entry.fail('must be named CONTAINER or OBJECT/CONTAINER (DNS names)');
        containers.set(key, settingsOf(entry, false));
      }
    }
    return { source, all, containers };
  } catch (err) {
    if (isShadowplaneError(err)) throw new ShadowplaneError(err.code, `${where}: ${err.detail ?? ''}`, { cause: err });
    throw err;
  }
}

/** The layers merged, later over earlier, key by key; sections and keys in OWNER_SETTINGS order. */
export function mergeAgentSettings(layers: readonly AgentSettings[]): AgentSettings {
  const out: Record<string, unknown> = {};
  for (const section of AGENT_SETTINGS_SECTIONS) {
    const values: Record<string, unknown> = {};
    for (const key of OWNER_SETTINGS[section] as readonly string[]) {
      for (const layer of layers) {
        const v = layer[section]?.[key];
        if (v !== undefined) values[key] = v;
      }
    }
    if (Object.keys(values).length > 0) out[section] = values;
  }
  for (const layer of layers) {
    if (layer.logLevel !== undefined) out['logLevel'] = layer.logLevel;
  }
  return out;
}

/** Stands in for a container's name where a check needs one (only `logs.dir`'s default uses it). */
export const CHECK_CONTAINER = 'inject-check';

/**
 * Loads each `containers:` entry's document (over the settings for every container, and
 * an `OBJECT/CONTAINER` entry over its `CONTAINER` entry) with the agent's own loader, so
 * that a value is refused naming its entry, whether or not a container matches it.
 */
export function checkContainerSettings(input: AgentConfigInput, file: AgentSettingsFile): void {
  for (const [selector, own] of file.containers) {
    const container = selector.slice(selector.indexOf('/') + 1);
    const byName = selector.includes('/') ? file.containers.get(container) : undefined;
    const layers = [file.all, ...(byName === undefined ? [] : [byName]), own];
    const text = agentConfigText({ ...input, settings: mergeAgentSettings(layers) });
    checkAgentConfigText(text, container, `--agent-config ${file.source}, containers.${selector}`);
  }
}

/** What each container's configuration is made from (InjectOptions has it). */
export interface AgentConfigBase {
  /** The document of every container without settings of its own. */
  readonly agentConfigText: string;
  /** What it is made of, the settings for every container included. */
  readonly agentConfigInput: AgentConfigInput;
  readonly agentSettings: AgentSettingsFile | undefined;
}

/**
 * Each wrapped container's own configuration (PodSpecPlan.containerConfigFor): the
 * settings for every container, then those for `CONTAINER`, then those for
 * `OBJECT/CONTAINER`, key by key, and the container's `stdinOnce`; undefined when that is
 * the document every container reads. Each distinct document is loaded by the agent's own
 * loader before it is returned. Remembers which `containers:` entries matched.
 */
export function agentConfigResolver(base: AgentConfigBase): {
  readonly configFor: (objectName: string, container: string, stdinOnce: boolean) => string | undefined;
  readonly unused: () => string[];
} {
  const file = base.agentSettings;
  const used = new Set<string>();
  const checked = new Set<string>([base.agentConfigText]);
  return {
    configFor: (objectName, container, stdinOnce) => {
      const layers: AgentSettings[] = [];
      for (const key of [container, `${objectName}/${container}`]) {
        const own = file?.containers.get(key);
        if (own === undefined) continue;
        used.add(key);
        layers.push(own);
      }
      if (layers.length === 0 && !stdinOnce) return undefined;
      const text = agentConfigText({ ...base.agentConfigInput, settings: mergeAgentSettings([base.agentConfigInput.settings, ...layers]), stdinOnce });
      if (text === base.agentConfigText) return undefined;
      if (!checked.has(text)) {
        checkAgentConfigText(text, container, `${file === undefined ? 'the agent configuration' : `--agent-config ${file.source}`}, for ${objectName}/${container}`);
        checked.add(text);
      }
      return text;
    },
    unused: () => [...(file?.containers.keys() ?? [])].filter((k) => !used.has(k)),
  };
}
