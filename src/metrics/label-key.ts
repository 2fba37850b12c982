/**
 * Keys that identify a label set regardless of label order, for duplicate detection in
 * the parser and collision detection in the scrubber.
 *
 * A key is the compact rendering `name="escaped value",…` of the labels in a canonical
 * order. Escaping is unique (`\\`, `\"`, `\n` are the only escapes), names cannot hold
 * `=` or `"`, so equal keys mean equal label sets. The canonical order is the order of
 * the first label set the keyer saw when a set has the same names ("reference order"),
 * else sorted by name. Exporters repeat one order within a family, so nearly every key
 * is built without sorting, and a parser can often use the raw label text itself,
 * which is already this rendering when written compactly in reference order.
 */
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
