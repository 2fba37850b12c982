import { describe, expect, it } from 'vitest';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { emptyScrubStats } from '../../../src/metrics/scrub.ts';
import { SelfMetricsRegistry, createShadowplaneMetrics, recordScrub } from '../../../src/metrics/self.ts';
import { expectCode } from './helpers.ts';

describe("shadowplane's own metrics", () => {
  it('counts, gauges and observes, and serializes to both formats that re-parse strictly', () => {
    const m = createShadowplaneMetrics();
    m.requests.inc({ route: 'exec', code: 'ok' });
    m.requests.inc({ route: 'exec', code: 'ok' });
    m.requests.inc({ route: 'passthrough', code: 'SP_FORBIDDEN' });
    m.requestDuration.observe({ route: 'exec' }, 0.02);
    m.requestDuration.observe({ route: 'exec' }, 120);
    m.openSessions.inc({ kind: 'exec' });
    m.openSessions.inc({ kind: 'exec' });
    m.openSessions.dec({ kind: 'exec' });
    m.attestations.inc({ platform: 'sev-snp', code: 'SP_ATTEST_TCB_TOO_LOW' });
    const stats = emptyScrubStats();
    stats.keptSeries = 5;
    stats.droppedSeriesCollision = 2;
    stats.hashedValues = 3;
    recordScrub(m, 'ok', stats);
    recordScrub(m, 'SP_METRICS_INVALID', { ...emptyScrubStats(), droppedScrapes: 1 });

    expect(m.requests.get({ route: 'exec', code: 'ok' })).toBe(2);
    expect(m.openSessions.get({ kind: 'exec' })).toBe(1);

    const text = m.registry.serialize('text');
    expect(text).toContain('shadowplane_requests_total{route="exec",code="ok"} 2\n');
    expect(text).toContain('shadowplane_requests_total{route="passthrough",code="SP_FORBIDDEN"} 1\n');
    expect(text).toContain('shadowplane_request_duration_seconds_bucket{route="exec",le="0.025"} 1\n');
    expect(text).toContain('shadowplane_request_duration_seconds_bucket{route="exec",le="60.0"} 1\n');
    expect(text).toContain('shadowplane_request_duration_seconds_bucket{route="exec",le="+Inf"} 2\n');
    expect(text).toContain('shadowplane_request_duration_seconds_count{route="exec"} 2\n');
    expect(text).toContain('shadowplane_open_sessions{kind="exec"} 1\n');
    expect(text).toContain('shadowplane_metrics_series_total{outcome="dropped_collision"} 2\n');
    expect(text).toContain('shadowplane_metrics_scrapes_total{code="SP_METRICS_INVALID"} 1\n');
    expect(text).toContain('shadowplane_metrics_hashed_values_total 3\n');
    expect(parseExposition(text, 'text').families).toHaveLength(7);

    const om = m.registry.serialize('openmetrics');
    expect(om).toContain('# TYPE shadowplane_requests counter\n');
    expect(om).toContain('shadowplane_requests_total{route="exec",code="ok"} 2\n');
    expect(parseExposition(om, 'openmetrics').families).toHaveLength(7);
  });

  it('refuses a label value outside its declared enumeration without naming the value', () => {
    const m = createShadowplaneMetrics();
    const hostile = { route: 'exec', code: 'user-supplied-/api/secret' } as unknown as Parameters<typeof m.requests.inc>[0];
    const err = expectCode(() => m.requests.inc(hostile), 'SP_METRICS_LABEL_REFUSED');
    expect(err.message).toContain('shadowplane_requests_total');
    expect(err.message).not.toContain('secret');
    const extra = { route: 'exec', code: 'ok', pod: 'x' } as unknown as Parameters<typeof m.requests.inc>[0];
    expectCode(() => m.requests.inc(extra), 'SP_METRICS_LABEL_REFUSED');
    expectCode(() => m.openSessions.set({} as unknown as Parameters<typeof m.openSessions.set>[0], 1), 'SP_METRICS_LABEL_REFUSED');
    // Nothing was recorded by the refused calls.
    expect(m.registry.serialize('text')).not.toContain('secret');
  });

  it('refuses ill-formed definitions', () => {
    const r = new SelfMetricsRegistry();
    expectCode(() => r.counter({ name: 'no_suffix', help: 'x', labels: {} }), 'SP_INTERNAL');
    expectCode(() => r.gauge({ name: 'bad-name', help: 'x', labels: {} }), 'SP_INTERNAL');
    expectCode(() => r.histogram({ name: 'h', help: 'x', labels: {}, buckets: [1, 1] }), 'SP_INTERNAL');
    expectCode(() => r.gauge({ name: 'g', help: 'x', labels: { le: ['a'] } }), 'SP_INTERNAL');
    r.gauge({ name: 'twice', help: 'x', labels: {} });
    expectCode(() => r.gauge({ name: 'twice', help: 'x', labels: {} }), 'SP_INTERNAL');
    const c = r.counter({ name: 'c_total', help: 'x', labels: {} });
    expectCode(() => c.inc({}, -1), 'SP_INTERNAL');
  });
});
