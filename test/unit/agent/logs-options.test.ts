import { describe, expect, it } from 'vitest';
import { toLogQuery } from '../../../src/agent/logs-handler.ts';

const NOW = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z

describe('kubectl log options as the kubelet reads them', () => {
  it('counts sinceSeconds back from the moment the query arrives', () => {
    expect(toLogQuery({ container: 'c', sinceSeconds: 300 }, NOW).sinceNs).toBe(NOW - 300_000_000_000n);
  });

  it('reads sinceTime as RFC 3339 with its offset', () => {
    expect(toLogQuery({ container: 'c', sinceTime: '2024-01-01T01:00:00+01:00' }, NOW).sinceNs).toBe(NOW);
  });

  it('does not follow a previous run, which has ended', () => {
    expect(toLogQuery({ container: 'c', follow: true, previous: true }, NOW).follow).toBe(false);
    expect(toLogQuery({ container: 'c', follow: true }, NOW).follow).toBe(true);
  });

  it('selects streams and passes tail, limit and timestamps through', () => {
    const q = toLogQuery({ container: 'c', stream: 'Stderr', tailLines: 0, limitBytes: 7, timestamps: true }, NOW);
    expect([...q.streams]).toEqual(['stderr']);
    expect(q).toMatchObject({ tailLines: 0, limitBytes: 7, timestamps: true, follow: false });
    expect([...toLogQuery({ container: 'c' }, NOW).streams].sort()).toEqual(['stderr', 'stdout']);
    expect(toLogQuery({ container: 'c' }, NOW).sinceNs).toBeUndefined();
  });
});
