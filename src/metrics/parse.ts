/**
 * Entry point of the exposition parsers: bounds the body, decodes it as strict UTF-8
 * and hands it to the parser of its format.
 *
 * Invariant: the size limit is checked on the raw bytes before anything is decoded, and
 * any doubt fails the whole parse with a ShadowplaneError (`SP_METRICS_INVALID` or
 * `SP_METRICS_TOO_LARGE`) whose detail carries no input bytes.
 */
import { ShadowplaneError } from '../errors.ts';
import { formatFromContentType } from './content-type.ts';
import type { ExpositionFormat, ParsedExposition } from './model.ts';
import { type ParseLimits, resolveParseLimits } from './parse-limits.ts';
import { parseOpenMetrics } from './parse-openmetrics.ts';
import { parseText } from './parse-text.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses one exposition in the given format. A string body is measured in UTF-8 bytes
 * against `maxBytes` like a byte body. A byte order mark is refused (it is kept by the
 * decoder and is not a valid first character).
 */
export function parseExposition(body: Uint8Array | string, format: ExpositionFormat, limits?: Partial<ParseLimits>): ParsedExposition {
  const resolved = resolveParseLimits(limits);
  const text = decodeBody(body, resolved);
  return format === 'openmetrics' ? parseOpenMetrics(text, resolved) : parseText(text, resolved);
}

/**
 * The body as text, after the size limit (checked first, on the raw length) and strict
 * UTF-8 decoding (or, for a string, a check that it is well-formed Unicode).
 */
export function decodeBody(body: Uint8Array | string, resolved: ParseLimits): string {
  let text: string;
  if (typeof body === 'string') {
    if (body.length > resolved.maxBytes || Buffer.byteLength(body, 'utf8') > resolved.maxBytes) {
      throw new ShadowplaneError('SP_METRICS_TOO_LARGE', 'body larger than the limit');
    }
    if (!body.isWellFormed()) throw new ShadowplaneError('SP_METRICS_INVALID', 'body is not valid Unicode');
    text = body;
  } else {
    if (body.byteLength > resolved.maxBytes) throw new ShadowplaneError('SP_METRICS_TOO_LARGE', 'body larger than the limit');
    try {
      text = decoder.decode(body);
    } catch (err) {
      throw new ShadowplaneError('SP_METRICS_INVALID', 'body is not valid UTF-8', { cause: err });
    }
  }
  return text;
}

/** Parses a scraped body, choosing the parser from the response's Content-Type. */
export function parseScrapedBody(body: Uint8Array, contentType: string | undefined, limits?: Partial<ParseLimits>): ParsedExposition {
  return parseExposition(body, formatFromContentType(contentType), limits);
}
