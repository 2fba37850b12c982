/**
 * Character-level scanning shared by the text 0.0.4 and OpenMetrics parsers.
 *
 * Everything works on one decoded string and integer positions: no regular expression
 * per character, no substring until a token is known to be kept, and label names and
 * values that repeat the previous sample's are reused instead of sliced again (most
 * lines of a real exposition repeat the previous line's labels but for one).
 *
 * Invariant: error details name a line number and a fixed reason, never input bytes.
 */
import { ShadowplaneError } from '../errors.ts';
import type { ParseLimits } from './parse-limits.ts';

const CH_TAB = 9;
const CH_LF = 10;
const CH_SPACE = 32;
const CH_QUOTE = 34;
const CH_COMMA = 44;
const CH_EQ = 61;
const CH_BACKSLASH = 92;
const CH_RBRACE = 125;
const CH_UNDERSCORE = 95;

/** 1: may start a metric name; 2: may continue one. Label names: same without ':'. */
const METRIC_CHAR = new Uint8Array(128);
const LABEL_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === CH_UNDERSCORE;
  const digit = c >= 48 && c <= 57;
  METRIC_CHAR[c] = alpha || c === 58 ? 3 : digit ? 2 : 0;
  LABEL_CHAR[c] = alpha ? 3 : digit ? 2 : 0;
}

export function isMetricNameStart(c: number): boolean {
  return c < 128 && (METRIC_CHAR[c]! & 1) !== 0;
}

export function isMetricNameChar(c: number): boolean {
  return c < 128 && METRIC_CHAR[c] !== 0;
}

export function isLabelNameStart(c: number): boolean {
  return c < 128 && (LABEL_CHAR[c]! & 1) !== 0;
}

export function isLabelNameChar(c: number): boolean {
  return c < 128 && LABEL_CHAR[c] !== 0;
}

/** True when `name` is a valid metric name. */
export function isMetricName(name: string): boolean {
  if (name.length === 0 || !isMetricNameStart(name.charCodeAt(0))) return false;
  for (let i = 1; i < name.length; i++) if (!isMetricNameChar(name.charCodeAt(i))) return false;
  return true;
}

/** True when `name` is a valid label name that is not reserved (`__` prefix). */
export function isLabelName(name: string): boolean {
  if (name.length === 0 || !isLabelNameStart(name.charCodeAt(0))) return false;
  if (name.charCodeAt(0) === CH_UNDERSCORE && name.charCodeAt(1) === CH_UNDERSCORE) return false;
  for (let i = 1; i < name.length; i++) if (!isLabelNameChar(name.charCodeAt(i))) return false;
  return true;
}

export function invalid(line: number, reason: string): never {
  throw new ShadowplaneError('SP_METRICS_INVALID', line > 0 ? `line ${line}: ${reason}` : reason);
}

export function tooLarge(line: number, reason: string): never {
  throw new ShadowplaneError('SP_METRICS_TOO_LARGE', line > 0 ? `line ${line}: ${reason}` : reason);
}

