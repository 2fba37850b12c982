/**
 * Numbers of the exposition formats: sample values, timestamps, and the numbers that
 * `le` and `quantile` label values spell. One grammar serves both formats (the
 * OpenMetrics `realnumber` plus case-insensitive NaN and infinities), checked by a
 * character scanner rather than a regular expression per value.
 */
import { type Lexer, invalid } from './parse-lexer.ts';

const CH_PLUS = 43;
const CH_MINUS = 45;
const CH_DOT = 46;

export const NUM_INVALID = 0;
export const NUM_FINITE = 1;
export const NUM_NAN = 2;
export const NUM_POS_INF = 3;
export const NUM_NEG_INF = 4;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Classifies `text[s, e)` as a number of the common grammar of both formats:
 * `[+-]?(digits[.digits?]|.digits)([eE][+-]?digits)?`, or case-insensitive `NaN`,
 * `[+-]Inf`, `[+-]Infinity`. Hexadecimal floats and digit separators (which Go's
 * ParseFloat would take) are refused. A finite spelling that overflows float64 is invalid.
 */
export function classifyNumber(text: string, s: number, e: number): number {
  if (s >= e || e - s > 64) return NUM_INVALID;
  let i = s;
  let c = text.charCodeAt(i);
  let negative = false;
  let signed = false;
  if (c === CH_PLUS || c === CH_MINUS) {
    negative = c === CH_MINUS;
    signed = true;
    i++;
    if (i >= e) return NUM_INVALID;
    c = text.charCodeAt(i);
  }
  if (c === CH_DOT || isDigit(c)) {
    let digits = 0;
    while (i < e && isDigit(text.charCodeAt(i))) {
      i++;
      digits++;
    }
    if (i < e && text.charCodeAt(i) === CH_DOT) {
      i++;
      while (i < e && isDigit(text.charCodeAt(i))) {
        i++;
        digits++;
      }
    }
    if (digits === 0) return NUM_INVALID;
    let exponent = false;
    if (i < e) {
      c = text.charCodeAt(i);
      if (c !== 101 && c !== 69) return NUM_INVALID;
      i++;
      if (i < e && (text.charCodeAt(i) === CH_PLUS || text.charCodeAt(i) === CH_MINUS)) i++;
      let expDigits = 0;
      while (i < e && isDigit(text.charCodeAt(i))) {
        i++;
        expDigits++;
      }
      if (expDigits === 0 || i !== e) return NUM_INVALID;
      exponent = true;
    }
    if ((exponent || e - s > 300) && !Number.isFinite(Number(text.slice(s, e)))) return NUM_INVALID;
    return NUM_FINITE;
  }
  const rest = text.slice(i, e).toLowerCase();
  if (rest === 'inf' || rest === 'infinity') return negative ? NUM_NEG_INF : NUM_POS_INF;
  if (rest === 'nan' && !signed) return NUM_NAN;
  return NUM_INVALID;
}

/** The canonical value text for `text[s, e)`, or invalid. */
export function numberText(lx: Lexer, s: number, e: number, what: string): string {
  switch (classifyNumber(lx.text, s, e)) {
    case NUM_FINITE:
      return lx.text.slice(s, e);
    case NUM_NAN:
      return 'NaN';
    case NUM_POS_INF:
      return '+Inf';
    case NUM_NEG_INF:
      return '-Inf';
    default:
      return invalid(lx.line, `${what} is not a number`);
  }
}

/** Numeric value of validated value text (canonical specials included). */
export function valueNumber(value: string): number {
  if (value === '+Inf') return Infinity;
  if (value === '-Inf') return -Infinity;
  return Number(value);
}

/** Text-format timestamp: a signed decimal integer of milliseconds. */
export function textTimestamp(lx: Lexer, s: number, e: number): number {
  let i = s;
  const c = lx.text.charCodeAt(i);
  if (c === CH_PLUS || c === CH_MINUS) i++;
  if (i >= e || e - i > 16) invalid(lx.line, 'timestamp is not an integer of milliseconds');
  for (let j = i; j < e; j++) if (!isDigit(lx.text.charCodeAt(j))) invalid(lx.line, 'timestamp is not an integer of milliseconds');
  const ms = Number(lx.text.slice(s, e));
  if (!Number.isSafeInteger(ms)) invalid(lx.line, 'timestamp out of range');
  return ms;
}

/** OpenMetrics timestamp: a real number of seconds, returned in milliseconds. */
export function openMetricsTimestamp(lx: Lexer, s: number, e: number): number {
  if (classifyNumber(lx.text, s, e) !== NUM_FINITE) invalid(lx.line, 'timestamp is not a number of seconds');
  const ms = Math.round(Number(lx.text.slice(s, e)) * 1000);
  if (!Number.isSafeInteger(ms)) invalid(lx.line, 'timestamp out of range');
  return ms;
}

// Module constants: a regular expression literal in the function would be a new RegExp
// object per call, and labelNumber runs once per histogram bucket and summary quantile.
// (No /g or /y flag, so `test` keeps no state between calls.)
const FINITE_LABEL_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const POS_INF_LABEL_NUMBER = /^\+?inf(?:inity)?$/i;
const NEG_INF_LABEL_NUMBER = /^-inf(?:inity)?$/i;

/**
 * The number a label value (`le`, `quantile`) spells in the common grammar, or NaN when
 * it spells none (a literal NaN threshold is refused by the callers all the same). As
 * for sample values: at most 64 characters, and a finite spelling that overflows float64
 * (`1e999`, which Go's ParseFloat refuses) spells none, rather than +Inf.
 */
export function labelNumber(s: string): number {
  if (s.length > 64) return NaN;
  if (FINITE_LABEL_NUMBER.test(s)) {
    const n = Number(s);
    return Number.isFinite(n) ? n : NaN;
  }
  if (POS_INF_LABEL_NUMBER.test(s)) return Infinity;
  if (NEG_INF_LABEL_NUMBER.test(s)) return -Infinity;
  return NaN;
}
