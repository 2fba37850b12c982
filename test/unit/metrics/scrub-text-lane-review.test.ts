/**
 * Review of the scrub pipeline's fast lane (scrub-text-lane.ts) against its oracle, the
 * general pipeline (`scrubScrape`, then `serializeToBuffer`). Complements
 * scrub-text-lane.test.ts with hand-picked cases aimed at the lane's own shortcuts
 * (label names reused from the previous line, runs copied from the line, group labels
 * copied from the output, the structural label written last, fingerprints, caps, the
 * OpenMetrics renames and value rules) and with a seeded fuzz of another design: valid
 * templates edited by structured mutations (line swaps and repeats, label reorderings,
 * near-duplicate metric and label names, moved structural labels, late metadata, edge
 * values) under limits set at and around what the body needs.
 *
 * Every test states the correct behaviour: the lane gives up (undefined) or gives the
 * oracle's result (ok, bytes and statistics); and whatever it gives never holds the
 * value of a label the policy drops.
 */
import { describe, expect, it } from 'vitest';
import type { ParseLimits } from '../../../src/metrics/parse-limits.ts';
import { type ScrubPolicy, parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { prng } from './helpers.ts';
import { FORMATS, type Line, type Outcome, expectLaneAgrees, general, lane, parseLine, piped, renderLine } from './lane-oracle.ts';

const policyOf = (p: unknown, name: string): ScrubPolicy => parseScrubPolicy(p, name);

/** Everything out, help too; `secret` is never named, so always dropped. */
const OPEN = policyOf({ families: [{ name: '*', labels: { a: 'keep', b: 'hash', c: 'keep', id: 'keep', le: 'keep', quantile: 'keep', user: 'hash', method: 'keep', code: 'keep' }, help: true }] }, 'open');
/** Structural names named `drop`/`hash` (they must stay anyway), `_created` rules, caps. */
const STRICT = policyOf(
  {
    families: [
      { name: 'req_total', labels: { method: 'keep', user: 'hash', id: 'keep' }, maxSeries: 2, help: true },
      { name: 'lat', labels: { method: 'keep', le: 'drop', id: 'keep' }, created: true },
      { name: 'sum*', labels: { quantile: 'hash', a: 'keep', id: 'keep' } },
      { name: 'g*', labels: { le: 'keep', quantile: 'hash', a: 'keep', id: 'keep' } },
      { name: 'x*', labels: { a: 'keep', id: 'keep' } },
    ],
    labels: { c: 'keep' },
    maxSeries: 7,
  },
  'strict',
);
/** Short hashes, caps per family, policy-wide labels; `b` dropped: collisions happen. */
const SHORT = policyOf({ families: [{ name: '*' }], labels: { a: 'hash', id: 'keep', c: 'keep', b: 'drop', method: 'keep', user: 'hash' }, hashLength: 8, maxSeriesPerFamily: 3 }, 'short');
/** Exact rules for the text `_created` gauges, patterns for the rest. */
const CREATED = policyOf(
  {
    families: [
      { name: 'req_created', labels: { method: 'keep', id: 'keep' } },
      { name: 'req_total', labels: { method: 'keep', id: 'keep' }, created: false },
      { name: 'lat*', labels: { method: 'keep', id: 'keep' }, created: true, help: true },
      { name: 'x_total', labels: { a: 'keep' } },
      { name: 'x', labels: { a: 'keep' } },
    ],
  },
  'created',
);
const POLICIES = [OPEN, STRICT, SHORT, CREATED];

/** The lane on the text format `text`: gave up or agrees, never a dropped value (`SECRET…`, only ever under the never-named label `secret`). */
const expectAgrees = (text: string, policy: ScrubPolicy, limits: Partial<ParseLimits> = {}, what = text): number => expectLaneAgrees(text, policy, limits, what, 'text', /SECRET/);

describe('fast lane review: hand-picked cases against the general pipeline', () => {
  it('gives up or agrees on label names reused from the previous line, duplicated, reserved or reordered', () => {
    const cases = [
      // Prefix of the previous line's names, then a name the previous line had further on.
      'c{a="1",b="2",c="3"} 1\nc{a="2",c="3"} 1\nc{a="3",c="3",c="4"} 1\n',
      'c{a="1",b="2",c="3"} 1\nc{a="2",c="3",b="9"} 1\nc{a="3",c="3",b="4",a="5"} 1\n',
      // Shorter line keeps the longer line's names behind it.
      'c{a="1",b="2"} 1\nc{a="2"} 1\nc{a="3",b="2",b="3"} 1\n',
      'c{a="1",b="2"} 1\nc{a="2"} 1\nc{a="3",b="2",a="3"} 1\n',
      // The previous name as a prefix of a longer one, and the reverse.
      'c{ab="1",b="2"} 1\nc{a="1",b="2"} 1\nc{ab="1",a="1"} 1\n',
      'c{a="1"} 1\nc{ab="1",a="2"} 1\nc{a="1",a="2"} 1\n',
      // Reserved names after a reused one; a lone underscore is not reserved.
      'c{a="1"} 1\nc{a="2",__b="1"} 1\n',
      'c{_="1",a="1"} 1\nc{_="2",a="1"} 1\n',
      // Across families: names left by another family.
      '# TYPE h histogram\nh_bucket{a="1",le="+Inf"} 1\ng{a="1",le="1"} 1\ng{a="2",le="1",le="2"} 1\n',
      // An empty set between two that share names.
      'c{a="1",b="1"} 1\nc{} 2\nc{a="2",b="1"} 1\nc{a="2",b="1",a="1"} 1\n',
      // The same set in another order: a duplicate.
      'c{a="1",b="2"} 1\nc{b="2",a="1"} 1\n',
      'c{a="1",b="2"} 1\nc{b="1",a="2"} 1\n',
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(10);
  });

  it('gives up or agrees on structural labels: anywhere in the line, missing, outside their role, in other families, and named by the policy', () => {
    const cases = [
      '# TYPE lat histogram\nlat_bucket{le="1",method="GET",id="1"} 0\nlat_bucket{method="GET",le="+Inf",id="1"} 1\nlat_sum{method="GET",id="1"} 1\nlat_count{id="1",method="GET"} 1\n',
      '# TYPE lat histogram\nlat_bucket{method="GET",id="1",le="1"} 0\nlat_bucket{le="+Inf",method="GET",id="1"} 1\nlat_count{method="GET",id="1"} 1\n',
      '# TYPE lat histogram\nlat_sum 1\nlat_count 1\nlat_bucket{le="+Inf"} 1\n',
      '# TYPE lat histogram\nlat_sum{} 1\nlat_bucket{le="0"} 0\nlat_bucket{le="+inf"} 1\nlat_count 1\n',
      '# TYPE lat histogram\nlat_bucket{le="-Inf"} 0\nlat_bucket{le="-0"} 0\nlat_bucket{le="0"} 0\nlat_bucket{le="Infinity"} 1\n',
      '# TYPE lat histogram\nlat_bucket{le="1e-1"} 0\nlat_bucket{le=".5"} 0\nlat_bucket{le="5."} 1\nlat_bucket{le="+Inf"} 1\n',
      '# TYPE lat histogram\nlat_bucket{le="1"} 0\n',
      '# TYPE lat histogram\nlat_bucket{method="GET"} 0\n',
      '# TYPE lat histogram\nlat_sum{le="1"} 0\n',
      '# TYPE lat histogram\nlat_bucket{le="1",le="+Inf"} 0\n',
      '# TYPE lat histogram\nlat_bucket{le="0x10"} 0\nlat_bucket{le="+Inf"} 0\n',
      '# TYPE lat histogram\nlat_bucket{le="1e400"} 0\nlat_bucket{le="+Inf"} 0\n',
      '# TYPE summary_s summary\nsummary_s{a="1",quantile="0.5"} 1\nsummary_s{quantile="0.9",a="1"} 2\nsummary_s_sum{a="1"} 3\nsummary_s_count{a="1"} 4\n',
      '# TYPE summary_s summary\nsummary_s_count{a="1"} 4\nsummary_s{quantile="0",a="1"} -1\nsummary_s{quantile="1",a="1"} NaN\n',
      '# TYPE summary_s summary\nsummary_s{quantile="0.5"} 1\nsummary_s{quantile="0.50"} 1\n',
      '# TYPE summary_s summary\nsummary_s{quantile="-0"} 1\nsummary_s{quantile="0"} 1\n',
      '# TYPE summary_s summary\nsummary_s{quantile="1.5"} 1\n',
      '# TYPE summary_s summary\nsummary_s_sum{quantile="0.5"} 1\n',
      // Series of a histogram or summary told apart by a value only, roles that do not repeat.
      '# TYPE summary_s summary\nsummary_s{a="1",quantile="0.5"} 1\nsummary_s{a="2",quantile="0.9"} 2\nsummary_s_sum{a="3"} 3\nsummary_s_count{a="4"} 4\n',
      '# TYPE lat histogram\nlat_bucket{id="1",le="+Inf"} 1\nlat_count{id="2"} 1\n',
      '# TYPE lat histogram\nlat_bucket{id="1",le="1"} 0\nlat_bucket{id="2",le="+Inf"} 1\n',
      '# TYPE lat histogram\nlat_bucket{method="a",le="+Inf"} 1\nlat_bucket{method="b",le="+Inf"} 1\nlat_sum{method="c"} 1\n',
      '# TYPE lat histogram\nlat_bucket{method="a",le="+Inf"} 1\nlat_sum{method="b"} 1\nlat_bucket{method="b",le="+Inf"} 1\n',
      // Same values, other names; a role twice in one series.
      '# TYPE summary_s summary\nsummary_s{a="1",quantile="0.5"} 1\nsummary_s{c="1",quantile="0.9"} 2\n',
      '# TYPE lat histogram\nlat_bucket{le="+Inf"} 1\nlat_count 1\nlat_count 1\n',
      '# TYPE lat histogram\nlat_bucket{le="+Inf"} 1\nlat_sum 1\nlat_sum 1\n',
      // `le` and `quantile` are ordinary labels outside histograms and summaries.
      'g{le="1",quantile="x",a="1"} 1\ng{quantile="x",le="2",a="1"} 1\n',
      '# TYPE g_h histogram\ng_h_bucket{quantile="q",le="+Inf"} 1\n# TYPE g_s summary\ng_s{le="l",quantile="0.5"} 1\n',
      '# TYPE g counter\ng{le="+Inf"} 1\ng{le="1"} 2\n',
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(20);
  });

  it('gives up or agrees on values of every spelling, in every role and both formats', () => {
    const values = ['0', '-0', '+0', '1', '-1', '+1', '007', '.5', '5.', '1e3', '1E-3', '1e+3', '2.0', '1.5', 'NaN', 'nan', 'Inf', '+Inf', '-Inf', 'inf', '+inf', '-infinity', 'Infinity', '1e400', '0x10', '1_000', '', '1 2', '1 ', ' 1', '9'.repeat(64), '9'.repeat(65)];
    let taken = 0;
    for (const v of values) {
      const texts = [
        `# TYPE x_total counter\nx_total{a="1"} ${v}\n`,
        `# TYPE x counter\nx{a="1"} ${v}\n`,
        `g{a="1"} ${v}\n`,
        `# TYPE lat histogram\nlat_bucket{le="1"} ${v}\nlat_bucket{le="+Inf"} 2\nlat_sum ${v}\nlat_count 2\n`,
        `# TYPE lat histogram\nlat_bucket{le="+Inf"} 2\nlat_count ${v}\n`,
        `# TYPE summary_s summary\nsummary_s{quantile="0.5"} ${v}\nsummary_s_count ${v}\n`,
      ];
      for (const text of texts) for (const policy of [OPEN, STRICT]) taken += expectAgrees(text, policy);
    }
    expect(taken).toBeGreaterThan(100);
  });

  it('gives up or agrees on label values holding the characters of the syntax', () => {
    const values = ['', '#', '{', '}', '=', ',', ' ', '"', 'a b', 'q=}', 'p{q}', '} 1', '# HELP x y', '=",a="', 'x'.repeat(300), '\r', '\u0001'];
    let taken = 0;
    for (const v of values) {
      const texts = [
        `c{a="${v}",b="${v}",c="${v}",secret="SECRET-${v}"} 1\nc{a="${v}",b="x",c="${v}",secret="SECRET"} 2\n`,
        `# TYPE lat histogram\nlat_bucket{method="${v}",le="+Inf",secret="SECRET"} 1\nlat_count{method="${v}",secret="SECRET"} 1\n`,
        `# HELP g ${v}\ng{secret="SECRET${v}",a="${v}"} 1\n`,
      ];
      for (const text of texts) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    }
    expect(taken).toBeGreaterThan(50);
  });

  it('gives up or agrees on series caps, the total cap and collisions, in exposition order', () => {
    const lines = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('');
    const cases = [
      `# TYPE req_total counter\n${lines(5, (i) => `req_total{method="GET",id="${i}",secret="SECRET"} ${i}\n`)}`,
      `# TYPE req_total counter\n${lines(4, (i) => `req_total{method="GET",id="${i}"} ${i}\n`)}# TYPE lat histogram\n${lines(6, (i) => `lat_bucket{id="${i}",le="+Inf"} 1\nlat_count{id="${i}"} 1\n`)}`,
      // Collisions once `b` (or the secret) is dropped.
      `c{a="1",b="1"} 1\nc{a="1",b="2"} 1\nc{a="2",b="1"} 1\n`,
      `c{id="1",secret="SECRET1"} 1\nc{id="1",secret="SECRET2"} 1\n`,
      // Caps reached by the first family; the next takes the rest of the total.
      `${lines(8, (i) => `xa{a="${i}"} 1\n`)}${lines(8, (i) => `xb{a="${i}"} 1\n`)}`,
      // A family whose every series is over the cap: no HELP, no TYPE, no stats as kept.
      `${lines(7, (i) => `xa{a="${i}"} 1\n`)}# HELP xb help\n# TYPE xb gauge\n${lines(3, (i) => `xb{a="${i}"} 1\n`)}`,
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(8);
  });

  it('gives up or agrees on metadata: HELP and TYPE in either order, alone, late, twice, for names another family claims', () => {
    const cases = [
      '# HELP g \n# TYPE g gauge\ng 1\n',
      '# TYPE g gauge\n# HELP g  two  spaces \ng 1\n',
      '# HELP g a "quoted" {help} # and = more\ng 1\n',
      '# HELP g only help\n# TYPE x gauge\n',
      '# TYPE g gauge\ng 1\n# HELP g late\n',
      '# TYPE g gauge\ng 1\n# TYPE g gauge\n',
      '# HELP g one\n# HELP g two\ng 1\n',
      '# TYPE lat histogram\nlat_bucket{le="+Inf"} 1\n# HELP lat_count x\n',
      'lat_bucket 1\n# TYPE lat histogram\n',
      '# TYPE lat histogram\n# TYPE lat_sum gauge\n',
      'g 1\nx 1\ng 2\n',
      '# TYPE g gauge\n# TYPE g2 gauge\ng 1\n',
      '# TYPE g gauge \ng 1\n',
      '# TYPE g  gauge\ng 1\n',
      '# TYPE g gauge extra\ng 1\n',
      '# TYPE g Gauge\ng 1\n',
      '# TYPE g stateset\ng 1\n',
      '# HELP\ng 1\n',
      '#\ng 1\n',
      '# EOF\n',
      'g 1\n# EOF\n',
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(10);
  });

  it('gives up or agrees on `_created` gauges beside counters, histograms and summaries, and on OpenMetrics name clashes', () => {
    const cases = [
      // prometheus_client (Python) in the text format.
      '# TYPE req_total counter\nreq_total{method="GET",id="1"} 1\n# TYPE req_created gauge\nreq_created{method="GET",id="1"} 1.7e9\n',
      '# TYPE lat histogram\nlat_bucket{method="GET",le="+Inf"} 1\nlat_count{method="GET"} 1\nlat_sum{method="GET"} 1\n# TYPE lat_created gauge\nlat_created{method="GET"} 1.7e9\n',
      '# TYPE lat_created gauge\nlat_created{method="GET"} 1.7e9\n# TYPE lat histogram\nlat_bucket{method="GET",le="+Inf"} 1\n',
      'lat_created{method="GET"} 1.7e9\n',
      'req_created{method="GET",id="1"} 1.7e9\n',
      '# TYPE summary_s summary\nsummary_s{quantile="0.5"} 1\nsummary_s_created 1\n',
      // Counters and what OpenMetrics renames them to.
      '# TYPE x_total counter\nx_total{a="1"} 1\nx{a="1"} 1\n',
      '# TYPE x_total counter\nx_total{a="1"} 1\n# TYPE x_created gauge\nx_created{a="1"} 1\n',
      '# TYPE x_total counter\nx_total{a="1"} 1\n# TYPE x_total_total counter\nx_total_total{a="1"} 1\n',
      '# TYPE x_total counter\nx_total{a="1"} 1\n# TYPE x_total_created gauge\nx_total_created{a="1"} 1\n',
      '# TYPE x histogram\nx_bucket{le="+Inf"} 1\n# TYPE x_created_total counter\nx_created_total 1\n',
      '# TYPE x histogram\nx_bucket{le="+Inf"} 1\n# TYPE x_total counter\nx_total 1\n',
      '# TYPE x_total counter\nx_total -1\n',
      '# TYPE x_total counter\nx_total NaN\n',
      '# TYPE x_total counter\nx_total -0\n',
      '# TYPE _total counter\n_total 1\n',
      '# TYPE x counter\nx -1\n',
      '# TYPE x_total untyped\nx_total 1\n# TYPE x gauge\nx 1\n',
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(10);
  });

  it('gives up or agrees on OpenMetrics value rules per series: bucket counts, +Inf against count, over caps', () => {
    const cases = [
      '# TYPE lat histogram\nlat_bucket{id="1",le="1"} 1\nlat_bucket{id="1",le="+Inf"} 2\nlat_count{id="1"} 2\nlat_bucket{id="2",le="1"} 2\nlat_bucket{id="2",le="+Inf"} 1\nlat_count{id="2"} 1\n',
      '# TYPE lat histogram\nlat_count{id="1"} 3\nlat_bucket{id="1",le="+Inf"} 2\n',
      '# TYPE lat histogram\nlat_bucket{id="1",le="+Inf"} 2.5\nlat_count{id="1"} 2.5\n',
      '# TYPE lat histogram\nlat_bucket{id="1",le="+Inf"} 2\nlat_count{id="1"} 2.0\n',
      '# TYPE lat histogram\nlat_bucket{id="1",le="+Inf"} 2\nlat_count{id="1"} 2e0\nlat_sum{id="1"} -5\n',
      '# TYPE summary_s summary\nsummary_s{id="1",quantile="0.5"} -0\nsummary_s_count{id="1"} 1.5\n',
      '# TYPE summary_s summary\nsummary_s{id="1",quantile="0.5"} -Inf\n',
    ];
    let taken = 0;
    for (const text of cases) for (const policy of POLICIES) taken += expectAgrees(text, policy);
    expect(taken).toBeGreaterThan(5);
  });

  it('gives up or agrees at, below and above every parse limit', () => {
    const body =
      '# HELP lat help\n# TYPE lat histogram\nlat_bucket{method="GET",id="12",le="1"} 0\nlat_bucket{method="GET",id="12",le="+Inf"} 1\nlat_sum{method="GET",id="12"} 1\nlat_count{method="GET",id="12"} 1\n' +
      'req_total{method="POST",user="u-123",id="7"} 3\nreq_total{} 4\n';
    let taken = 0;
    for (const key of ['maxLineLength', 'maxLabelsPerSeries', 'maxNameLength', 'maxLabelNameLength', 'maxLabelValueLength', 'maxFamilies', 'maxSeries', 'maxBytes'] as const) {
      for (let v = 1; v <= 64; v++) for (const policy of [OPEN, STRICT]) taken += expectAgrees(body, policy, { [key]: v }, `${key}=${v}`);
    }
    expect(taken).toBeGreaterThan(300);
  });

  it('takes common bodies: the tests above exercise the lane, not only its giving up', () => {
    const go = '# HELP req_total Requests.\n# TYPE req_total counter\nreq_total{method="GET",user="u1",id="1"} 3\nreq_total{method="POST",user="u2",id="2"} 4\n# TYPE lat histogram\nlat_bucket{method="GET",le="0.1"} 1\nlat_bucket{method="GET",le="+Inf"} 2\nlat_sum{method="GET"} 0.3\nlat_count{method="GET"} 2\n';
    for (const policy of [OPEN, STRICT]) {
      for (const format of FORMATS) {
        const body = Buffer.from(go);
        const fast = lane(body, policy, {}, format);
        expect(fast, `${policy === OPEN ? 'open' : 'strict'} ${format}`).toBeDefined();
        expect(fast).toEqual(general(body, policy, {}, format));
      }
    }
  });

  it('keeps nothing from one scrape to the next: the idle lane, reused under other limits, policies and hash lengths, still gives up or agrees', () => {
    const wide = `c{${Array.from({ length: 100 }, (_, i) => `l${i}="v${i}"`).join(',')},a="1",b="u"} 1\nc{a="2",b="u"} 2\n`;
    const narrow = 'c{a="1",b="u"} 1\nc{a="2",b="u"} 2\n# TYPE lat histogram\nlat_bucket{method="GET",le="+Inf"} 1\n';
    const sequence: Array<[string, ScrubPolicy, Partial<ParseLimits>]> = [
      [wide, OPEN, { maxLabelsPerSeries: 200 }],
      [wide, OPEN, {}],
      [narrow, SHORT, { maxLabelsPerSeries: 2 }],
      [wide, SHORT, { maxLabelsPerSeries: 102 }],
      [narrow, OPEN, {}],
      [narrow, policyOf({ families: [{ name: '*', labels: { a: 'hash', b: 'hash', method: 'hash' } }], hashLength: 64 }, 'h64'), {}],
      [wide, policyOf({ families: [{ name: '*', labels: { a: 'hash', b: 'hash', l99: 'hash' } }], hashLength: 64 }, 'h64'), { maxLabelsPerSeries: 102 }],
      [narrow, STRICT, {}],
    ];
    let taken = 0;
    for (const [text, policy, limits] of sequence) taken += expectAgrees(text, policy, limits, `${JSON.stringify(limits)} ${text.slice(0, 40)}`);
    expect(taken).toBeGreaterThan(6);
  });

  it('never throws: a large maxLabelsPerSeries is a limit, not an allocation (the lane gives up or agrees; the pipeline scrubs as the general path)', () => {
    // The lane sizes per-label scratch arrays by the limit itself (scrub-text-lane.ts
    // `start`): 80 bytes per allowed label, kept by the idle lane between scrapes. A
    // limit the general path takes without cost must not make the lane throw (then the
    // pipeline drops the scrape as SP_INTERNAL) or hold gigabytes.
    const body = Buffer.from('# TYPE req_total counter\nreq_total{method="GET"} 1\n');
    const limits = { maxLabelsPerSeries: Number.MAX_SAFE_INTEGER };
    for (const format of FORMATS) {
      const expected = general(body, OPEN, limits, format);
      expect(expected.ok).toBe(true);
      let fast: Outcome | undefined;
      expect(() => {
        fast = lane(body, OPEN, limits, format);
      }).not.toThrow();
      if (fast !== undefined) expect(fast).toEqual(expected);
      expect(piped(body, OPEN, limits, format)).toEqual(expected);
    }
  });
});

// ---------------------------------------------------------------------------------------
// Seeded fuzz: valid templates, structured mutations aimed at the lane's fast paths.

/** Valid text expositions in the lane's subset, with a never-named `secret` label here and there. */
const TEMPLATES: readonly string[][] = [
  [
    '# HELP req_total Requests.',
    '# TYPE req_total counter',
    'req_total{method="GET",user="u1",id="1",secret="SECRET-a"} 3',
    'req_total{method="POST",user="u2",id="2",secret="SECRET-b"} 4',
    'req_total{method="GET",user="u2",id="3",secret="SECRET-c"} 0',
    '# TYPE req_created gauge',
    'req_created{method="GET",user="u1",id="1",secret="SECRET-a"} 1.7e+09',
    '# HELP lat Latency.',
    '# TYPE lat histogram',
    'lat_bucket{method="GET",id="1",le="0.1"} 1',
    'lat_bucket{method="GET",id="1",le="1"} 2',
    'lat_bucket{method="GET",id="1",le="+Inf"} 2',
    'lat_sum{method="GET",id="1"} 0.75',
    'lat_count{method="GET",id="1"} 2',
    'lat_bucket{method="POST",id="2",le="0.1"} 0',
    'lat_bucket{method="POST",id="2",le="1"} 0',
    'lat_bucket{method="POST",id="2",le="+Inf"} 1',
    'lat_sum{method="POST",id="2"} 3',
    'lat_count{method="POST",id="2"} 1',
    '# TYPE lat_created gauge',
    'lat_created{method="GET",id="1"} 1.7e+09',
    'lat_created{method="POST",id="2"} 1.7e+09',
  ],
  [
    '# HELP summary_s A summary.',
    '# TYPE summary_s summary',
    'summary_s{a="x",quantile="0"} 0.001',
    'summary_s{a="x",quantile="0.5"} 0.25',
    'summary_s{a="x",quantile="1"} 2',
    'summary_s_sum{a="x"} 10',
    'summary_s_count{a="x"} 20',
    'summary_s{a="y",quantile="0.5"} NaN',
    'summary_s_sum{a="y"} 0',
    'summary_s_count{a="y"} 0',
    '# TYPE g gauge',
    'g{le="1",quantile="q",a="x",secret="SECRET"} -1',
    'g{le="2",quantile="q",a="x",secret="SECRET"} .5',
    'g{} 5.',
    '# TYPE x_total counter',
    'x_total{a="#",c="{",id="}"} 1e3',
    'x_total{a="=",c=",",id=" "} +Inf',
    'x_total{a="",c="a b",id="q=}"} 007',
    'x 1',
    'xa{a="1",b="2",c="3"} nan',
    'xa{a="1",c="3"} Inf',
    'xa{b="2",a="1"} -Inf',
  ],
  [
    '# TYPE c counter',
    'c{a="1",b="1",id="1",secret="SECRET"} 1',
    'c{a="1",b="2",id="2",secret="SECRET"} 2',
    'c{a="2",b="1",id="3",secret="SECRET"} 3',
    'c{a="2",b="2",id="4",secret="SECRET"} 4',
    'c{a="3",b="1",id="5",secret="SECRET"} 5',
    'c{a="3",b="2",id="6",secret="SECRET"} 6',
    '# HELP u Untyped with "quotes".',
    'u{method="GET",c="1"} 1',
    'u{method="GET",c="2"} 2',
    'u_total 3',
    '# TYPE gq gauge',
    'gq{a="1"} 1',
    'gq{a="2"} 2',
  ],
];

const METRIC_NEAR: Record<string, readonly string[]> = {
  req_total: ['req', 'req_total_total', 'req_created', 'req_totals'],
  lat_bucket: ['lat_count', 'lat_sum', 'lat_buckets', 'lat', 'lat_bucket_bucket'],
  lat_sum: ['lat_count', 'lat_bucket', 'lat'],
  lat_count: ['lat_sum', 'lat_created'],
  summary_s: ['summary_s_sum', 'summary_s_count', 'summary_s_created', 'summary'],
  x_total: ['x', 'x_created', 'x_total_created'],
  g: ['gq', 'g_created', 'g_total'],
  c: ['c_total', 'c_created', 'cc'],
};
const LABEL_NEAR = ['a', 'b', 'c', 'aa', 'A', 'a_', '_', '__a', 'id', 'le', 'quantile', 'method', 'user', 'a1'];
const VALUES = ['0', '1', '2', '-1', '-0', '.5', '5.', '1e3', '1E-3', '2.5', 'NaN', 'nan', '+Inf', '-Inf', 'Inf', '1e400', '0x10', '007', '3 1700000000000', ''];
const STRUCTURAL = ['0', '0.5', '1', '+Inf', '+inf', 'Inf', '-0', '.5', '1e-1', '2', 'NaN', 'x'];

/** One structured edit of `lines` (in place). */
function mutate(lines: string[], random: () => number): void {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const at = Math.floor(random() * lines.length);
  const sample = parseLine(lines[at]!);
  const op = Math.floor(random() * 14);
  switch (op) {
    case 0: // swap with the next line
      if (at + 1 < lines.length) [lines[at], lines[at + 1]] = [lines[at + 1]!, lines[at]!];
      return;
    case 1: // repeat a line (a duplicate series, or a second HELP/TYPE)
      lines.splice(at, 0, lines[at]!);
      return;
    case 2: // delete a line (a histogram's +Inf, a TYPE…)
      lines.splice(at, 1);
      return;
    case 3: // reorder the labels of a line
      if (sample !== undefined) {
        sample.pairs.sort(() => random() - 0.5);
        lines[at] = renderLine(sample);
      }
      return;
    case 4: // rename a label (never the secret one: its value must stay under a dropped name)
      if (sample !== undefined && sample.pairs.length > 0) {
        const i = Math.floor(random() * sample.pairs.length);
        if (sample.pairs[i]![0] !== 'secret') sample.pairs[i]![0] = random() < 0.3 && sample.pairs.length > 1 ? sample.pairs[(i + 1) % sample.pairs.length]![0] : pick(LABEL_NEAR);
        if (sample.pairs[i]![0] === 'secret') sample.pairs[i]![1] = 'SECRET';
        lines[at] = renderLine(sample);
      }
      return;
    case 5: // a near-duplicate metric name
      if (sample !== undefined) {
        const near = METRIC_NEAR[sample.name];
        sample.name = near !== undefined ? pick(near) : `${sample.name}${pick(['_total', '_created', '_sum', 'x'])}`;
        lines[at] = renderLine(sample);
      }
      return;
    case 6: // another value
      if (sample !== undefined) {
        sample.value = pick(VALUES);
        lines[at] = renderLine(sample);
      }
      return;
    case 7: // another structural value, or the structural label moved
      if (sample !== undefined) {
        const i = sample.pairs.findIndex(([n]) => n === 'le' || n === 'quantile');
        if (i >= 0) {
          const [pair] = sample.pairs.splice(i, 1);
          if (random() < 0.5) pair![1] = pick(STRUCTURAL);
          sample.pairs.splice(Math.floor(random() * (sample.pairs.length + 1)), 0, pair!);
          lines[at] = renderLine(sample);
        }
      }
      return;
    case 8: // braces: `{}` added, or a label taken out
      if (sample !== undefined) {
        if (sample.pairs.length === 0) sample.braces = !sample.braces;
        else sample.pairs.splice(Math.floor(random() * sample.pairs.length), 1);
        lines[at] = renderLine(sample);
      }
      return;
    case 9: { // metadata at a random place (often after samples)
      const names = lines.map((l) => parseLine(l)?.name).filter((n): n is string => n !== undefined);
      if (names.length > 0) lines.splice(at, 0, random() < 0.5 ? `# HELP ${pick(names)} ${pick(['late', '', 'with "quote"'])}` : `# TYPE ${pick(names)} ${pick(['counter', 'gauge', 'histogram', 'summary', 'untyped'])}`);
      return;
    }
    case 10: // a series copied with one value changed: same family, another series, or a duplicate
      if (sample !== undefined && sample.pairs.length > 0) {
        const copy: Line = { ...sample, pairs: sample.pairs.map(([n, v]) => [n, v]) };
        const i = Math.floor(random() * copy.pairs.length);
        if (copy.pairs[i]![0] !== 'secret') copy.pairs[i]![1] = pick(['1', '2', 'x', '', 'u1']);
        lines.splice(at + 1, 0, renderLine(copy));
      }
      return;
    case 11: // a label value changed in place (another series, maybe a split group)
      if (sample !== undefined && sample.pairs.length > 0) {
        const i = Math.floor(random() * sample.pairs.length);
        const [name] = sample.pairs[i]!;
        if (name !== 'secret' && name !== 'le' && name !== 'quantile') sample.pairs[i]![1] = pick(['1', '2', 'x', '', 'u1', 'GET']);
        lines[at] = renderLine(sample);
      }
      return;
    case 12: // a label added
      if (sample !== undefined) {
        sample.pairs.splice(Math.floor(random() * (sample.pairs.length + 1)), 0, random() < 0.2 ? ['secret', 'SECRET-new'] : [pick(LABEL_NEAR), pick(['1', 'x', ''])]);
        lines[at] = renderLine(sample);
      }
      return;
    default: // a whole group repeated under another id (caps, collisions)
      if (sample !== undefined) {
        let end = at;
        while (end + 1 < lines.length && parseLine(lines[end + 1]!)?.name.startsWith(sample.name.replace(/_(bucket|sum|count)$/, '')) === true) end++;
        const group = lines.slice(at, end + 1).map((l) => l.replace(/id="[^"]*"/, `id="${Math.floor(random() * 9)}"`));
        lines.splice(end + 1, 0, ...group);
      }
  }
}

/** Limits at, just under, or just over what the body needs. */
function limitsFor(text: string, random: () => number): Partial<ParseLimits> {
  const lines = text.split('\n').slice(0, -1);
  const samples = lines.filter((l) => l !== '' && !l.startsWith('#'));
  const parsed = samples.map(parseLine).filter((l): l is Line => l !== undefined);
  const nudge = (n: number): number => Math.max(1, n + Math.floor(random() * 3) - 1);
  const limits: Record<string, number> = {};
  const r = random();
  if (r < 0.06) limits['maxLineLength'] = nudge(Math.max(...lines.map((l) => l.length), 1));
  else if (r < 0.12) limits['maxLabelsPerSeries'] = nudge(Math.max(0, ...parsed.map((l) => l.pairs.length)));
  else if (r < 0.18) limits['maxLabelValueLength'] = nudge(Math.max(0, ...parsed.flatMap((l) => l.pairs.map(([, v]) => v.length))));
  else if (r < 0.24) limits['maxLabelNameLength'] = nudge(Math.max(0, ...parsed.flatMap((l) => l.pairs.map(([n]) => n.length))));
  else if (r < 0.3) limits['maxNameLength'] = nudge(Math.max(0, ...parsed.map((l) => l.name.length)));
  else if (r < 0.36) limits['maxSeries'] = nudge(samples.length);
  else if (r < 0.42) limits['maxFamilies'] = nudge(new Set(parsed.map((l) => l.name.replace(/_(bucket|sum|count)$/, ''))).size);
  return limits;
}

describe('fast lane review: seeded fuzz of edited templates (seed 20261203)', () => {
  it('gives up or gives the general pipeline\'s result, never a dropped value, in text and OpenMetrics, and takes a fair share of the bodies', () => {
    const random = prng(20261203);
    const started = Date.now();
    const tally = { text: { accepted: 0, valid: 0, editedAccepted: 0 }, openmetrics: { accepted: 0, valid: 0, editedAccepted: 0 } };
    let cases = 0;
    // Bounded by count and, on a slow machine, by time (well within the test timeout).
    for (let i = 0; i < 900 && Date.now() - started < 8000; i++) {
      const lines = [...TEMPLATES[i % TEMPLATES.length]!];
      // Some bodies take only a part of a template (other family orders and caps).
      if (random() < 0.3) lines.splice(0, Math.floor(random() * lines.length * 0.5));
      const edits = random() < 0.2 ? 0 : 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) mutate(lines, random);
      const text = `${lines.join('\n')}\n`;
      const body = Buffer.from(text, 'latin1');
      const limits = limitsFor(text, random);
      for (const policy of POLICIES) {
        for (const format of FORMATS) {
          cases++;
          const expected = general(body, policy, limits, format);
          const fast = lane(body, policy, limits, format);
          const count = tally[format];
          if (expected.ok) {
            count.valid++;
            // The oracle drops the secret too (a check of the fuzz itself).
            expect(expected.body.includes('SECRET'), text).toBe(false);
          }
          if (fast === undefined) continue;
          expect(fast, `${format} ${JSON.stringify(limits)}\n${text}`).toEqual(expected);
          expect(fast.ok && fast.body.includes('SECRET'), `${format} leak\n${text}`).toBe(false);
          count.accepted++;
          if (edits > 0) count.editedAccepted++;
        }
      }
    }
    expect(cases).toBeGreaterThan(2000);
    // The lane is exercised, not only giving up: a fair share of the valid bodies, edited
    // ones too (fewer in OpenMetrics: the templates' `_created` gauges and `x_total` beside
    // `x` make the renderer fold or rename, on which the lane gives up).
    expect(tally.text.accepted).toBeGreaterThan(tally.text.valid * 0.6);
    expect(tally.openmetrics.accepted).toBeGreaterThan(tally.openmetrics.valid * 0.3);
    for (const count of [tally.text, tally.openmetrics]) expect(count.editedAccepted).toBeGreaterThan(200);
  });
});
