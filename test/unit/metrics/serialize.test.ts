import { describe, expect, it } from 'vitest';
import { CONTENT_TYPES, formatFromContentType, negotiateFormat } from '../../../src/metrics/content-type.ts';
import { federate } from '../../../src/metrics/federate.ts';
import type { MetricFamily } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { type RenderFamily, renderToBuffer, serialize, serializeToBuffer } from '../../../src/metrics/serialize.ts';
import { expectCode } from './helpers.ts';

const TEXT = [
  '# HELP http_requests_total Total, with a \\\\ and a\\nnew line.',
  '# TYPE http_requests_total counter',
  'http_requests_total{method="post",code="200"} 1027 1395066363000',
  'weird{path="C:\\\\DIR",msg="say \\"hi\\"\\nbye"} -Inf',
  '# TYPE h histogram',
  'h_bucket{le="0.5"} 1',
  'h_bucket{le="+Inf"} 2',
  'h_sum 0.7',
  'h_count 2',
  '# TYPE s summary',
  's{quantile="0.9"} NaN',
  's_sum 1',
  's_count 1',
  '# TYPE plain_counter counter',
  'plain_counter 4',
  '',
].join('\n');

const OPENMETRICS = [
  '# TYPE c counter',
  '# HELP c A \\"quoted\\" counter.',
  'c_total{a="1"} 3 1520879607.789 # {trace_id="abc"} 1 1520879607.7',
  'c_created{a="1"} 1520430000.123',
  '# TYPE lat_seconds histogram',
  '# UNIT lat_seconds seconds',
  'lat_seconds_bucket{le="1.0"} 1',
  'lat_seconds_bucket{le="+Inf"} 2',
  'lat_seconds_count 2',
  'lat_seconds_sum 1.5',
  'lat_seconds_created 1.5',
  '# TYPE gh gaugehistogram',
  'gh_bucket{le="+Inf"} 4',
  'gh_gcount 4',
  'gh_gsum 2',
  '# TYPE st stateset',
  'st{st="a"} 1',
  '# TYPE build info',
  'build_info{version="1.2"} 1',
  '# TYPE u unknown',
  'u 1',
  '# EOF',
  '',
].join('\n');

