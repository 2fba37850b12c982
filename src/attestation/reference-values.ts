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
 *
 * ID block: FAMILY_ID, IMAGE_ID and GUEST_SVN are written by whoever signs the ID block, so
 * they can be pinned only together with the signer (`idKeyDigests` or `authorKeyDigests`).
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

/**
 * Policy expectations beyond DEBUG (which must be off, always: there is no setting).
 *
 * GUEST_POLICY bits 21–25 (SEV-SNP firmware ABI, GUEST_POLICY; Linux `SNP_POLICY_MASK_*`)
 * split into one that *relaxes* a guarantee and four that *add* one, and their defaults
 * follow from that:
 *
 * - CXL_ALLOW (21) lets the guest's memory and devices be populated through CXL, i.e. on
 *   memory expanders and devices behind a link the host controls, outside the directly
 *   attached DRAM the guest's protection is known for. It is a relaxation the guest owner
 *   opts into, so it is refused by default (`cxl: false`), like MIGRATE_MA. No evidence we
 *   hold sets it (the real Milan report's policy is 0x00000000000b0000; the simulator's
 *   0x0000000000030000), so this default refuses nothing that was accepted before.
 * - MEM_AES_256_XTS (22: AES-256-XTS instead of AES-128 memory encryption), RAPL_DIS (23:
 *   the power-reporting interface, a side channel, is off), CIPHERTEXT_HIDING_DRAM (24:
 *   other software reads 0xff instead of the guest's ciphertext, closing ciphertext side
 *   channels) and PAGE_SWAP_DISABLE (25: the host cannot use the firmware's page move and
 *   swap commands on the guest) each make the firmware refuse to launch the guest where it
 *   cannot honour them. They harden; none of their absences exposes guest memory. Only
 *   recent firmware (and, for AES-256-XTS and ciphertext hiding, recent CPUs) knows them,
 *   so requiring any by default would refuse every guest on older hosts, the real Milan
 *   report (none of them set) included. Each can be required per entry; default not
 *   required.
 *
 * Bits 26–63 are reserved (must be zero) and refused whatever the entry says (verify.ts).
 */
