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
    ['families: []', 'workloads[0].metrics: must be an object'],
  ])('refuses %j naming the field', (obj, message) => {
    const err = expectCode(() => parseScrubPolicy(obj, 'workloads[0].metrics'), 'SP_MANIFEST_INVALID');
    expect(err.message).toContain(message);
  });
});
