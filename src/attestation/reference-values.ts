/**
 * Reference values: what a verifier accepts. One document lists one or more entries; each
 * entry names a platform and the values evidence from it must match. Evidence is accepted
 * when any entry of its platform accepts it (so mixed SNP/TDX fleets and image roll-overs
 * work). The format is documented in docs/reference-values.md.
 *
 * Invariant: the result is validated, normalised (lowercase hex, defaults filled in) and
 * frozen; `digest` identifies its content, so caches can key on it.
 *
 * Identity binding: an entry must pin the values that tie a guest to its pod
 * configuration, or say in so many words that it does not (`unboundIdentity: true`, which
 * callers announce loudly, see `referenceValuesWarnings`). SEV-SNP and simulated:
 * `hostData` (Kata/CoCo put the policy/initdata digest there). TDX: `mrConfigId` (the same
 * digest) and `rtmr0`–`rtmr2` (MRTD measures only the firmware; the kernel, initrd and
 * command line are measured into the RTMRs). Without them every pod of the same launch
 * measurement, under any policy, is accepted as this identity. An all-zero value binds
 * nothing either (no policy was supplied) and counts as unpinned, except on `simulated`,
 * whose reports carry zero host data unless told otherwise.
 *
 * Firmware floor: a `sev-snp` entry must state `minimumTcb` (judged against both the
 * reported and the launch TCB), because a silent all-zero default accepted any firmware and
 * microcode, published vulnerabilities included. An explicit all-zero floor stays possible
 * and is announced like `unboundIdentity`. `simulated` entries are exempt: no firmware runs.
 */
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { yamlErrorWhere } from '../config/yaml-position.ts';
import { ShadowplaneError } from '../errors.ts';
import { TD_ATTRIBUTE } from './tdx/quote.ts';
import { PLATFORMS, SNP_PRODUCTS, type SnpProduct, type SnpTcb } from './types.ts';

/** Reference-values files larger than this are refused before parsing. */
export const MAX_REFERENCE_VALUES_BYTES = 1024 * 1024;
const MAX_ENTRIES = 256;
const MAX_LIST = 1024;

/** TDX TCB statuses as Intel PCS names them. `Revoked` is never acceptable. */
export const TDX_TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
] as const;
export type TdxTcbStatus = (typeof TDX_TCB_STATUSES)[number];

/** Policy expectations beyond DEBUG (which must be off, always: there is no setting). */
export interface SnpPolicyExpectations {
  /** Accept a guest policy that allows a migration agent. Default false. */
  readonly migrationAgent: boolean;
  /** Accept a guest policy that allows SMT. Default true. */
  readonly smt: boolean;
  /** Require the SINGLE_SOCKET policy bit. Default false. */
  readonly singleSocket: boolean;
}

export interface SnpReferenceEntry {
  readonly name: string;
  readonly platform: 'sev-snp' | 'simulated';
  /** Acceptable MEASUREMENT values (96 hex digits each). */
  readonly measurements: readonly string[];
  /** Acceptable HOST_DATA values (64 hex digits); undefined accepts any. */
  readonly hostData: readonly string[] | undefined;
  /**
   * Component-wise minimum of REPORTED_TCB and of LAUNCH_TCB. Required on `sev-snp` (with
   * bootloader, tee, snp and microcode; fmc defaults to 0); default all zero on `simulated`.
   */
  readonly minimumTcb: SnpTcb;
  readonly policy: SnpPolicyExpectations;
  /** Required VMPL; undefined accepts any. */
  readonly vmpl: number | undefined;
  /** Chip pins: the VCEK hwID (128 hex digits; 16 on Turin) or the report CHIP_ID. Undefined accepts any chip. */
  readonly chipIds: readonly string[] | undefined;
  /** Acceptable product lines. Default all shipped ones. */
  readonly products: readonly SnpProduct[];
  /** Acceptable signing keys. Default both. */
  readonly signingKeys: readonly ('vcek' | 'vlek')[];
  /** `simulated` only: SHA-256 fingerprint of the simulated ARK (64 hex digits). */
  readonly simulatedRootSha256: string | undefined;
  /** The entry may leave `hostData` unpinned (or all zero). Default false; announced loudly. */
  readonly unboundIdentity: boolean;
}

