/**
 * Duplicate series detection for one family while it is parsed: no series (a label set
 * with the structural `le`/`quantile` label set aside) may appear twice.
 *
 * Nothing is kept per series but a fingerprint and where its label set starts in the
 * text. A new series whose fingerprint matches earlier ones is compared with each of
 * them exactly, reading the earlier set again from the text (it was valid there). The
 * fingerprint is not keyed: label values chosen to collide could make every series match
 * many, so after FALSE_MATCH_BUDGET matches between differing sets the family switches,
 * once, to string keys in a Set (whose hashing V8 seeds per process).
 */
import { FingerprintIndex, type LabelSetFingerprinter, LabelSetKeyer, sameLabelSet } from './label-key.ts';
import { Lexer, invalid, scanLabelSet } from './parse-lexer.ts';
import type { ParseLimits } from './parse-limits.ts';

/** Fingerprint matches with differing sets a family may have before it uses string keys. */
const FALSE_MATCH_BUDGET = 256;

export class SeriesSet {
  readonly #om: boolean;
  readonly #limits: ParseLimits;
  readonly #fingerprints = new FingerprintIndex();
  /**
   * Per series: where its label set starts in the text (its `{`; -1: none). A typed
   * array grown by doubling: a plain array of one number per series cost more in the
   * copies of its growth than the rest of this class.
   */
  #labelsAt = new Int32Array(256);
  #count = 0;
  #falseMatches = 0;
  /** Every series' key, once fingerprints are given up. */
  #keys: Set<string> | undefined;
  readonly #keyer = new LabelSetKeyer();

  constructor(om: boolean, limits: ParseLimits) {
    this.#om = om;
    this.#limits = limits;
  }

  /**
   * Adds the family's next series, refusing it (SP_METRICS_INVALID at `line`) when an
   * earlier one had the same set. Its labels are `labels[0, n)` without the pair at
   * `skip`, written in `text` from `labelsAt`; `structural` is the family's structural
   * label name, if its type has one.
   */
  add(labels: readonly string[], n: number, skip: number, structural: string | undefined, fingerprinter: LabelSetFingerprinter, text: string, labelsAt: number, line: number): void {
    const series = this.#count++;
    if (series === this.#labelsAt.length) {
      const grown = new Int32Array(series * 2);
      grown.set(this.#labelsAt);
      this.#labelsAt = grown;
    }
    this.#labelsAt[series] = labelsAt;
    if (this.#keys === undefined) {
      const head = this.#fingerprints.record(fingerprinter.of(labels, n, skip), series);
      if (head < 0) return;
      const earlier: string[] = [];
      for (let g = head; g >= 0 && this.#falseMatches <= FALSE_MATCH_BUDGET; g = this.#fingerprints.previous(g)) {
        const count = this.#labelsOf(g, text, earlier);
        if (sameLabelSet(earlier, count, structural, labels, n, skip)) duplicate(line);
        this.#falseMatches++;
      }
      if (this.#falseMatches <= FALSE_MATCH_BUDGET) return;
      this.#useKeys(series, structural, text);
    }
    const keys = this.#keys!;
    const known = keys.size;
    keys.add(this.#keyer.key(labels, n, skip));
    if (keys.size === known) duplicate(line);
  }

  /** The label set of series `g` read again from the text into `out`; the count of strings. */
  #labelsOf(g: number, text: string, out: string[]): number {
    const at = this.#labelsAt[g]!;
    if (at < 0) return 0;
    const lx = new Lexer(text, this.#limits, true);
    const eol = text.indexOf('\n', at);
    lx.end = eol < 0 ? text.length : eol;
    lx.pos = at;
    return scanLabelSet(lx, this.#om, out, undefined);
  }

  /** Gives up fingerprints: keys for the `count` series before the current one. */
  #useKeys(count: number, structural: string | undefined, text: string): void {
    const keys = new Set<string>();
    const labels: string[] = [];
    for (let g = 0; g < count; g++) {
      const n = this.#labelsOf(g, text, labels);
      let skip = -1;
      for (let i = 0; i < n; i += 2) if (labels[i] === structural) skip = i;
      keys.add(this.#keyer.key(labels, n, skip));
    }
    this.#keys = keys;
  }
}

function duplicate(line: number): never {
  return invalid(line, 'duplicate series, or the samples of one metric are interleaved');
}
