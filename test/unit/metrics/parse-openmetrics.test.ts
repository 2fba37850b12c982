import { describe, expect, it } from 'vitest';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { expectCode } from './helpers.ts';

const parse = (text: string) => parseExposition(text, 'openmetrics');

describe('OpenMetrics 1.0 parser', () => {
  it('reads every type with metadata, units, created, exemplars and timestamps', () => {
    const body = [
      '# TYPE acme_http_router_request_seconds summary',
      '# UNIT acme_http_router_request_seconds seconds',
      "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.",
      'acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32',
      'acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0',
      'acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0',
      '# TYPE go_goroutines gauge',
      '# HELP go_goroutines Number of goroutines \\"that\\" exist.',
      'go_goroutines 69',
      '# TYPE process_cpu_seconds counter',
      '# UNIT process_cpu_seconds seconds',
      'process_cpu_seconds_total 4.20072246e+06 # {trace_id="KOO5S4vxi0o"} 0.67 1520879607.789',
      'process_cpu_seconds_created 1520430000.123',
      '# TYPE foo histogram',
      'foo_bucket{le="0.01"} 0',
      'foo_bucket{le="0.1"} 8 # {} 0.054',
      'foo_bucket{le="+Inf"} 17',
      'foo_count 17',
      'foo_sum 324789.3',
      'foo_created 1520430000.123',
      '# TYPE gh gaugehistogram',
      'gh_bucket{le="1"} 20.0',
      'gh_bucket{le="+Inf"} 42.0',
      'gh_gcount 42.0',
      'gh_gsum 3289.3',
      '# TYPE state stateset',
      'state{state="a"} 0',
      'state{state="bb"} 1',
      '# TYPE build info',
      'build_info{name="pretty name",version="8.2.7"} 1',
      '# TYPE mystery unknown',
      'mystery 42.23 1520879607.789',
      '# TYPE empty gauge',
      '# EOF',
      '',
    ].join('\n');
    const parsed = parse(body);
    expect(parsed.format).toBe('openmetrics');
    expect(parsed.families.map((f) => [f.name, f.type, f.unit ?? null])).toEqual([
      ['acme_http_router_request_seconds', 'summary', 'seconds'],
      ['go_goroutines', 'gauge', null],
      ['process_cpu_seconds', 'counter', 'seconds'],
      ['foo', 'histogram', null],
      ['gh', 'gaugehistogram', null],
      ['state', 'stateset', null],
      ['build', 'info', null],
      ['mystery', 'unknown', null],
      ['empty', 'gauge', null],
    ]);
    const byName = new Map(parsed.families.map((f) => [f.name, f]));
    expect(byName.get('go_goroutines')!.help).toBe('Number of goroutines "that" exist.');
    const total = byName.get('process_cpu_seconds')!.samples[0]!;
    expect(total.exemplar).toEqual({ labels: ['trace_id', 'KOO5S4vxi0o'], value: '0.67', timestampMs: 1520879607789 });
    expect(byName.get('foo')!.samples[1]!.exemplar).toEqual({ labels: [], value: '0.054', timestampMs: undefined });
    expect(byName.get('mystery')!.samples[0]!.timestampMs).toBe(1520879607789);
    expect(byName.get('empty')!.samples).toEqual([]);
  });

  it('accepts # EOF without a final line feed and empty HELP or UNIT', () => {
    const parsed = parse('# TYPE a_seconds gauge\n# UNIT a_seconds\n# HELP a_seconds \na_seconds 1\n# EOF');
    expect(parsed.families[0]).toMatchObject({ help: undefined, unit: undefined });
  });

  it.each([
    ['a missing # EOF', 'foo 1\n'],
    ['an empty body', ''],
    ['content after # EOF', 'foo 1\n# EOF\nbar 1\n'],
    ['two line feeds after # EOF', 'foo 1\n# EOF\n\n'],
    ['a blank line', 'foo 1\n\nbar 1\n# EOF\n'],
    ['a plain comment', '# hello\nfoo 1\n# EOF\n'],
    ['two spaces before the value', 'foo  1\n# EOF\n'],
    ['a tab before the value', 'foo\t1\n# EOF\n'],
    ['a trailing space', 'foo 1 \n# EOF\n'],
    ['blanks inside a label set', 'foo{a= "1"} 1\n# EOF\n'],
    ['a trailing comma in a label set', 'foo{a="1",} 1\n# EOF\n'],
    ['the text format type untyped', '# TYPE foo untyped\nfoo 1\n# EOF\n'],
    ['an undefined escape', 'foo{a="\\a"} 1\n# EOF\n'],
    ['a unit that is not a name suffix', '# TYPE foo counter\n# UNIT foo seconds\n# EOF\n'],
    ['a unit on an info family', '# TYPE foo_bytes info\n# UNIT foo_bytes bytes\n# EOF\n'],
    ['a second UNIT', '# TYPE a_s gauge\n# UNIT a_s s\n# UNIT a_s s\n# EOF\n'],
    ['metadata after samples', '# TYPE foo gauge\nfoo 1\n# HELP foo late\n# EOF\n'],
    ['a counter sample without _total', '# TYPE foo counter\nfoo 1\n# EOF\n'],
    ['a counter with only _created', '# TYPE foo counter\nfoo_created 1\n# EOF\n'],
    ['a negative counter', '# TYPE foo counter\nfoo_total -1\n# EOF\n'],
    ['a NaN counter', '# TYPE foo counter\nfoo_total NaN\n# EOF\n'],
    ['a gauge named like another family sample', '# TYPE foo counter\nfoo_total 1\n# TYPE foo_created gauge\nfoo_created 1\n# EOF\n'],
    ['an exemplar on a gauge', '# TYPE g gauge\ng 1 # {a="b"} 1\n# EOF\n'],
    ['exemplar labels over 128 code points', `# TYPE c counter\nc_total 1 # {a="${'x'.repeat(128)}"} 1\n# EOF\n`],
    ['a non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 4\n# EOF\n'],
    ['a histogram count that differs from +Inf', '# TYPE h histogram\nh_bucket{le="+Inf"} 4\nh_count 5\n# EOF\n'],
    ['a fractional bucket count', '# TYPE h histogram\nh_bucket{le="+Inf"} 4.5\n# EOF\n'],
    ['a stateset value other than 0 or 1', '# TYPE s stateset\ns{s="a"} 2\n# EOF\n'],
    ['a stateset sample without its state label', '# TYPE s stateset\ns{x="a"} 1\n# EOF\n'],
    ['an info value other than 1', '# TYPE i info\ni_info{a="b"} 2\n# EOF\n'],
    ['metric points repeated with timestamps', '# TYPE g gauge\ng 1 1\ng 2 2\n# EOF\n'],
    ['interleaved metrics of a counter', '# TYPE c counter\nc_total{a="1"} 1\nc_total{a="2"} 1\nc_created{a="1"} 1\n# EOF\n'],
    ['a timestamp that is not a number', 'foo 1 abc\n# EOF\n'],
  ])('refuses %s', (_name, body) => {
    expectCode(() => parse(body), 'SP_METRICS_INVALID');
  });
});