export interface TdxReferenceEntry {
  readonly name: string;
  readonly platform: 'tdx';
  readonly mrtd: readonly string[];
  readonly rtmr0: readonly string[] | undefined;
  readonly rtmr1: readonly string[] | undefined;
  readonly rtmr2: readonly string[] | undefined;
  readonly rtmr3: readonly string[] | undefined;
  readonly mrConfigId: readonly string[] | undefined;
  readonly mrOwner: readonly string[] | undefined;
  readonly mrOwnerConfig: readonly string[] | undefined;
  /** Default ['UpToDate']. */
  readonly acceptableTcbStatuses: readonly TdxTcbStatus[];
  /**
   * Masked TD_ATTRIBUTES pin, each 16 hex digits of the u64 as `verify` prints it:
   * (TD_ATTRIBUTES & mask) must equal value. Undefined pins nothing beyond the fixed checks
   * (DEBUG and MIGRATABLE clear, always).
   */
  readonly tdAttributes: { readonly value: string; readonly mask: string } | undefined;
  /**
   * Floor for the `tcbEvaluationDataNumber` of both the TCB Info and the QE Identity the
   * evidence carries: the prover picks its collateral, so without a floor it can keep
   * sending a superseded one that still rates its platform well. Undefined sets none.
   */
  readonly minimumTcbEvaluationDataNumber: number | undefined;
  /** The entry may leave `mrConfigId` and `rtmr0`–`rtmr2` unpinned (or all zero). Default false; announced loudly. */
  readonly unboundIdentity: boolean;
}

export type ReferenceEntry = SnpReferenceEntry | TdxReferenceEntry;

export interface ReferenceValues {
  readonly entries: readonly ReferenceEntry[];
  /** Where the values came from, for messages. */
  readonly source: string;
  /** SHA-256 of the normalised entries, lowercase hex. */
  readonly digest: string;
}

class Fields {
  readonly #obj: Record<string, unknown>;
  readonly #path: string;
  readonly #source: string;
  readonly #used = new Set<string>();

  constructor(obj: unknown, path: string, source: string) {
    this.#path = path;
    this.#source = source;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) this.fail(path, 'expected a mapping');
    this.#obj = obj as Record<string, unknown>;
  }

  fail(path: string, why: string): never {
    throw new ShadowplaneError('SP_ATTEST_REFERENCE_VALUES_INVALID', `${this.#source}: ${path || '(top level)'}: ${why}`);
  }

  at(key: string): string {
    return this.#path === '' ? key : `${this.#path}.${key}`;
  }

  get(key: string): unknown {
    this.#used.add(key);
    return this.#obj[key];
  }

  /** Refuses keys nobody asked for: a typo must not silently weaken a check. */
  done(): void {
    for (const k of Object.keys(this.#obj)) if (!this.#used.has(k)) this.fail(this.at(k), 'unknown field');
  }

  string(key: string, required: true): string;
  string(key: string, required: false): string | undefined;
  string(key: string, required: boolean): string | undefined {
    const v = this.get(key);
    if (v === undefined) return required ? this.fail(this.at(key), 'is required') : undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) this.fail(this.at(key), 'expected a non-empty string of at most 256 characters');
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.get(key);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.fail(this.at(key), 'expected true or false');
    return v;
  }

  byte(key: string, dflt: number | undefined, max = 255): number | undefined {
    const v = this.get(key);
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) this.fail(this.at(key), `expected an integer from 0 to ${max}`);
    return v;
  }

  hex(key: string, digits: readonly number[], required: true): string;
  hex(key: string, digits: readonly number[], required: false): string | undefined;
  hex(key: string, digits: readonly number[], required: boolean): string | undefined {
    const v = this.get(key);
    if (v === undefined) return required ? this.fail(this.at(key), 'is required') : undefined;
    return checkHex(v, digits, this.at(key), (p, w) => this.fail(p, w));
  }

