/**
 * Media types of the two exposition formats: reading a scraped response's
 * Content-Type, the Accept header the scrape client sends, and choosing the format to
 * answer a scraper with from its Accept header.
 */
import { ShadowplaneError } from '../errors.ts';
import type { ExpositionFormat } from './model.ts';

export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = Object.freeze({
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
});

/** What the scrape client asks a workload for: OpenMetrics first, then text 0.0.4. */
export const SCRAPE_ACCEPT = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';

const MAX_HEADER_LENGTH = 4096;
const MAX_MEDIA_RANGES = 32;

interface MediaRange {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
}

function parseMediaRange(raw: string): MediaRange | undefined {
  const parts = raw.split(';');
  const type = parts[0]!.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type) && type !== '*/*') return undefined;
  const params = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    params.set(key, value);
  }
  return { type, params };
}

function formatOf(range: MediaRange): ExpositionFormat | undefined {
  const version = range.params.get('version');
  if (range.type === 'application/openmetrics-text') {
    return version === undefined || version === '1.0.0' || version === '0.0.1' ? 'openmetrics' : undefined;
  }
  if (range.type === 'text/plain') return version === undefined || version === '0.0.4' ? 'text' : undefined;
  return undefined;
}

/**
 * The format of a scraped body from its Content-Type. A missing or unknown type, a
 * version this parser does not implement, or a charset other than UTF-8 is refused:
 * guessing a format is a doubt, and doubt drops the scrape.
 */
export function formatFromContentType(contentType: string | undefined): ExpositionFormat {
  if (contentType === undefined || contentType.length > MAX_HEADER_LENGTH) {
    throw new ShadowplaneError('SP_METRICS_INVALID', 'missing or oversized Content-Type');
  }
  const range = parseMediaRange(contentType);
  const format = range === undefined ? undefined : formatOf(range);
  const charset = range?.params.get('charset')?.toLowerCase();
  if (format === undefined || (charset !== undefined && charset !== 'utf-8')) {
    throw new ShadowplaneError('SP_METRICS_INVALID', 'unsupported Content-Type for metrics');
  }
  return format;
}

/**
 * Chooses the format to answer a scraper with. Highest q wins; on a tie an explicit
 * media type beats a wildcard and OpenMetrics beats text. No Accept header (or an empty
 * one) means text 0.0.4, what every Prometheus understands. Parameters other than
 * `version`, `charset` and `q` (such as Prometheus 3's `escaping`) are ignored: this
 * proxy only emits legacy metric names, valid under every escaping scheme.
 *
 * @throws ShadowplaneError SP_METRICS_NOT_ACCEPTABLE when nothing acceptable remains.
 */
export function negotiateFormat(accept: string | undefined): { format: ExpositionFormat; contentType: string } {
  const chosen = (format: ExpositionFormat) => ({ format, contentType: CONTENT_TYPES[format] });
  if (accept === undefined || accept.trim() === '') return chosen('text');
  if (accept.length > MAX_HEADER_LENGTH) throw new ShadowplaneError('SP_METRICS_NOT_ACCEPTABLE', 'Accept header too long');
  const ranges = accept.split(',');
  if (ranges.length > MAX_MEDIA_RANGES) throw new ShadowplaneError('SP_METRICS_NOT_ACCEPTABLE', 'too many media ranges');
  let best: { format: ExpositionFormat; q: number; rank: number } | undefined;
  for (const raw of ranges) {
    const range = parseMediaRange(raw);
    if (range === undefined) continue;
    const qText = range.params.get('q');
    const q = qText === undefined ? 1 : /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(qText) ? Number(qText) : -1;
    if (q <= 0) continue;
    const candidates: Array<[ExpositionFormat, number]> = [];
    const explicit = formatOf(range);
    if (explicit !== undefined) candidates.push([explicit, explicit === 'openmetrics' ? 3 : 2]);
    else if (range.type === '*/*' || range.type === 'text/*') candidates.push(['text', 1]);
    else if (range.type === 'application/*') candidates.push(['openmetrics', 1]);
    for (const [format, rank] of candidates) {
      if (best === undefined || q > best.q || (q === best.q && rank > best.rank)) best = { format, q, rank };
    }
  }
  if (best === undefined) throw new ShadowplaneError('SP_METRICS_NOT_ACCEPTABLE');
  return chosen(best.format);
}
