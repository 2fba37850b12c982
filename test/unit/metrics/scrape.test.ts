import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ErrorCode, isShadowplaneError } from '../../../src/errors.ts';
import { SCRAPE_ACCEPT } from '../../../src/metrics/content-type.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrapeMetrics } from '../../../src/metrics/scrape.ts';
import { scrubScrape } from '../../../src/metrics/scrub.ts';
import { serialize } from '../../../src/metrics/serialize.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];

async function serve(handler: Handler, host = '127.0.0.1'): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function expectRejection(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isShadowplaneError(err) ? err.code : err).toBe(code);
}

describe('scrape client', () => {
  it('fetches the body and content type, asking for OpenMetrics first', async () => {
    let accept: string | undefined;
    let encoding: string | undefined;
    const port = await serve((req, res) => {
      accept = req.headers.accept;
      encoding = req.headers['accept-encoding'];
      res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
      res.end('up 1\n# EOF\n');
    });
    const result = await scrapeMetrics({ port, path: '/metrics', timeoutMs: 5000 });
    expect(result.body.toString()).toBe('up 1\n# EOF\n');
    expect(result.format).toBe('openmetrics');
    expect(accept).toBe(SCRAPE_ACCEPT);
    expect(encoding).toBe('identity');
  });

  it('scrapes a pod loopback address other than 127.0.0.1', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end('up 1\n');
    }, '127.0.0.2');
    expect((await scrapeMetrics({ host: '127.0.0.2', port })).format).toBe('text');
  });

  it('stops reading and fails once the body passes the cap, without a Content-Length', async () => {
    let written = 0;
    let closed = false;
    const port = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (written < 50 * 1024 * 1024 && !closed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      req.socket.on('close', () => {
        closed = true;
      });
      pump();
    });
    await expectRejection(scrapeMetrics({ port, maxBytes: 256 * 1024 }), 'SP_METRICS_TOO_LARGE');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The server was cut off long before it could send its 50 MiB.
    expect(written).toBeLessThan(20 * 1024 * 1024);
  });

  it('fails on a declared Content-Length over the cap before reading', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': String(11 * 1024 * 1024) });
      res.write('x');
    });
    await expectRejection(scrapeMetrics({ port }), 'SP_METRICS_TOO_LARGE');
  });

  it('times out on a server that never answers', async () => {
    const port = await serve(() => undefined);
    const started = Date.now();
    await expectRejection(scrapeMetrics({ port, timeoutMs: 200 }), 'SP_METRICS_SCRAPE_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out on a body that trickles forever', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      const timer = setInterval(() => res.write('# x\n'), 20);
      res.on('close', () => clearInterval(timer));
    });
    await expectRejection(scrapeMetrics({ port, timeoutMs: 300 }), 'SP_METRICS_SCRAPE_TIMEOUT');
  });

  it.each([
    ['a status other than 200', 500, { 'content-type': 'text/plain' }, 'SP_METRICS_SCRAPE_FAILED'],
    ['a redirect (never followed)', 302, { location: 'http://example.com/' }, 'SP_METRICS_SCRAPE_FAILED'],
    ['a compressed body', 200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, 'SP_METRICS_SCRAPE_FAILED'],
    ['an unsupported content type', 200, { 'content-type': 'application/json' }, 'SP_METRICS_INVALID'],
    ['no content type', 200, {}, 'SP_METRICS_INVALID'],
  ] as const)('fails on %s', async (_name, status, headers, code) => {
    const port = await serve((_req, res) => {
      res.writeHead(status, headers);
      res.end('up 1\n');
    });
    await expectRejection(scrapeMetrics({ port }), code);
  });

  it('fails when nothing listens', async () => {
    const port = await serve(() => undefined);
    const server = servers.pop()!;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await expectRejection(scrapeMetrics({ port }), 'SP_METRICS_SCRAPE_FAILED');
  });

  it('refuses non-loopback hosts and malformed options without connecting', async () => {
    await expectRejection(scrapeMetrics({ host: '10.0.0.1', port: 80 }), 'SP_CONFIG_INVALID');
    await expectRejection(scrapeMetrics({ host: 'localhost.evil.example', port: 80 }), 'SP_CONFIG_INVALID');
    await expectRejection(scrapeMetrics({ port: 0 }), 'SP_CONFIG_INVALID');
    await expectRejection(scrapeMetrics({ port: 80, path: 'http://elsewhere/' }), 'SP_CONFIG_INVALID');
    await expectRejection(scrapeMetrics({ port: 80, path: '/a\r\nHost: x' }), 'SP_CONFIG_INVALID');
  });

  it('can be aborted', async () => {
    const port = await serve(() => undefined);
    const controller = new AbortController();
    const pending = scrapeMetrics({ port, signal: controller.signal, timeoutMs: 10_000 });
    setTimeout(() => controller.abort(), 50);
    await expectRejection(pending, 'SP_METRICS_SCRAPE_FAILED');
  });

  it('feeds the scrubber end to end: only allowed, scrubbed series come out of a real scrape', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
      res.end(
        [
          '# TYPE orders counter',
          '# HELP orders Orders placed by customer-4711.',
          'orders_total{region="eu",customer="customer-4711"} 12 # {trace_id="4bf92f3577b34da6"} 1',
          '# TYPE card_numbers_seen gauge',
          'card_numbers_seen{pan="4111111111111111"} 1',
          '# EOF',
          '',
        ].join('\n'),
      );
    });
    const scraped = await scrapeMetrics({ port });
    const policy = parseScrubPolicy({ families: [{ name: 'orders', labels: { region: 'keep', customer: 'hash' } }] }, 'workloads[0].metrics');
    const outcome = scrubScrape(scraped.body, scraped.contentType, policy, Buffer.alloc(32, 1));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    for (const format of ['text', 'openmetrics'] as const) {
      const out = serialize(outcome.families, format);
      for (const secret of ['customer-4711', '4bf92f3577b34da6', 'trace_id', 'card_numbers_seen', '4111111111111111', 'Orders placed']) expect(out).not.toContain(secret);
      expect(out).toContain('region="eu"');
      expect(parseExposition(out, format).sampleCount).toBe(1);
    }
    expect(outcome.stats).toMatchObject({ keptSeries: 1, droppedFamilies: 1, hashedValues: 1, droppedExemplars: 1, droppedHelp: 1 });
  });
});
