/**
 * What the metrics endpoints (per pod, federation, shadowplane's own) do alike for
 * scrapers: keep within the scraper's own deadline, compress when it accepts gzip, and
 * let go of an answer whose scraper stops reading it.
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
import { MAX_WRITE_STALL_MS, abortResponse, responseGone, watchWriteStall } from './write-stall.ts';

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

/** How a metrics answer ended: taken by the client, or its response ended first (the client left, or took none of it for the stall bound). */
export type Delivery = 'delivered' | 'client-gone' | 'stalled';

/**
 * Sends a metrics exposition: gzip-compressed when the client accepts it and it is worth
 * it. Resolves once the answer is delivered (the connection took all of it) or its
 * response ended first, never before: an endpoint's limits (federations at once, a
 * caller's per-pod requests) hold while the body is in memory here, not only while it
 * was being made. A client that takes none of the body for `maxStallMs`
 * (watchWriteStall) has its response ended (an HTTP/2 stream reset with CANCEL), and the
 * body is let go.
 */
export async function sendMetricsBody(res: AnyResponse, headers: IncomingHttpHeaders, contentType: string, body: Buffer, maxStallMs: number = MAX_WRITE_STALL_MS): Promise<Delivery> {
  const common = { 'content-type': contentType, 'cache-control': 'no-store', vary: 'accept-encoding' };
  const compress = body.length >= MIN_COMPRESSED_BYTES && acceptsGzip(headers['accept-encoding']);
  const payload = compress ? await gzipAsync(body, { level: zlibConstants.Z_BEST_SPEED }) : body;
  // The client may have left while the answer was made: then there is no one to write to,
  // and no 'finish' or 'close' would come.
  if (responseGone(res)) return 'client-gone';
  writeHead(res, 200, { ...common, ...(compress ? { 'content-encoding': 'gzip' } : {}), 'content-length': payload.length });
  return endInSlices(res, payload, maxStallMs);
}

/** What one write() of a metrics body hands the connection at most. */
const WRITE_SLICE_BYTES = 256 * 1024;

/**
 * Ends `res` with `body`, written a slice at a time, each once the previous one drained:
 * a single `res.end(body)` encrypts the whole body for TLS at once on the event loop
 * (150 ms for a 20 MB federation on a 2-core machine, every user's streams stalled
 * meanwhile). Resolves when the response finished or closed, or was ended by the stall
 * watch (whose abort settles it too: a silently destroyed HTTP/2 stream emits nothing).
 * A response that closes first stops the slices and is destroyed.
 */
function endInSlices(res: AnyResponse, body: Buffer, maxStallMs: number): Promise<Delivery> {
  return new Promise<Delivery>((resolve) => {
    let settled = false;
    const settle = (delivery: Delivery): void => {
      if (settled) return;
      settled = true;
      stop();
      res.off('finish', onEnd);
      res.off('close', onEnd);
      resolve(delivery);
    };
    // An HTTP/2 response emits 'finish' also when its stream was reset: only a finished
    // writable side is a delivery.
    const onEnd = (): void => settle(res.writableFinished ? 'delivered' : 'client-gone');
    res.once('finish', onEnd);
    res.once('close', onEnd);
    const stop = watchWriteStall(
      res,
      () => {
        settle('stalled');
        abortResponse(res);
      },
      maxStallMs,
    );
    if (body.length <= WRITE_SLICE_BYTES) res.end(body);
    else pipeline(Readable.from(slices(body)), res, () => undefined);
  });
}

function* slices(body: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < body.length; offset += WRITE_SLICE_BYTES) yield body.subarray(offset, offset + WRITE_SLICE_BYTES);
}
