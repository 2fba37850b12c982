/**
 * Identity of label sets regardless of label order, for duplicate detection in the
 * parser and collision detection in the scrubber.
 *
 * Both use `LabelSetFingerprinter` (a number, no string built per series) and confirm a
 * match with `sameLabelSet`. `LabelSetKeyer` makes string keys instead: the scrubber
 * falls back to them for hand-built sets that repeat a label name.
 *
 * A key is the compact rendering `name="escaped value",…` of the labels in a canonical
 * order. Escaping is unique (`\\`, `\"`, `\n` are the only escapes), names cannot hold
 * `=` or `"`, so equal keys mean equal label sets. The canonical order is the order of
 * the first label set the keyer saw when a set has the same names ("reference order"),
 * else sorted by name. Exporters repeat one order within a family, so nearly every key
 * is built without sorting, and a caller can often use the raw label text itself,
 * which is already this rendering when written compactly in reference order.
 */
import { randomBytes } from 'node:crypto';
import { escapeLabelValue } from './parse-lexer.ts';

export class LabelSetKeyer {
  #ref: string[] | undefined;
  readonly #joined: boolean;

  /**
   * `joined`: keys are the names and values joined by NUL instead of the rendering
   * (cheaper: one flat string). Unambiguous because names never hold NUL and a set
   * with a NUL in a value falls back to the rendering, which always holds `=` where a
   * joined key holds NUL. Raw label text is never used in this mode.
   */
  constructor(options: { joined?: boolean } = {}) {
    this.#joined = options.joined ?? false;
  }

