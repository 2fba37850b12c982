import { describe, expect, it } from 'vitest';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { expectCode } from './helpers.ts';

describe('scrub policy', () => {
  it('reads a full policy with defaults filled in and freezes it', () => {
    const policy = parseScrubPolicy(
      {
        families: [
          { name: 'http_requests_total', labels: { method: 'keep', user_id: 'hash', instance: 'drop' }, maxSeries: 50, help: true, created: true },
          { name: 'process_*' },
        ],
        labels: { code: 'keep' },
        scrape: { port: 9090 },
      },
      'workloads[0].metrics',
    );
    expect(policy.maxSeriesPerFamily).toBe(1000);
    expect(policy.maxSeries).toBe(10_000);
    expect(policy.timestamps).toBe('drop');
    expect(policy.hashLength).toBe(16);
    expect(policy.scrape).toEqual({ port: 9090, path: '/metrics' });
    expect(policy.labels.get('code')).toBe('keep');
    const [first, second] = policy.families;
    expect(first).toMatchObject({ name: 'http_requests_total', isPattern: false, maxSeries: 50, help: true, created: true });
    expect([...first!.labels]).toEqual([
      ['method', 'keep'],
      ['user_id', 'hash'],
      ['instance', 'drop'],
    ]);
    expect(second).toMatchObject({ name: 'process_*', isPattern: true, maxSeries: undefined, help: false, created: false });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.families)).toBe(true);
    // The scrape limits default to the parser's and the scrape client's.
    expect(policy.limits).toEqual({ maxBytes: 10 * 1024 * 1024, maxSamples: 250_000, timeoutMs: 5000 });
  });

  it('reads a workload\'s own scrape limits, each defaulted on its own, up to their ceilings', () => {
    const read = (limits: unknown) => parseScrubPolicy({ families: [], limits }, 'workloads[0].metrics').limits;
    expect(read({ maxBytes: 32 * 1024 * 1024, maxSamples: 1_000_000, timeoutMs: 60_000 })).toEqual({ maxBytes: 32 * 1024 * 1024, maxSamples: 1_000_000, timeoutMs: 60_000 });
    expect(read({ maxSamples: 500 })).toEqual({ maxBytes: 10 * 1024 * 1024, maxSamples: 500, timeoutMs: 5000 });
    expect(read({ maxBytes: 1024, timeoutMs: 100 })).toEqual({ maxBytes: 1024, maxSamples: 250_000, timeoutMs: 100 });
    expect(Object.isFrozen(read({ timeoutMs: 1000 }))).toBe(true);
  });

  it.each([
    [{}, 'workloads[0].metrics.families: is required'],
    [{ families: [{ name: 'ok' }], extra: 1 }, 'workloads[0].metrics: unknown field "extra"'],
    [{ families: [{ name: 'a' }, { name: 'b' }, { name: 'bad-name' }] }, 'workloads[0].metrics.families[2].name:'],
    [{ families: [{ name: 'a' }, { name: 'a' }] }, 'workloads[0].metrics.families[1].name: duplicate family rule'],
    [{ families: [{ name: 'a', labels: { user: 'encrypt' } }] }, 'workloads[0].metrics.families[0].labels.user: must be one of'],
    [{ families: [{ name: 'a', labels: { __name__: 'keep' } }] }, 'workloads[0].metrics.families[0].labels.__name__: is not a valid label name'],
    [{ families: [{ name: 'a', labels: ['user'] }] }, 'workloads[0].metrics.families[0].labels: must be a map'],
    [{ families: [{ name: 'a', maxSeries: 0 }] }, 'workloads[0].metrics.families[0].maxSeries: must be at least 1'],
    [{ families: [{ name: 'a', help: 'yes' }] }, 'workloads[0].metrics.families[0].help: must be true or false'],
    [{ families: [{ name: 'a', exemplars: true }] }, 'workloads[0].metrics.families[0]: unknown field "exemplars"'],
    [{ families: [], labels: { 'bad label': 'keep' } }, 'workloads[0].metrics.labels.bad label: is not a valid label name'],
    [{ families: [], timestamps: 'sometimes' }, 'workloads[0].metrics.timestamps: must be one of'],
    [{ families: [], hashLength: 4 }, 'workloads[0].metrics.hashLength: must be at least 8'],
    [{ families: [], maxSeries: 1.5 }, 'workloads[0].metrics.maxSeries: must be an integer'],
    [{ families: [], scrape: { port: 70_000 } }, 'workloads[0].metrics.scrape.port: must be at most 65535'],
    [{ families: [], scrape: { port: 80, path: 'metrics' } }, 'workloads[0].metrics.scrape.path: must be an absolute URL path'],
    [{ families: [], limits: { maxBytes: 32 * 1024 * 1024 + 1 } }, 'workloads[0].metrics.limits.maxBytes: must be at most 33554432'],
    [{ families: [], limits: { maxBytes: 1023 } }, 'workloads[0].metrics.limits.maxBytes: must be at least 1024'],
    [{ families: [], limits: { maxSamples: 1_000_001 } }, 'workloads[0].metrics.limits.maxSamples: must be at most 1000000'],
    [{ families: [], limits: { timeoutMs: 60_001 } }, 'workloads[0].metrics.limits.timeoutMs: must be at most 60000'],
    [{ families: [], limits: { timeoutMs: '5s' } }, 'workloads[0].metrics.limits.timeoutMs: must be an integer'],
    [{ families: [], limits: { maxSeries: 10 } }, 'workloads[0].metrics.limits: unknown field "maxSeries"'],
    ['families: []', 'workloads[0].metrics: must be an object'],
  ])('refuses %j naming the field', (obj, message) => {
    const err = expectCode(() => parseScrubPolicy(obj, 'workloads[0].metrics'), 'SP_MANIFEST_INVALID');
    expect(err.message).toContain(message);
  });
});
