/**
 * Parser for OpenMetrics 1.0 text, strict.
 *
 * Follows the ABNF exactly: single spaces, no blank lines, no comments other than
 * TYPE/HELP/UNIT, and `# EOF` as the last line (optionally followed by one LF). On top
 * of the ABNF it enforces the data-model rules a reader needs to trust a body: unique
 * family and sample names, metadata before samples and at most once, units as name
 * suffixes, non-interleaved families and metrics, per-type sample names and values,
 * exemplars only on counter totals and histogram buckets with at most 128 code points
 * of labels. Deliberately stricter than the specification in two places: an undefined
 * escape (`\a`) is refused rather than read as a literal backslash, and a metric
 * exposed twice (several MetricPoints with timestamps) counts as a duplicate series.
 */
import type { Exemplar, MetricType, ParsedExposition } from './model.ts';
import { ExpositionBuilder } from './parse-families.ts';
import type { ParseLimits } from './parse-limits.ts';
import {
  Lexer,
  invalid,
  isMetricName,
  isMetricNameChar,
  labelCodePoints,
  scanLabelSet,
  tokenEnd,
  tooLarge,
  unescapeHelp,
} from './parse-lexer.ts';
import { numberText, openMetricsTimestamp } from './parse-numbers.ts';

const OM_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset', 'info', 'summary', 'unknown']);

const EXEMPLAR_MAX_CODE_POINTS = 128;

export function parseOpenMetrics(text: string, limits: ParseLimits): ParsedExposition {
  const builder = new ExpositionBuilder(true, limits);
  parseOpenMetricsInto(text, limits, builder);
  return builder.exposition('openmetrics');
}

/** Parses `text` into `builder` (made with `om` true), whose sink receives the samples. */
export function parseOpenMetricsInto(text: string, limits: ParseLimits, builder: ExpositionBuilder): void {
  const lx = new Lexer(text, limits);
  const exemplarScratch: string[] = [];
  const length = text.length;
  let pos = 0;
  let line = 0;
  while (pos < length) {
    line++;
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = length;
    if (eol - pos > limits.maxLineLength) tooLarge(line, 'line longer than the limit');
    lx.end = eol;
    lx.line = line;
    if (eol === pos) invalid(line, 'empty line');
    if (text.charCodeAt(pos) === 35) {
      if (eol - pos === 5 && text.startsWith('# EOF', pos)) {
        if (eol + 1 < length) invalid(line, 'content after # EOF');
        builder.end(line);
        return;
      }
      descriptor(lx, builder, pos);
    } else {
      if (eol === length) invalid(line, 'the last line does not end with a line feed');
      sample(lx, builder, pos, exemplarScratch);
    }
    pos = eol + 1;
  }
  invalid(line, 'missing # EOF');
}

function descriptor(lx: Lexer, builder: ExpositionBuilder, pos: number): void {
  const text = lx.text;
  const end = lx.end;
  if (end === text.length) invalid(lx.line, 'the last line does not end with a line feed');
  const kind = text.startsWith('# TYPE ', pos) ? 'TYPE' : text.startsWith('# HELP ', pos) ? 'HELP' : text.startsWith('# UNIT ', pos) ? 'UNIT' : undefined;
  if (kind === undefined) invalid(lx.line, 'a comment other than TYPE, HELP, UNIT or EOF');
  const p = pos + 7;
  const nameEnd = tokenEnd(text, p, end, true);
  const name = text.slice(p, nameEnd);
  if (!isMetricName(name)) invalid(lx.line, `invalid metric name in ${kind}`);
  if (name.length > lx.limits.maxNameLength) tooLarge(lx.line, 'metric name longer than the limit');
  const family = builder.familyForMetadata(name, lx.line);
  // HELP and UNIT may be empty, written with or without the separating space.
  const rest = nameEnd === end ? end : nameEnd + 1;
  if (kind === 'HELP') {
    builder.setHelp(family, unescapeHelp(lx, rest, end, true), lx.line);
    return;
  }
  if (kind === 'UNIT') {
    for (let i = rest; i < end; i++) if (!isMetricNameChar(text.charCodeAt(i))) invalid(lx.line, 'invalid unit');
    builder.setUnit(family, text.slice(rest, end), lx.line);
    return;
  }
  if (nameEnd === end) invalid(lx.line, 'TYPE without a type');
  const type = text.slice(rest, end);
  if (!OM_TYPES.has(type)) invalid(lx.line, 'unknown metric type');
  builder.setType(family, type as MetricType, lx.line);
}

function sample(lx: Lexer, builder: ExpositionBuilder, pos: number, exemplarScratch: string[]): void {
  const text = lx.text;
  const scratch = builder.scratch;
  const end = lx.end;
  const family = builder.familyAt(lx, pos);
  const nameEnd = builder.nameEnd;
  let q = nameEnd;
  let n = 0;
  let labelsAt = -1;
  if (q < end && text.charCodeAt(q) === 123) {
    lx.pos = q;
    n = scanLabelSet(lx, true, scratch, builder.lastLabels);
    labelsAt = q;
    q = lx.pos;
  }
  if (q >= end || text.charCodeAt(q) !== 32) invalid(lx.line, 'expected a space before the value');
  q++;
  const valueEnd = tokenEnd(text, q, end, true);
  const value = numberText(lx, q, valueEnd, 'sample value');
  q = valueEnd;
  let timestampMs: number | undefined;
  let exemplar: Exemplar | undefined;
  if (q < end) {
    q++; // the space tokenEnd stopped at
    if (q < end && text.charCodeAt(q) !== 35) {
      const tsEnd = tokenEnd(text, q, end, true);
      timestampMs = openMetricsTimestamp(lx, q, tsEnd);
      q = tsEnd;
      if (q < end) q++;
    }
    if (q < end) {
      exemplar = parseExemplar(lx, q, exemplarScratch);
    } else if (text.charCodeAt(q - 1) === 32) {
      invalid(lx.line, 'trailing space');
    }
  }
  builder.addSample(family, builder.role, builder.sampleName, scratch, n, value, timestampMs, exemplar, lx.line, text, labelsAt);
}

/** ` # {labels} value [timestamp]`, with `q` at the `#`. */
function parseExemplar(lx: Lexer, q: number, scratch: string[]): Exemplar {
  const text = lx.text;
  const end = lx.end;
  if (!text.startsWith('# {', q) || q + 3 > end) invalid(lx.line, 'unexpected text after the value');
  lx.pos = q + 2;
  const n = scanLabelSet(lx, true, scratch, undefined);
  if (labelCodePoints(scratch, n) > EXEMPLAR_MAX_CODE_POINTS) invalid(lx.line, 'exemplar labels longer than 128 code points');
  let p = lx.pos;
  if (p >= end || text.charCodeAt(p) !== 32) invalid(lx.line, 'expected a space before the exemplar value');
  p++;
  const valueEnd = tokenEnd(text, p, end, true);
  const value = numberText(lx, p, valueEnd, 'exemplar value');
  let timestampMs: number | undefined;
  if (valueEnd < end) {
    const tsStart = valueEnd + 1;
    const tsEnd = tokenEnd(text, tsStart, end, true);
    if (tsEnd !== end) invalid(lx.line, 'unexpected text after the exemplar');
    timestampMs = openMetricsTimestamp(lx, tsStart, tsEnd);
  }
  return { labels: scratch.slice(0, n), value, timestampMs };
}
