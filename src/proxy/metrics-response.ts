/**
 * What the metrics endpoints (per pod, federation, shadowplane's own) do alike for
 * scrapers: keep within the scraper's own deadline, and compress when it accepts gzip.
 *
 * Prometheus tells a target its scrape timeout in `X-Prometheus-Scrape-Timeout-Seconds`
 * and gives up on the whole scrape after it. A federation that waited for a slow pod past
 * that would lose every other pod's metrics too, so the endpoints answer a little before
 * it (ANSWER_MARGIN) with what they have. Prometheus also sends `Accept-Encoding: gzip`;
 * metrics text compresses about tenfold, and the compression runs on libuv's thread pool,
 * not on the event loop.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzip } from 'node:zlib';
import type { AnyResponse } from './respond.ts';
import { writeHead } from './respond.ts';

const gzipAsync = promisify(gzip);

/** Bodies below this size are sent as they are. */
const MIN_COMPRESSED_BYTES = 256;

/** The scraper's deadline less this share of it (and at least ANSWER_MARGIN_MS) is the answer's deadline. */
const ANSWER_MARGIN = 0.1;
const ANSWER_MARGIN_MS = 250;
/** The least time an answer is given, whatever the scraper says. */
const MIN_BUDGET_MS = 100;

/**
 * The time the endpoint has to answer: `defaultMs`, or less when the scraper announced a
 * shorter scrape timeout. A header that is not a positive number of seconds is ignored.
 */
export function answerBudgetMs(headers: IncomingHttpHeaders, defaultMs: number): number {
  const raw = headers['x-prometheus-scrape-timeout-seconds'];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (text === undefined || !/^[0-9]{1,6}(\.[0-9]{1,9})?$/.test(text.trim())) return defaultMs;
  const scraperMs = Number(text.trim()) * 1000;
  if (!(scraperMs > 0)) return defaultMs;
  const budget = scraperMs - Math.max(ANSWER_MARGIN_MS, scraperMs * ANSWER_MARGIN);
  return Math.min(defaultMs, Math.max(MIN_BUDGET_MS, Math.floor(budget)));
}

/** Whether an Accept-Encoding header accepts gzip (named, or by `*`, with a q above zero). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined || text.length > 4096) return false;
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const part of text.split(',')) {
    const [coding, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9](?:\.[0-9]{0,3})?)$/.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (coding === 'gzip' || coding === 'x-gzip') gzipQ = q;
    else if (coding === '*') anyQ = q;
  }
  return (gzipQ ?? anyQ ?? 0) > 0;
}

/** Sends a metrics exposition: gzip-compressed when the client accepts it and it is worth it. */
export async function sendMetricsBody(res: AnyResponse, headers: IncomingHttpHeaders, contentType: string, body: Buffer): Promise<void> {
  const common = { 'content-type': contentType, 'cache-control': 'no-store', vary: 'accept-encoding' };
  if (body.length >= MIN_COMPRESSED_BYTES && acceptsGzip(headers['accept-encoding'])) {
    const compressed = await gzipAsync(body, { level: zlibConstants.Z_BEST_SPEED });
    writeHead(res, 200, { ...common, 'content-encoding': 'gzip', 'content-length': compressed.length });
    endInSlices(res, compressed);
    return;
  }
  writeHead(res, 200, { ...common, 'content-length': body.length });
  endInSlices(res, body);
}

/** What one write() of a metrics body hands the connection at most. */
const WRITE_SLICE_BYTES = 256 * 1024;

/**
 * Ends `res` with `body`, written a slice at a time, each once the previous one drained:
 * a single `res.end(body)` encrypts the whole body for TLS at once on the event loop
 * (150 ms for a 20 MB federation on a 2-core machine, every user's streams stalled
 * meanwhile). Returns at once, as `res.end(body)` did: the endpoint is done once its
 * answer is handed over, and the slices follow as the client reads. A response that
 * closes first (its client left) stops the slices and is destroyed; how long a client may
 * take to read is the connection's business (its timeouts), as for any answer.
 */
function endInSlices(res: AnyResponse, body: Buffer): void {
  if (body.length <= WRITE_SLICE_BYTES) {
    res.end(body);
    return;
  }
  pipeline(Readable.from(slices(body)), res, () => undefined);
}

function* slices(body: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < body.length; offset += WRITE_SLICE_BYTES) yield body.subarray(offset, offset + WRITE_SLICE_BYTES);
}
