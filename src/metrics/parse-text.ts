/**
 * Parser for the Prometheus text exposition format 0.0.4, strict.
 *
 * Accepted as Prometheus does: blanks and tabs between tokens, empty lines, plain
 * comments, a trailing comma in a label set, HELP before or after TYPE.
 * Refused (the whole exposition fails): a last line without LF, an escape other than
 * `\\` `\"` `\n` in a label value or `\\` `\n` in HELP, a duplicate series or label
 * name, reserved `__` label names, metadata after samples or twice, interleaved
 * families, histograms without +Inf or with unordered buckets, and every OpenMetrics
 * construct (`# EOF`, `# UNIT`, exemplars, OpenMetrics-only types): a body that mixes
 * formats is a body whose meaning is in doubt.
 */
import type { MetricType, ParsedExposition } from './model.ts';
import { ExpositionBuilder } from './parse-families.ts';
import type { ParseLimits } from './parse-limits.ts';
import {
  Lexer,
  invalid,
  isMetricName,
  scanLabelSet,
  skipBlanks,
  tokenEnd,
  tooLarge,
  unescapeHelp,
} from './parse-lexer.ts';
import { numberText, textTimestamp } from './parse-numbers.ts';

/** The types a text format TYPE line may name. */
export const TEXT_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parseText(text: string, limits: ParseLimits): ParsedExposition {
  const builder = new ExpositionBuilder(false, limits);
  parseTextInto(text, limits, builder);
  return builder.exposition('text');
}

/** Parses `text` into `builder` (made with `om` false), whose sink receives the samples. */
export function parseTextInto(text: string, limits: ParseLimits, builder: ExpositionBuilder): void {
  const lx = new Lexer(text, limits);
  const length = text.length;
  if (length > 0 && text.charCodeAt(length - 1) !== 10) invalid(0, 'the last line does not end with a line feed');
  let pos = 0;
  let line = 0;
  while (pos < length) {
    line++;
    const eol = text.indexOf('\n', pos);
    if (eol - pos > limits.maxLineLength) tooLarge(line, 'line longer than the limit');
    lx.end = eol;
    lx.line = line;
    const p = skipBlanks(text, pos, eol);
    if (p < eol) {
      if (text.charCodeAt(p) === 35) comment(lx, builder, p + 1);
      else sample(lx, builder, p);
    }
    pos = eol + 1;
  }
  builder.end(line);
}

function comment(lx: Lexer, builder: ExpositionBuilder, p: number): void {
  const text = lx.text;
  const end = lx.end;
  p = skipBlanks(text, p, end);
  const keywordEnd = tokenEnd(text, p, end, false);
  const keyword = text.slice(p, keywordEnd);
  if (keyword === 'EOF' || keyword === 'UNIT') invalid(lx.line, 'OpenMetrics syntax in a text format exposition');
  if (keyword !== 'HELP' && keyword !== 'TYPE') return;
  p = skipBlanks(text, keywordEnd, end);
  const nameEnd = tokenEnd(text, p, end, false);
  const name = text.slice(p, nameEnd);
  if (!isMetricName(name)) invalid(lx.line, `invalid metric name in ${keyword}`);
  if (name.length > lx.limits.maxNameLength) tooLarge(lx.line, 'metric name longer than the limit');
  const family = builder.familyForMetadata(name, lx.line);
  p = skipBlanks(text, nameEnd, end);
  if (keyword === 'HELP') {
    builder.setHelp(family, unescapeHelp(lx, p, end, false), lx.line);
    return;
  }
  const typeEnd = tokenEnd(text, p, end, false);
  const type = text.slice(p, typeEnd);
  if (!TEXT_TYPES.has(type)) invalid(lx.line, 'metric type not allowed in the text format');
  if (skipBlanks(text, typeEnd, end) !== end) invalid(lx.line, 'unexpected text after TYPE');
  builder.setType(family, type as MetricType, lx.line);
}

function sample(lx: Lexer, builder: ExpositionBuilder, p: number): void {
  const text = lx.text;
  const scratch = builder.scratch;
  const end = lx.end;
  const family = builder.familyAt(lx, p);
  const nameEnd = builder.nameEnd;
  let q = skipBlanks(text, nameEnd, end);
  let n = 0;
  let labelsAt = -1;
  if (q < end && text.charCodeAt(q) === 123) {
    lx.pos = q;
    n = scanLabelSet(lx, false, scratch, builder.lastLabels);
    labelsAt = q;
    q = skipBlanks(text, lx.pos, end);
  } else if (q === nameEnd) {
    invalid(lx.line, 'invalid character after a metric name');
  }
  const valueEnd = tokenEnd(text, q, end, false);
  if (valueEnd === q) invalid(lx.line, 'missing sample value');
  const value = numberText(lx, q, valueEnd, 'sample value');
  q = skipBlanks(text, valueEnd, end);
  let timestampMs: number | undefined;
  if (q < end) {
    if (text.charCodeAt(q) === 35) invalid(lx.line, 'exemplars are OpenMetrics syntax');
    const tsEnd = tokenEnd(text, q, end, false);
    timestampMs = textTimestamp(lx, q, tsEnd);
    if (skipBlanks(text, tsEnd, end) !== end) invalid(lx.line, 'unexpected text after the timestamp');
  }
  builder.addSample(family, builder.role, builder.sampleName, scratch, n, value, timestampMs, undefined, lx.line, text, labelsAt);
}
