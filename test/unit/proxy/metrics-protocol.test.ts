import { describe, expect, it } from 'vitest';
import { decodeMetricsRequest, decodeScrubStats, encodeMetricsRequest, encodeScrubStats, metricsPath, parseMetricsQuery } from '../../../src/channel/metrics-protocol.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { emptyScrubStats } from '../../../src/metrics/scrub.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isShadowplaneError(err)) return err.code;
    throw err;
  }
  return 'none';
}

describe('the channel metrics operation', () => {
  it('round-trips the query and the request body', () => {
    const path = metricsPath({ format: 'openmetrics', port: 9102 });
    expect(path).toBe('/v1/metrics?format=openmetrics&port=9102');
    expect(parseMetricsQuery(new URL(path, 'http://a').searchParams)).toEqual({ format: 'openmetrics', port: 9102 });
    const key = Buffer.alloc(32, 7);
    const body = decodeMetricsRequest(encodeMetricsRequest({ policy: { families: [{ name: 'x' }] }, hashKey: key }));
    expect(body.policy).toEqual({ families: [{ name: 'x' }] });
    expect(body.hashKey.equals(key)).toBe(true);
  });

  it.each([
    ['format=json'],
    ['format=text&format=text'],
    [''],
    ['format=text&port=0'],
    ['format=text&port=70000'],
    ['format=text&port=1&port=2'],
    ['format=text&port=0x50'],
  ])('refuses the query %s', (q) => {
    expect(codeOf(() => parseMetricsQuery(new URLSearchParams(q)))).toBe('SP_BAD_REQUEST');
  });

  it.each([
    ['not JSON', Buffer.from('{')],
    ['an array', Buffer.from('[]')],
    ['an extra field', Buffer.from(JSON.stringify({ policy: {}, hashKey: Buffer.alloc(32).toString('base64'), extra: 1 }))],
    ['a short key', Buffer.from(JSON.stringify({ policy: {}, hashKey: Buffer.alloc(8).toString('base64') }))],
    ['a key that is not base64', Buffer.from(JSON.stringify({ policy: {}, hashKey: '!!!!' }))],
    ['no policy', Buffer.from(JSON.stringify({ hashKey: Buffer.alloc(32).toString('base64') }))],
    ['over 1 MiB', Buffer.alloc(1024 * 1024 + 1, 32)],
  ])('refuses a request body with %s', (_label, bytes) => {
    expect(codeOf(() => decodeMetricsRequest(bytes))).toBe('SP_BAD_REQUEST');
  });

  it('carries the scrub statistics as counts only, and refuses anything else', () => {
    const stats = emptyScrubStats();
    stats.keptSeries = 12;
    stats.droppedSeriesCollision = 3;
    stats.hashedValues = 7;
    expect(decodeScrubStats(encodeScrubStats(stats))).toEqual(stats);
    for (const bad of [undefined, '', 'a,b', encodeScrubStats(stats).replace('12', '-1'), `${encodeScrubStats(stats)},1`, 'x'.repeat(5000)]) {
      expect(codeOf(() => decodeScrubStats(bad))).toBe('SP_AGENT_PROTOCOL');
    }
  });
});