  hexList(key: string, digits: readonly number[], required: boolean): string[] | undefined {
    const v = this.get(key);
    if (v === undefined) return required ? this.fail(this.at(key), 'is required') : undefined;
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_LIST) this.fail(this.at(key), `expected a list of 1 to ${MAX_LIST} hex values`);
    return [...new Set(list.map((x: unknown, i) => checkHex(x, digits, `${this.at(key)}[${i}]`, (p, w) => this.fail(p, w))))];
  }

  enumList<T extends string>(key: string, allowed: readonly T[], dflt: readonly T[]): T[] {
    const v = this.get(key);
    if (v === undefined) return [...dflt];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || list.length > allowed.length) this.fail(this.at(key), `expected a non-empty list of: ${allowed.join(', ')}`);
    return [
      ...new Set(
        list.map((x: unknown, i) => {
          if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) this.fail(`${this.at(key)}[${i}]`, `expected one of: ${allowed.join(', ')}`);
          return x as T;
        }),
      ),
    ];
  }

  sub(key: string): Fields | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : new Fields(v, this.at(key), this.#source);
  }
}

function checkHex(v: unknown, digits: readonly number[], path: string, fail: (p: string, w: string) => never): string {
  if (typeof v !== 'string') fail(path, `expected ${digits.join(' or ')} hex digits`);
  const s = v.startsWith('0x') ? v.slice(2) : v;
  if (!/^[0-9a-fA-F]*$/.test(s) || !digits.includes(s.length)) fail(path, `expected ${digits.join(' or ')} hex digits`);
  return s.toLowerCase();
}

const isZeroHex = (v: string): boolean => /^0+$/.test(v);

/**
 * The identity fields an entry leaves unpinned: absent, or (off `simulated`) holding an
 * all-zero value, which binds no pod configuration.
 */
export function unpinnedIdentityFields(entry: ReferenceEntry): string[] {
  const unpinned = (field: string, values: readonly string[] | undefined, zeroBinds: boolean): string[] =>
    values === undefined || (!zeroBinds && values.some(isZeroHex)) ? [field] : [];
  if (entry.platform === 'tdx') {
    return [
      ...unpinned('mrConfigId', entry.mrConfigId, false),
      ...unpinned('rtmr0', entry.rtmr0, false),
      ...unpinned('rtmr1', entry.rtmr1, false),
      ...unpinned('rtmr2', entry.rtmr2, false),
    ];
  }
  return unpinned('hostData', entry.hostData, entry.platform === 'simulated');
}

/** Refuses an entry that leaves identity fields unpinned without saying so, or says so needlessly. */
function checkIdentityBinding(f: Fields, entry: ReferenceEntry): void {
  const unpinned = unpinnedIdentityFields(entry);
  if (!entry.unboundIdentity && unpinned.length > 0) {
    const what = entry.platform === 'tdx' ? 'the pod configuration digest and the measured kernel, initrd and command line' : 'the pod configuration digest (Kata/CoCo policy)';
    f.fail(
      f.at(unpinned[0]!),
      `must be pinned to a non-zero value: it binds the guest to ${what}, and without it any pod of the same launch measurement is accepted as this identity (unpinned: ${unpinned.join(', ')}). Pin it, or set unboundIdentity: true to accept that (docs/reference-values.md)`,
    );
  }
  if (entry.unboundIdentity && unpinned.length === 0) f.fail(f.at('unboundIdentity'), 'every identity field is pinned: drop unboundIdentity');
}

const TCB_COMPONENTS = ['bootloader', 'tee', 'snp', 'microcode'] as const;

/**
 * `minimumTcb`: on `sev-snp` every component but fmc (Turin only) must be stated, so that a
 * forgotten one never silently means "any"; on `simulated` absent components are 0.
 */
function parseMinimumTcb(f: Fields, platform: 'sev-snp' | 'simulated'): SnpTcb {
  const t = f.sub('minimumTcb');
  const read = TCB_COMPONENTS.map((k) => t?.byte(k, undefined));
  const fmc = t?.byte('fmc', 0) ?? 0;
  // done() first: a misspelt component is reported as unknown, not as missing.
  t?.done();
  if (t !== undefined && platform === 'sev-snp') {
    const missing = TCB_COMPONENTS.filter((_, i) => read[i] === undefined);
    if (missing.length > 0) t.fail(t.at(missing[0]!), `is required on sev-snp (missing: ${missing.join(', ')}): a component left out would accept any version of it`);
  }
  const [bootloader, tee, snp, microcode] = read.map((v) => v ?? 0) as [number, number, number, number];
  return { bootloader, tee, snp, microcode, fmc };
}

