import { describe, expect, it } from 'vitest';
import { acceptsGzip, answerBudgetMs } from '../../../src/proxy/metrics-response.ts';

describe('the scraper\'s deadline', () => {
  it('answers a little before the scrape timeout Prometheus announces, never later than the endpoint\'s own', () => {
    const h = (v: string | undefined) => (v === undefined ? {} : { 'x-prometheus-scrape-timeout-seconds': v });
    expect(answerBudgetMs(h(undefined), 20_000)).toBe(20_000);
    expect(answerBudgetMs(h('10'), 20_000)).toBe(9_000);
    expect(answerBudgetMs(h('1.5'), 20_000)).toBe(1_250);
    expect(answerBudgetMs(h('60'), 20_000)).toBe(20_000);
    expect(answerBudgetMs(h('0.2'), 20_000)).toBe(100);
    // Not a positive number of seconds: ignored.
    for (const bad of ['', '-1', '0', 'abc', '1e3', '10s', ' ', '9'.repeat(40), 'NaN', 'Infinity']) expect(answerBudgetMs(h(bad), 20_000), bad).toBe(20_000);
  });
});

describe('Accept-Encoding', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['x-gzip', true],
    ['*', true],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip;q=0.000', false],
    ['*;q=0', false],
    ['*, gzip;q=0', false],
    ['br', false],
    ['', false],
  ] as const)('%j accepts gzip: %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });

  it('takes a repeated header as one list, and refuses an oversized one', () => {
    expect(acceptsGzip(['br', 'gzip'])).toBe(true);
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip(`gzip,${'x'.repeat(5000)}`)).toBe(false);
  });
});