export interface SnpPolicyExpectations {
  /** Accept a guest policy that allows a migration agent. Default false. */
  readonly migrationAgent: boolean;
  /** Accept a guest policy that allows SMT. Default true. */
  readonly smt: boolean;
  /** Require the SINGLE_SOCKET policy bit. Default false. */
  readonly singleSocket: boolean;
  /** Accept a guest policy with CXL_ALLOW set. Default false. */
  readonly cxl: boolean;
  /** Require MEM_AES_256_XTS. Default false. */
  readonly memAes256Xts: boolean;
  /** Require RAPL_DIS. Default false. */
  readonly raplDisabled: boolean;
  /** Require CIPHERTEXT_HIDING_DRAM. Default false. */
  readonly ciphertextHiding: boolean;
  /** Require PAGE_SWAP_DISABLE. Default false. */
  readonly pageSwapDisabled: boolean;
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
  /**
   * ID block pins. The guest owner's ID key signs the ID block (expected measurement,
   * family and image ID, guest SVN, policy) the host hands the firmware at launch; an
   * author key may sign the ID key (AUTHOR_KEY_EN). Digests are SHA-384 of the public key
   * as the report carries them (96 hex digits, never all zero: that is a launch without
   * an ID block or author key). Undefined accepts any, including none. `authorKeyDigests`
   * requires AUTHOR_KEY_EN.
   */
  readonly idKeyDigests: readonly string[] | undefined;
  readonly authorKeyDigests: readonly string[] | undefined;
  /**
   * FAMILY_ID and IMAGE_ID (32 hex digits) and a GUEST_SVN floor: values from the ID block,
   * which whoever signs it chooses, so they can be pinned only together with
   * `idKeyDigests` or `authorKeyDigests`. Undefined accepts any.
   */
  readonly familyIds: readonly string[] | undefined;
  readonly imageIds: readonly string[] | undefined;
  readonly minimumGuestSvn: number | undefined;
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

/** A u64 pin, each 16 hex digits of the value as `verify` prints it: (field & mask) must equal value. */
export interface MaskedU64 {
  readonly value: string;
  readonly mask: string;
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
  readonly tdAttributes: MaskedU64 | undefined;
  /**
   * Masked XFAM pin (the TD's extended CPU feature set), as `verifyEvidence` renders `tdx.xfam`:
   * (XFAM & mask) must equal value. Undefined accepts any.
   */
  readonly xfam: MaskedU64 | undefined;
  /** Acceptable MRSEAM values (the TDX module's measurement, 96 hex digits). Undefined accepts any. */
  readonly mrSeam: readonly string[] | undefined;
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
  // Defaults: see SnpPolicyExpectations (relaxations refused, hardening not required).
  const policy: SnpPolicyExpectations = {
    migrationAgent: p?.bool('migrationAgent', false) ?? false,
    smt: p?.bool('smt', true) ?? true,
    singleSocket: p?.bool('singleSocket', false) ?? false,
    cxl: p?.bool('cxl', false) ?? false,
    memAes256Xts: p?.bool('memAes256Xts', false) ?? false,
    raplDisabled: p?.bool('raplDisabled', false) ?? false,
    ciphertextHiding: p?.bool('ciphertextHiding', false) ?? false,
    pageSwapDisabled: p?.bool('pageSwapDisabled', false) ?? false,
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
    idKeyDigests: keyDigests(f, 'idKeyDigests', 'ID block'),
    authorKeyDigests: keyDigests(f, 'authorKeyDigests', 'author key'),
    familyIds: f.hexList('familyIds', [32], false),
    imageIds: f.hexList('imageIds', [32], false),
    minimumGuestSvn: f.byte('minimumGuestSvn', undefined, 0xffffffff),
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

/** An ID or author key digest list; all zero is what a report carries without one, which pins nothing. */
function keyDigests(f: Fields, key: string, what: string): string[] | undefined {
  const list = f.hexList(key, [96], false);
  const zero = list?.findIndex(isZeroHex) ?? -1;
  if (zero >= 0) f.fail(`${f.at(key)}[${zero}]`, `is all zero, which is what a report carries when the launch had no ${what}: it pins nothing`);
  return list;
}

/**
 * FAMILY_ID, IMAGE_ID and GUEST_SVN are whatever the ID block's signer wrote: without a
 * pinned ID or author key, any host can launch the guest with an ID block of its own that
 * claims them, so pinning them alone would only look like a check.
 */
function checkIdBlockSigner(f: Fields, entry: SnpReferenceEntry): void {
  if (entry.idKeyDigests !== undefined || entry.authorKeyDigests !== undefined) return;
  const pinned = (['familyIds', 'imageIds', 'minimumGuestSvn'] as const).filter((k) => entry[k] !== undefined);
  if (pinned.length === 0) return;
  f.fail(
    f.at(pinned[0]!),
    'comes from the ID block, which whoever signs it writes: pin the signer too (idKeyDigests or authorKeyDigests), or any host can launch the guest with an ID block of its own that claims this value',
  );
}

/** TD_ATTRIBUTES bits that verify.ts refuses whatever an entry says. */
const TD_ALWAYS_REFUSED = [
  [TD_ATTRIBUTE.debug, 'DEBUG'],
  [TD_ATTRIBUTE.migratable, 'MIGRATABLE'],
] as const;

/** A `{ value, mask }` u64 pin (`tdAttributes`, `xfam`); `refused` are bits verify.ts refuses whatever the entry says. */
function parseMaskedU64(f: Fields, key: string, refused: readonly (readonly [bigint, string])[]): MaskedU64 | undefined {
  const t = f.sub(key);
  if (t === undefined) return undefined;
  const value = t.hex('value', [16], true);
  const mask = t.hex('mask', [16], true);
  t.done();
  const v = BigInt(`0x${value}`);
  const m = BigInt(`0x${mask}`);
  if ((v & ~m) !== 0n) t.fail(t.at('value'), 'sets bits outside mask, so no TD could ever match');
  for (const [bit, what] of refused) {
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
    tdAttributes: parseMaskedU64(f, 'tdAttributes', TD_ALWAYS_REFUSED),
    xfam: parseMaskedU64(f, 'xfam', []),
    mrSeam: f.hexList('mrSeam', d, false),
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
    if (entry.platform !== 'tdx') checkIdBlockSigner(f, entry);
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