/** Refuses a `sev-snp` entry without `minimumTcb`; run after done() so a misspelt key reads as unknown. */
function checkTcbFloor(f: Fields, entry: ReferenceEntry): void {
  if (entry.platform !== 'sev-snp' || f.get('minimumTcb') !== undefined) return;
  f.fail(
    f.at('minimumTcb'),
    'is required on sev-snp: without it any firmware and microcode is accepted, including versions with published vulnerabilities. State the lowest TCB you accept (AMD security bulletins), or an explicit all-zero one to accept any, which is logged loudly (docs/reference-values.md)',
  );
}

const isZeroTcb = (t: SnpTcb): boolean => t.bootloader === 0 && t.tee === 0 && t.snp === 0 && t.microcode === 0 && (t.fmc ?? 0) === 0;

function parseSnpEntry(f: Fields, name: string, platform: 'sev-snp' | 'simulated'): SnpReferenceEntry {
  const minimumTcb = parseMinimumTcb(f, platform);
  const p = f.sub('policy');
  const policy: SnpPolicyExpectations = {
    migrationAgent: p?.bool('migrationAgent', false) ?? false,
    smt: p?.bool('smt', true) ?? true,
    singleSocket: p?.bool('singleSocket', false) ?? false,
  };
  if (p !== undefined && p.get('debug') !== undefined) p.fail(p.at('debug'), 'debug must be off, always; there is no setting for it');
  p?.done();
  const entry: SnpReferenceEntry = {
    name,
    platform,
    measurements: f.hexList('measurements', [96], true)!,
    hostData: f.hexList('hostData', [64], false),
    minimumTcb,
    policy,
    // Default 0: a report asked for from a less privileged VMPL is not the guest kernel's unless the entry says so (an SVSM setup).
    vmpl: f.byte('vmpl', 0, 3),
    chipIds: f.hexList('chipIds', [128, 16], false),
    products: f.enumList('products', SNP_PRODUCTS, SNP_PRODUCTS),
    signingKeys: f.enumList('signingKeys', ['vcek', 'vlek'] as const, ['vcek', 'vlek']),
    simulatedRootSha256: platform === 'simulated' ? f.hex('simulatedRootSha256', [64], true) : undefined,
    unboundIdentity: f.bool('unboundIdentity', false),
  };
  if (platform === 'sev-snp' && f.get('simulatedRootSha256') !== undefined) {
    f.fail(f.at('simulatedRootSha256'), 'only a simulated entry pins a root; sev-snp trusts the shipped AMD roots');
  }
  return entry;
}

/** TD_ATTRIBUTES bits that verify.ts refuses whatever an entry says. */
const TD_ALWAYS_REFUSED = [
  [TD_ATTRIBUTE.debug, 'DEBUG'],
  [TD_ATTRIBUTE.migratable, 'MIGRATABLE'],
] as const;

function parseTdAttributes(f: Fields): TdxReferenceEntry['tdAttributes'] {
  const t = f.sub('tdAttributes');
  if (t === undefined) return undefined;
  const value = t.hex('value', [16], true);
  const mask = t.hex('mask', [16], true);
  t.done();
  const v = BigInt(`0x${value}`);
  const m = BigInt(`0x${mask}`);
  if ((v & ~m) !== 0n) t.fail(t.at('value'), 'sets bits outside mask, so no TD could ever match');
  for (const [bit, what] of TD_ALWAYS_REFUSED) {
    if ((v & m & bit) !== 0n) t.fail(t.at('value'), `requires ${what}, which is always refused, so no TD could ever match`);
  }
  return { value, mask };
}