  /**
   * The key of the pairs `labels[0, n)` without the pair at `skip` (-1: none).
   * `rawText[rawStart, rawEnd)`, when `rawCompact`, is the label text between the braces
   * exactly as exposed, without blanks or a trailing comma.
   */
  key(labels: readonly string[], n: number, skip: number, rawText = '', rawStart = 0, rawEnd = 0, rawCompact = false): string {
    const count = skip < 0 ? n : n - 2;
    if (count === 0) return '';
    let ref = this.#ref;
    if (ref === undefined) {
      ref = [];
      for (let i = 0; i < n; i += 2) if (i !== skip) ref.push(labels[i]!);
      this.#ref = ref;
    }
    let inRef = ref.length * 2 === count;
    if (inRef) {
      let j = 0;
      for (let i = 0; i < n; i += 2) {
        if (i === skip) continue;
        if (labels[i] !== ref[j++]) {
          inRef = false;
          break;
        }
      }
    }
    const joined = this.#joined && !hasNul(labels, n);
    if (inRef) {
      if (joined && skip < 0 && n === labels.length) return labels.join('\u0000');
      if (!this.#joined && skip < 0 && rawCompact) return rawText.slice(rawStart, rawEnd);
      return render(labels, n, skip, undefined, joined);
    }
    // Same names in another order: reference order. Other names: sorted order.
    const positions = new Map<string, number>();
    for (let i = 0; i < n; i += 2) if (i !== skip) positions.set(labels[i]!, i);
    if (positions.size * 2 === count && ref.length === positions.size && ref.every((name) => positions.has(name))) {
      return render(labels, n, skip, ref.map((name) => positions.get(name)!), joined);
    }
    const order = [...positions.keys()].sort().map((name) => positions.get(name)!);
    return render(labels, n, skip, order, joined);
  }
}

/**
 * The key in the given pair order (undefined: as stored, skipping `skip`): the compact
 * rendering, or (`joined`) names and values joined by NUL.
 */
function render(labels: readonly string[], n: number, skip: number, order: readonly number[] | undefined, joined: boolean): string {
  const indexes: number[] = [];
  if (order === undefined) {
    for (let i = 0; i < n; i += 2) if (i !== skip) indexes.push(i);
  } else {
    indexes.push(...order);
  }
  if (joined) {
    const parts: string[] = [];
    for (const i of indexes) parts.push(labels[i]!, labels[i + 1]!);
    return parts.join('\u0000');
  }
  let out = '';
  for (const i of indexes) {
    if (out !== '') out += ',';
    out += `${labels[i]!}="${escapeLabelValue(labels[i + 1]!)}"`;
  }
  return out;
}

function hasNul(labels: readonly string[], n: number): boolean {
  for (let i = 1; i < n; i += 2) if (labels[i]!.includes('\u0000')) return true;
  return false;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * 32-bit fingerprints of label sets that do not depend on pair order: a sum of mixed
 * pair hashes. Equal sets have equal fingerprints; equal fingerprints say nothing, so
 * callers compare the sets. Consecutive sets mostly repeat their names at the same
 * positions (the very same strings): the hash of the name last seen at each is kept.
 */
export class LabelSetFingerprinter {
  readonly #names: string[] = [];
  readonly #nameHashes: number[] = [];

  /** The fingerprint of the pairs `labels[0, n)` without the pair at `skip` (-1: none). */
  of(labels: readonly string[], n: number, skip: number): number {
    let sum = skip < 0 ? n : n - 2;
    for (let i = 0; i + 1 < n; i += 2) {
      if (i === skip) continue;
      const name = labels[i]!;
      let nameHash: number;
      if (this.#names[i] === name) {
        nameHash = this.#nameHashes[i]!;
      } else {
        nameHash = stringHash(name);
        this.#names[i] = name;
        this.#nameHashes[i] = nameHash;
      }
      let h = nameHash ^ Math.imul(stringHash(labels[i + 1]!), 0x9e3779b1);
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      sum = (sum + (h ^ (h >>> 16))) | 0;
    }
    return sum;
  }
}

/**
 * Whether `a[0, na)` without pairs named `aSkipName` and `b[0, nb)` without the pair at
 * `bSkip` hold the same pairs in any order. Names are distinct within each set.
 */
export function sameLabelSet(a: readonly string[], na: number, aSkipName: string | undefined, b: readonly string[], nb: number, bSkip: number): boolean {
  let countA = 0;
  for (let i = 0; i < na; i += 2) {
    if (a[i] === aSkipName) continue;
    countA += 2;
    let found = false;
    for (let j = 0; j < nb; j += 2) {
      if (j !== bSkip && a[i] === b[j]) {
        found = a[i + 1] === b[j + 1];
        break;
      }
    }
    if (!found) return false;
  }
  return countA === (bSkip < 0 ? nb : nb - 2);
}

/** Per-process seed of FingerprintIndex slots, so that nobody can aim fingerprints at one slot. */
const SLOT_SEED = randomBytes(4).readInt32LE(0);

/**
 * Series by label-set fingerprint, in two typed arrays instead of a Map (no per-entry
 * objects, no rehash of boxed entries): series are recorded as 0, 1, 2, … and each
 * records which earlier series had its fingerprint, so equal fingerprints form a chain
 * newest first. Slots come from the fingerprint mixed with a per-process seed: distinct
 * fingerprints cannot be chosen to pile up in one probe sequence. (Equal fingerprints
 * share one slot; callers bound how far they follow a chain.)
 */
export class FingerprintIndex {
  #fingerprints = new Int32Array(256);
  /** Last series with the slot's fingerprint, plus one (0: empty slot). */
  #heads = new Int32Array(256);
  #used = 0;
  /** Per series: the previous series with the same fingerprint, or -1. */
  #previous = new Int32Array(256);

  /** Records `series` (the next number in turn) under `fingerprint`; returns the last earlier series with it, or -1. */
  record(fingerprint: number, series: number): number {
    if ((this.#used + 1) * 2 > this.#heads.length) this.#growSlots();
    const mask = this.#heads.length - 1;
    let slot = slotOf(fingerprint) & mask;
    let head = -1;
    for (;;) {
      const h = this.#heads[slot]!;
      if (h === 0) {
        this.#fingerprints[slot] = fingerprint;
        this.#used++;
        break;
      }
      if (this.#fingerprints[slot] === fingerprint) {
        head = h - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    this.#heads[slot] = series + 1;
    if (series >= this.#previous.length) {
      const previous = new Int32Array(Math.max(this.#previous.length * 2, series + 1));
      previous.set(this.#previous);
      this.#previous = previous;
    }
    this.#previous[series] = head;
    return head;
  }

  /** The series recorded before `series` with the same fingerprint, or -1. */
  previous(series: number): number {
    return this.#previous[series]!;
  }

  #growSlots(): void {
    const fingerprints = this.#fingerprints;
    const heads = this.#heads;
    const size = heads.length * 2;
    this.#fingerprints = new Int32Array(size);
    this.#heads = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i] === 0) continue;
      let slot = slotOf(fingerprints[i]!) & mask;
      while (this.#heads[slot] !== 0) slot = (slot + 1) & mask;
      this.#fingerprints[slot] = fingerprints[i]!;
      this.#heads[slot] = heads[i]!;
    }
  }
}

function slotOf(fingerprint: number): number {
  let h = Math.imul(fingerprint ^ SLOT_SEED, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