describe('serializer', () => {
  it('reproduces a text exposition byte for byte apart from comments and blank lines', () => {
    const parsed = parseExposition(TEXT, 'text');
    const out = serialize(parsed.families, 'text');
    expect(out).toBe(TEXT.replace('weird{', '# TYPE weird untyped\nweird{'));
  });

  it('reproduces an OpenMetrics exposition byte for byte', () => {
    expect(serialize(parseExposition(OPENMETRICS, 'openmetrics').families, 'openmetrics')).toBe(OPENMETRICS);
  });

  it.each([
    ['text', 'text'],
    ['text', 'openmetrics'],
    ['openmetrics', 'text'],
    ['openmetrics', 'openmetrics'],
  ] as const)('round-trips %s through %s and re-parses strictly', (from, to) => {
    const source = from === 'text' ? TEXT : OPENMETRICS;
    const first = serialize(parseExposition(source, from).families, to);
    const reparsed = parseExposition(first, to);
    // Serializing the re-parse gives the same bytes: the rendering is a fixed point.
    expect(serialize(reparsed.families, to)).toBe(first);
    const sampleNames = (body: string, format: 'text' | 'openmetrics') =>
      parseExposition(body, format)
        .families.flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`))
        .sort();
    expect(sampleNames(first, to)).toEqual(sampleNames(source, from));
  });

  it('renders OpenMetrics-only types in text terms', () => {
    const out = serialize(parseExposition(OPENMETRICS, 'openmetrics').families, 'text');
    expect(out).toContain('# TYPE c_total counter\nc_total{a="1"} 3 1520879607789\n# TYPE c_created gauge\n');
    expect(out).toContain('# TYPE lat_seconds_created gauge\n');
    expect(out).toContain('# TYPE gh_bucket gauge\n');
    expect(out).toContain('# TYPE st gauge\n');
    expect(out).toContain('# TYPE build_info gauge\n');
    expect(out).toContain('# TYPE u untyped\n');
    expect(out).not.toContain('UNIT');
    expect(out).not.toContain('trace_id');
  });

  it('renders text counters in OpenMetrics terms without renaming series', () => {
    const out = serialize(parseExposition(TEXT, 'text').families, 'openmetrics');
    expect(out).toContain('# TYPE http_requests counter\n');
    expect(out).toContain('http_requests_total{method="post",code="200"} 1027 1395066363\n');
    expect(out).toContain('# TYPE plain_counter unknown\nplain_counter 4\n');
    expect(out.endsWith('# EOF\n')).toBe(true);
  });

  it('keeps a text counter whose OpenMetrics name is taken as unknown', () => {
    const out = serialize(parseExposition('# TYPE x gauge\nx 1\n# TYPE x_total counter\nx_total 2\n', 'text').families, 'openmetrics');
    expect(out).toBe('# TYPE x gauge\nx 1\n# TYPE x_total unknown\nx_total 2\n# EOF\n');
  });

  it('keeps a text counter as unknown in OpenMetrics when a gauge holds its _created name, as prometheus_client writes them', () => {
    const body = '# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{path="/"} 3\n# HELP requests_created Requests.\n# TYPE requests_created gauge\nrequests_created{path="/"} 1.7e9\n';
    const om = serialize(parseExposition(body, 'text').families, 'openmetrics');
    expect(om).toBe('# TYPE requests_total unknown\n# HELP requests_total Requests.\nrequests_total{path="/"} 3\n# TYPE requests_created gauge\n# HELP requests_created Requests.\nrequests_created{path="/"} 1.7e9\n# EOF\n');
    expect(parseExposition(om, 'openmetrics').families.map((f) => f.name)).toEqual(['requests_total', 'requests_created']);
  });

  it('renders text families whose values OpenMetrics forbids as families any OpenMetrics parser takes, values unchanged', () => {
    const bodies = [
      '# TYPE c_total counter\nc_total -1\n',
      '# TYPE c_total counter\nc_total NaN\n',
      '# TYPE h histogram\nh_bucket{le="1"} 0.5\nh_bucket{le="+Inf"} 0.25\nh_count 0.25\nh_sum 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 3\nh_sum 1\n',
      '# TYPE s summary\ns{quantile="0.5"} -2\ns_count 1\ns_sum -2\n',
      '# TYPE s summary\ns{quantile="0.5"} 2\ns_count 1.5\ns_sum 2\n',
    ];
    for (const body of bodies) {
      const families = parseExposition(body, 'text').families;
      const om = serialize(families, 'openmetrics');
      const back = parseExposition(om, 'openmetrics');
      expect(back.families.every((f) => f.type === 'unknown'), om).toBe(true);
      const values = (fs: typeof families) => fs.flatMap((f) => f.samples.map((x) => `${x.name}${JSON.stringify(x.labels)} ${x.value}`));
      expect(values(back.families)).toEqual(values(families));
    }
    // Values OpenMetrics allows keep their type.
    expect(serialize(parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 1\n', 'text').families, 'openmetrics')).toContain('# TYPE h histogram');
  });

  it('refuses to render two families that would produce the same sample name', () => {
    const families: MetricFamily[] = [
      { name: 'a', type: 'gauge', help: undefined, unit: undefined, samples: [] },
      { name: 'a', type: 'gauge', help: undefined, unit: undefined, samples: [] },
    ];
    expectCode(() => serialize(families, 'text'), 'SP_METRICS_INVALID');
  });

  it('refuses names, labels and values that could break out of their line, whoever built the family', () => {
    const sample = { name: 'g', labels: [] as string[], value: '1', timestampMs: undefined, exemplar: undefined, group: 0 };
    const family = { name: 'g', type: 'gauge' as const, help: 'help\nwith # TYPE injection', unit: undefined, samples: [sample] };
    expect(serialize([family], 'text')).toBe('# HELP g help\\nwith # TYPE injection\n# TYPE g gauge\ng 1\n');
    const broken: MetricFamily[][] = [
      [{ ...family, name: 'g\nevil 1' }],
      [{ ...family, samples: [{ ...sample, name: 'other' }] }],
      [{ ...family, samples: [{ ...sample, value: '1\nevil 2' }] }],
      [{ ...family, samples: [{ ...sample, labels: ['a}="x"} 1\nevil{b', 'v'] }] }],
      [{ ...family, samples: [{ ...sample, labels: ['a', 'x', 'a', 'y'] }] }],
      [{ ...family, samples: [{ ...sample, timestampMs: 1.5 }] }],
    ];
    for (const families of broken) {
      expectCode(() => serialize(families, 'text'), 'SP_METRICS_INVALID');
      expectCode(() => serialize(families, 'openmetrics'), 'SP_METRICS_INVALID');
    }
    // Label values are escaped, never refused.
    expect(serialize([{ ...family, help: undefined, samples: [{ ...sample, labels: ['a', '"} 1\nevil 2'] }] }], 'text')).toBe('# TYPE g gauge\ng{a="\\"} 1\\nevil 2"} 1\n');
  });

  it('writes a scrubbed sample’s structural pair after its shared labels, and checks that pair too', () => {
    const labels = ['path', '/a"b'];
    const bucket = (le: string) => ({ name: 'h_bucket', labels, extraName: 'le', extraValue: le, value: '1', timestampMs: undefined, exemplar: undefined, group: 0 });
    const family: RenderFamily = {
      name: 'h',
      type: 'histogram',
      help: undefined,
      unit: undefined,
      samples: [bucket('0.5'), bucket('+Inf'), { name: 'h_count', labels, extraName: undefined, extraValue: '', value: '1', timestampMs: undefined, exemplar: undefined, group: 0 }],
    };
    const expected = '# TYPE h histogram\nh_bucket{path="/a\\"b",le="0.5"} 1\nh_bucket{path="/a\\"b",le="+Inf"} 1\nh_count{path="/a\\"b"} 1\n';
    expect(renderToBuffer([family], 'text', 16).toString()).toBe(expected);
    // The same as the model with the pair joined into each sample's labels.
    const model = { ...family, samples: family.samples.map(({ extraName, extraValue, ...s }) => ({ ...s, labels: extraName === undefined ? s.labels : [...s.labels, extraName, extraValue!] })) };
    expect(serialize([model], 'text')).toBe(expected);
    expect(renderToBuffer([family], 'openmetrics', 16).toString()).toBe(serialize([model], 'openmetrics'));
    // A pair that repeats a label, or is not a label name, is refused like any label.
    for (const extraName of ['path', 'le}="x"} 1\nevil{a']) {
      expectCode(() => renderToBuffer([{ ...family, samples: [{ ...bucket('1'), extraName }] }], 'text', 16), 'SP_METRICS_INVALID');
    }
    expect(renderToBuffer([{ name: 'g', type: 'gauge', help: undefined, unit: undefined, samples: [{ ...bucket('1'), name: 'g', labels: [] }] }], 'text', 16).toString()).toBe('# TYPE g gauge\ng{le="1"} 1\n');
  });

  it('writes the same bytes to a buffer as the string rendering, across buffer growth and non-ASCII', () => {
    const lines = ['# TYPE big gauge'];
    for (let i = 0; i < 5000; i++) lines.push(`big{who="żółw-${i}-🐢",why="a\\"b"} ${i}`);
    for (const body of [`${lines.join('\n')}\n`, TEXT]) {
      const families = parseExposition(body, 'text').families;
      for (const format of ['text', 'openmetrics'] as const) {
        expect(serializeToBuffer(families, format).equals(Buffer.from(serialize(families, format)))).toBe(true);
      }
    }
    expect(serializeToBuffer([], 'openmetrics').toString()).toBe('# EOF\n');
  });

  it('renders nothing as an empty text body and a bare # EOF', () => {
    expect(serialize([], 'text')).toBe('');
    expect(serialize([], 'openmetrics')).toBe('# EOF\n');
  });
});

describe('federation', () => {
  const podA = parseExposition('# TYPE up gauge\nup 1\n# TYPE jobs_total counter\njobs_total{pod="inner",namespace="x"} 3\n', 'text').families;
  const podB = parseExposition('# TYPE up gauge\nup 0\n# TYPE jobs_total gauge\njobs_total 1\n', 'text').families;

  it('adds namespace and pod, renames clashing labels with exported_, and drops families whose types disagree', () => {
    const { families, stats } = federate([
      { namespace: 'payments', pod: 'api-0', families: podA },
      { namespace: 'payments', pod: 'api-1', families: podB },
    ]);
    expect(serialize(families, 'text')).toBe('# TYPE up gauge\nup{namespace="payments",pod="api-0"} 1\nup{namespace="payments",pod="api-1"} 0\n');
    expect(stats).toEqual({ conflictingFamilies: 1, renamedLabels: 2 });
    const one = federate([{ namespace: 'payments', pod: 'api-0', families: podA }]);
    expect(serialize(one.families, 'text')).toContain('jobs_total{namespace="payments",pod="api-0",exported_pod="inner",exported_namespace="x"} 3');
    expect(parseExposition(serialize(one.families, 'openmetrics'), 'openmetrics').sampleCount).toBe(2);
  });

  it('drops, for every pod, families of different names that one format would render with the same sample name', () => {
    const a = parseExposition('# TYPE jobs counter\njobs_total 3\n# TYPE up gauge\nup 1\n# EOF\n', 'openmetrics').families;
    const b = parseExposition('# TYPE jobs_total unknown\njobs_total 5\n# TYPE up gauge\nup 0\n# EOF\n', 'openmetrics').families;
    const { families, stats } = federate([
      { namespace: 'payments', pod: 'api-0', families: a },
      { namespace: 'payments', pod: 'api-1', families: b },
    ]);
    expect(stats.conflictingFamilies).toBe(2);
    expect(families.map((f) => f.name)).toEqual(['up']);
    for (const format of ['text', 'openmetrics'] as const) expect(parseExposition(serialize(families, format), format).sampleCount).toBe(2);
  });

  it('refuses a pod twice and names that are not Kubernetes names', () => {
    expectCode(() => federate([{ namespace: 'a', pod: 'p', families: [] }, { namespace: 'a', pod: 'p', families: [] }]), 'SP_METRICS_INVALID');
    expectCode(() => federate([{ namespace: 'A"}', pod: 'p', families: [] }]), 'SP_METRICS_INVALID');
  });
});

describe('content negotiation', () => {
  it.each([
    [undefined, 'text'],
    ['', 'text'],
    ['*/*', 'text'],
    ['text/plain', 'text'],
    ['text/plain;version=0.0.4', 'text'],
    ['application/openmetrics-text', 'openmetrics'],
    [
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      'openmetrics',
    ],
    ['application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9', 'text'],
    ['text/plain;version=0.0.4,application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text;version=2.0.0,text/plain', 'text'],
  ] as const)('answers Accept %j with %s', (accept, format) => {
    const chosen = negotiateFormat(accept);
    expect(chosen.format).toBe(format);
    expect(chosen.contentType).toBe(CONTENT_TYPES[format]);
  });

  it.each(['application/json', 'text/plain;version=1.0.0', 'application/openmetrics-text;q=0', 'x'.repeat(5000)])('refuses Accept %j', (accept) => {
    expectCode(() => negotiateFormat(accept), 'SP_METRICS_NOT_ACCEPTABLE');
  });

  it('reads the format of a scraped Content-Type and refuses the rest', () => {
    expect(formatFromContentType('text/plain; version=0.0.4; charset=utf-8')).toBe('text');
    expect(formatFromContentType('application/openmetrics-text; version=1.0.0; charset=utf-8')).toBe('openmetrics');
    for (const ct of [undefined, 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily', 'text/plain; charset=latin1', 'text/html', 'text/plain; version=1.0.0']) {
      expectCode(() => formatFromContentType(ct), 'SP_METRICS_INVALID');
    }
  });
});