function parseTdxEntry(f: Fields, name: string): TdxReferenceEntry {
  const d = [96];
  return {
    name,
    platform: 'tdx',
    mrtd: f.hexList('mrtd', d, true)!,
    rtmr0: f.hexList('rtmr0', d, false),
    rtmr1: f.hexList('rtmr1', d, false),
    rtmr2: f.hexList('rtmr2', d, false),
    rtmr3: f.hexList('rtmr3', d, false),
    mrConfigId: f.hexList('mrConfigId', d, false),
    mrOwner: f.hexList('mrOwner', d, false),
    mrOwnerConfig: f.hexList('mrOwnerConfig', d, false),
    acceptableTcbStatuses: f.enumList('acceptableTcbStatuses', TDX_TCB_STATUSES, ['UpToDate']),
    tdAttributes: parseTdAttributes(f),
    minimumTcbEvaluationDataNumber: f.byte('minimumTcbEvaluationDataNumber', undefined, 0xffff),
    unboundIdentity: f.bool('unboundIdentity', false),
  };
}

/**
 * Validates a reference-values document (already parsed from YAML or JSON). Accepts
 * `{ version: 1, entries: [...] }` or a bare list of entries (for embedding in a
 * manifest). `source` names the origin in error messages.
 */
export function parseReferenceValues(obj: unknown, source: string): ReferenceValues {
  let list: unknown;
  if (Array.isArray(obj)) {
    list = obj;
  } else {
    const top = new Fields(obj, '', source);
    const version = top.get('version');
    if (version !== 1) top.fail('version', 'expected 1');
    list = top.get('entries');
    top.done();
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ENTRIES) {
    throw new ShadowplaneError('SP_ATTEST_REFERENCE_VALUES_INVALID', `${source}: entries: expected a list of 1 to ${MAX_ENTRIES} entries`);
  }
  const names = new Set<string>();
  const entries = list.map((raw: unknown, i): ReferenceEntry => {
    const f = new Fields(raw, `entries[${i}]`, source);
    const platform = f.string('platform', true);
    if (!(PLATFORMS as readonly string[]).includes(platform)) f.fail(f.at('platform'), `expected one of: ${PLATFORMS.join(', ')}`);
    const name = f.string('name', false) ?? `${platform}-${i}`;
    if (names.has(name)) f.fail(f.at('name'), `duplicate entry name '${name}'`);
    names.add(name);
    const entry = platform === 'tdx' ? parseTdxEntry(f, name) : parseSnpEntry(f, name, platform as 'sev-snp' | 'simulated');
    f.done();
    // After done(): a misspelt field is reported as such, not as a missing pin.
    checkIdentityBinding(f, entry);
    checkTcbFloor(f, entry);
    return entry;
  });
  const digest = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
  return deepFreeze({ entries, source, digest });
}

/** Reads and validates a YAML or JSON reference-values file (at most 1 MiB). */
export function loadReferenceValues(path: string): ReferenceValues {
  let text: string;
  try {
    text = readBoundedFile(path, MAX_REFERENCE_VALUES_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_ATTEST_REFERENCE_VALUES_INVALID', `${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_ATTEST_REFERENCE_VALUES_INVALID', `${path}: cannot be read`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 0, prettyErrors: false }) as unknown;
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_REFERENCE_VALUES_INVALID', `${path}: not valid YAML or JSON${yamlErrorWhere(text, err)}`, { cause: err });
  }
  return parseReferenceValues(doc, path);
}

/**
 * One loud line per entry that opts out of a check in so many words: `unboundIdentity`
 * (naming the fields it leaves unpinned), and a `sev-snp` entry whose `minimumTcb` is all
 * zero. Verifiers log these at start, so that accepting any pod configuration, or any
 * firmware, is never silent.
 */
export function referenceValuesWarnings(reference: ReferenceValues): string[] {
  const unbound = reference.entries
    .filter((e) => e.unboundIdentity)
    .map(
      (e) =>
        `*** reference entry '${e.name}' of ${reference.source} sets unboundIdentity: ${unpinnedIdentityFields(e).join(', ')} not pinned, so any guest with its launch measurement is accepted, whatever pod configuration it runs (docs/reference-values.md) ***`,
    );
  const anyFirmware = reference.entries
    .filter((e) => e.platform === 'sev-snp' && isZeroTcb(e.minimumTcb))
    .map(
      (e) =>
        `*** reference entry '${e.name}' of ${reference.source} sets an all-zero minimumTcb: any SEV-SNP firmware and microcode is accepted, including versions with published vulnerabilities (docs/reference-values.md) ***`,
    );
  return [...unbound, ...anyFirmware];
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
