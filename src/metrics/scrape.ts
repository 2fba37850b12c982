/**
 * The scrape client: the agent fetches the workload's metrics from loopback inside the
 * pod. Everything is bounded: one deadline covers connect, headers and body; the body
 * is counted while it arrives and the request is destroyed the moment it passes the
 * cap (a declared Content-Length over the cap fails before reading); headers are capped
 * by the HTTP parser; no redirect is followed; no compression is accepted (a compressed
 * body would need a second cap on its decompressed size).
 */
import { request } from 'node:http';
import { isIP } from 'node:net';
import { ShadowplaneError } from '../errors.ts';
import { SCRAPE_ACCEPT, formatFromContentType } from './content-type.ts';
import type { ExpositionFormat } from './model.ts';
import { DEFAULT_PARSE_LIMITS } from './parse-limits.ts';

export interface ScrapeOptions {
  /** Loopback address: 127.0.0.0/8 or ::1. @default "127.0.0.1" */
  readonly host?: string;
  readonly port: number;
  /** @default "/metrics" */
  readonly path?: string;
  /** Whole-request deadline. @default 5000 */
  readonly timeoutMs?: number;
  /** Body cap in bytes. @default 10 MiB (the parser's default) */
  readonly maxBytes?: number;
  /** Aborts the scrape (for shutdown). */
  readonly signal?: AbortSignal;
}

export interface ScrapeResult {
  readonly body: Buffer;
  readonly contentType: string;
  readonly format: ExpositionFormat;
}

const MAX_HEADER_BYTES = 16 * 1024;
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@/%?-]{0,2047}$/;

function isLoopback(host: string): boolean {
  if (host === '::1') return true;
  if (isIP(host) !== 4) return false;
  return host.startsWith('127.');
}

/**
 * Fetches `http://<host>:<port><path>` with `Accept` preferring OpenMetrics, then text
 * 0.0.4. Resolves with the body, its Content-Type and the format it names.
 *
 * @throws ShadowplaneError SP_METRICS_SCRAPE_TIMEOUT past the deadline,
 *   SP_METRICS_TOO_LARGE past the body cap, SP_METRICS_INVALID for a Content-Type that
 *   names no supported format, SP_METRICS_SCRAPE_FAILED otherwise (connection refused,
 *   a status other than 200, a content encoding).
 */
export function scrapeMetrics(options: ScrapeOptions): Promise<ScrapeResult> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? DEFAULT_PARSE_LIMITS.maxBytes;
  if (!isLoopback(host)) return Promise.reject(new ShadowplaneError('SP_CONFIG_INVALID', 'metrics are scraped from a loopback address only'));
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) {
    return Promise.reject(new ShadowplaneError('SP_CONFIG_INVALID', 'scrape port out of range'));
  }
  if (!PATH.test(path)) return Promise.reject(new ShadowplaneError('SP_CONFIG_INVALID', 'scrape path is not an absolute URL path'));
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) {
    return Promise.reject(new ShadowplaneError('SP_CONFIG_INVALID', 'scrape timeout out of range'));
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) return Promise.reject(new ShadowplaneError('SP_CONFIG_INVALID', 'scrape body cap out of range'));

  return new Promise<ScrapeResult>((resolve, reject) => {
    let settled = false;
    const req = request({
      host,
      port: options.port,
      path,
      method: 'GET',
      agent: false,
      maxHeaderSize: MAX_HEADER_BYTES,
      headers: { accept: SCRAPE_ACCEPT, 'accept-encoding': 'identity', connection: 'close' },
    });
    const finish = (err: ShadowplaneError | undefined, result?: ScrapeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        req.destroy();
        reject(err);
      } else {
        resolve(result!);
      }
    };
    const timer = setTimeout(() => finish(new ShadowplaneError('SP_METRICS_SCRAPE_TIMEOUT', `no complete answer within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'scrape aborted'));
    if (options.signal?.aborted === true) {
      finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'scrape aborted'));
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err) => finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'connection to the metrics endpoint failed', { cause: err })));
    req.on('response', (res) => {
      res.on('error', (err) => finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'the metrics response broke off', { cause: err })));
      if (res.statusCode !== 200) {
        res.resume();
        finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', `metrics endpoint answered status ${res.statusCode ?? 0}`));
        return;
      }
      const encoding = res.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
        finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'the metrics response is content-encoded'));
        return;
      }
      const contentType = res.headers['content-type'];
      let format: ExpositionFormat;
      try {
        format = formatFromContentType(contentType);
      } catch (err) {
        finish(err as ShadowplaneError);
        return;
      }
      const declared = res.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBytes) {
        finish(new ShadowplaneError('SP_METRICS_TOO_LARGE', 'declared body larger than the limit'));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) {
          finish(new ShadowplaneError('SP_METRICS_TOO_LARGE', 'body larger than the limit'));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (!res.complete) {
          finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'the metrics response broke off'));
          return;
        }
        finish(undefined, { body: Buffer.concat(chunks, received), contentType: contentType!, format });
      });
      res.on('aborted', () => finish(new ShadowplaneError('SP_METRICS_SCRAPE_FAILED', 'the metrics response broke off')));
    });
    req.end();
  });
}