const NEEDS_LABEL_ESCAPE = /[\\"\n]/;
const LABEL_ESCAPES = /[\\"\n]/g;

function escapeChar(c: string): string {
  return c === '\n' ? '\\n' : `\\${c}`;
}

/** A label value as written between quotes: `\\`, `\"` and `\n` escaped. */
export function escapeLabelValue(value: string): string {
  return NEEDS_LABEL_ESCAPE.test(value) ? value.replace(LABEL_ESCAPES, escapeChar) : value;
}

/** Scanning state over one exposition. `end` is the position of the current line's LF. */
export class Lexer {
  readonly text: string;
  readonly limits: ParseLimits;
  pos = 0;
  end = 0;
  line = 0;
  /** Position of the next backslash at or after some earlier point (text.length: none). */
  #nextBackslash = -1;
  readonly #rereading: boolean;

  /**
   * `rereading`: the lexer reads a line again that was parsed before (parse-series.ts),
   * at any position: its backslash searches stay within the line. Otherwise positions
   * only grow, and the searches run ahead once for the whole text.
   */
  constructor(text: string, limits: ParseLimits, rereading = false) {
    this.text = text;
    this.limits = limits;
    this.#rereading = rereading;
  }

  /**
   * Position of the first backslash in `[from, limit)`, or a position at or past `limit`
   * when there is none. Amortised linear over a forward parse; within `[from, limit)`
   * when rereading (a search ahead from a point before the last would be quadratic).
   */
  backslashFrom(from: number, limit: number): number {
    if (this.#rereading) {
      const text = this.text;
      for (let i = from; i < limit; i++) if (text.charCodeAt(i) === CH_BACKSLASH) return i;
      return limit;
    }
    if (this.#nextBackslash < from) {
      const i = this.text.indexOf('\\', from);
      this.#nextBackslash = i === -1 ? this.text.length : i;
    }
    return this.#nextBackslash;
  }
}

export function skipBlanks(text: string, p: number, end: number): number {
  while (p < end) {
    const c = text.charCodeAt(p);
    if (c !== CH_SPACE && c !== CH_TAB) break;
    p++;
  }
  return p;
}

/** End of a token: the first space (or tab in the text format) or `end`. */
export function tokenEnd(text: string, p: number, end: number, om: boolean): number {
  while (p < end) {
    const c = text.charCodeAt(p);
    if (c === CH_SPACE || (!om && c === CH_TAB)) break;
    p++;
  }
  return p;
}

/** End of a metric name starting at `p`; invalid when it does not start one. */
export function scanMetricName(lx: Lexer, p: number): number {
  const text = lx.text;
  const end = lx.end;
  if (p >= end || !isMetricNameStart(text.charCodeAt(p))) invalid(lx.line, 'expected a metric name');
  let q = p + 1;
  while (q < end && isMetricNameChar(text.charCodeAt(q))) q++;
  if (q - p > lx.limits.maxNameLength) tooLarge(lx.line, 'metric name longer than the limit');
  return q;
}

/**
 * Scans `{name="value",…}` starting at `lx.pos` (which holds `{`), writing the pairs
 * flat into `out` and returning how many strings it wrote. `prev` (the previous
 * sample's labels) lets equal names and values be reused instead of sliced.
 * The text format allows blanks around tokens and a trailing comma; OpenMetrics allows
 * neither. Escapes: `\\`, `\"`, `\n` only; anything else after a backslash is refused.
 */
export function scanLabelSet(lx: Lexer, om: boolean, out: string[], prev: readonly string[] | undefined): number {
  const text = lx.text;
  const end = lx.end;
  const limits = lx.limits;
  let p = lx.pos + 1;
  let n = 0;
  if (!om) p = skipBlanks(text, p, end);
  if (p < end && text.charCodeAt(p) === CH_RBRACE) {
    lx.pos = p + 1;
    return 0;
  }
  for (;;) {
    const ns = p;
    const prevName = prev !== undefined && n < prev.length ? prev[n]! : undefined;
    let name: string;
    let same = prevName !== undefined;
    if (same) {
      // Compared in place (names are short): the previous sample's name at this
      // position, already checked, is valid, not reserved and within the limit.
      const length = prevName!.length;
      for (let k = 0; k < length; k++) {
        if (text.charCodeAt(ns + k) !== prevName!.charCodeAt(k)) {
          same = false;
          break;
        }
      }
      if (same && isLabelNameChar(text.charCodeAt(ns + length))) same = false;
    }
    if (same) {
      // (A name never holds the LF that ends the line, so it did not run past it.)
      name = prevName!;
      p = ns + prevName!.length;
    } else {
      if (p >= end || !isLabelNameStart(text.charCodeAt(p))) invalid(lx.line, 'expected a label name');
      p++;
      while (p < end && isLabelNameChar(text.charCodeAt(p))) p++;
      const nameLength = p - ns;
      if (nameLength > limits.maxLabelNameLength) tooLarge(lx.line, 'label name longer than the limit');
      name = text.slice(ns, p);
      if (nameLength > 1 && name.charCodeAt(0) === CH_UNDERSCORE && name.charCodeAt(1) === CH_UNDERSCORE) {
        invalid(lx.line, 'reserved label name');
      }
    }
    if (!om) p = skipBlanks(text, p, end);
    if (p >= end || text.charCodeAt(p) !== CH_EQ) invalid(lx.line, "expected '=' after a label name");
    p++;
    if (!om) p = skipBlanks(text, p, end);
    if (p >= end || text.charCodeAt(p) !== CH_QUOTE) invalid(lx.line, 'expected a quoted label value');
    p++;
    const q = text.indexOf('"', p);
    if (q === -1 || q >= end) invalid(lx.line, 'unterminated label value');
    let value: string;
    if (lx.backslashFrom(p, q) >= q) {
      const valueLength = q - p;
      if (valueLength > limits.maxLabelValueLength) tooLarge(lx.line, 'label value longer than the limit');
      const prevValue = prev !== undefined && n + 1 < prev.length ? prev[n + 1]! : undefined;
      value = prevValue !== undefined && prevValue.length === valueLength && text.startsWith(prevValue, p) ? prevValue : text.slice(p, q);
      p = q + 1;
    } else {
      value = '';
      let seg = p;
      for (;;) {
        if (p >= end) invalid(lx.line, 'unterminated label value');
        const c = text.charCodeAt(p);
        if (c === CH_QUOTE) break;
        if (c === CH_BACKSLASH) {
          value += text.slice(seg, p);
          const e = text.charCodeAt(p + 1);
          if (e === CH_BACKSLASH) value += '\\';
          else if (e === CH_QUOTE) value += '"';
          else if (e === 110) value += '\n';
          else invalid(lx.line, 'invalid escape sequence in a label value');
          p += 2;
          seg = p;
          if (value.length > limits.maxLabelValueLength) tooLarge(lx.line, 'label value longer than the limit');
          continue;
        }
        p++;
      }
      value += text.slice(seg, p);
      if (value.length > limits.maxLabelValueLength) tooLarge(lx.line, 'label value longer than the limit');
      p++;
    }
    for (let i = 0; i < n; i += 2) if (out[i] === name) invalid(lx.line, 'duplicate label name');
    if (n >= limits.maxLabelsPerSeries * 2) tooLarge(lx.line, 'more labels than the limit');
    out[n] = name;
    out[n + 1] = value;
    n += 2;
    if (!om) p = skipBlanks(text, p, end);
    const c = p < end ? text.charCodeAt(p) : CH_LF;
    if (c === CH_COMMA) {
      p++;
      if (!om) {
        p = skipBlanks(text, p, end);
        if (p < end && text.charCodeAt(p) === CH_RBRACE) {
          p++;
          break;
        }
      }
      continue;
    }
    if (c === CH_RBRACE) {
      p++;
      break;
    }
    invalid(lx.line, "expected ',' or '}' in a label set");
  }
  lx.pos = p;
  return n;
}

/**
 * Unescapes a HELP docstring in `text[s, e)`. The text format knows `\\` and `\n`;
 * OpenMetrics also `\"`. Any other escape is refused.
 */
export function unescapeHelp(lx: Lexer, s: number, e: number, om: boolean): string {
  const text = lx.text;
  if (lx.backslashFrom(s, e) >= e) return text.slice(s, e);
  let out = '';
  let seg = s;
  let p = s;
  while (p < e) {
    if (text.charCodeAt(p) !== CH_BACKSLASH) {
      p++;
      continue;
    }
    out += text.slice(seg, p);
    const c = p + 1 < e ? text.charCodeAt(p + 1) : -1;
    if (c === CH_BACKSLASH) out += '\\';
    else if (c === 110) out += '\n';
    else if (om && c === CH_QUOTE) out += '"';
    else invalid(lx.line, 'invalid escape sequence in HELP');
    p += 2;
    seg = p;
  }
  return out + text.slice(seg, e);
}

/** Number of Unicode code points in the label names and values of flat pairs. */
export function labelCodePoints(labels: readonly string[], n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = labels[i]!;
    total += s.length;
    for (let j = 0; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c >= 0xd800 && c <= 0xdbff) total--;
    }
  }
  return total;
}
