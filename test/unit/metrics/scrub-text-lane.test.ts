/**
 * The scrub pipeline's fast lane (scrub-text-lane.ts) against the general pipeline, its
 * oracle: on every body it accepts it must give the general pipeline's bytes and
 * statistics, and it must give up on every body the general pipeline refuses or
 * decides by a rule it does not apply itself (a collision, a duplicate). The lane never
 * reports an error, so "it gave up" is always a correct answer; these tests also check
 * that it does not give up on what it is for, or it would be a fast lane in name only.
 */
import { describe, expect, it } from 'vitest';
import { createLabelHasher } from '../../../src/metrics/hash.ts';
import type { ParseLimits } from '../../../src/metrics/parse-limits.ts';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrubScrapeToBuffer } from '../../../src/metrics/scrub-pipeline.ts';
import { mutateExposition, prng } from './helpers.ts';
import { KEY, OPENMETRICS, TEXT, general, lane } from './lane-oracle.ts';

const POLICIES = [
  // Everything out, most labels kept.
  { families: [{ name: '*', labels: { a: 'keep', b: 'hash', c: 'keep', method: 'keep', user: 'hash', le: 'keep', quantile: 'keep', id: 'keep' }, help: true }] },
  // Caps, HELP withheld, a pattern, a family not allowed, _created gauges under their counterpart's rule.
  { families: [{ name: 'c_total', labels: { a: 'keep', id: 'hash' }, maxSeries: 2 }, { name: 'h*', labels: { b: 'keep', id: 'keep' }, created: true }, { name: 'g', labels: { user: 'hash', id: 'keep' } }], maxSeries: 6 },
  // Short hashes and dropped labels: collisions happen, and the lane must give up on them.
  { families: [{ name: '*' }], labels: { a: 'hash', b: 'hash', c: 'drop' }, hashLength: 8, maxSeriesPerFamily: 3 },
  // Policy-wide labels, a family-wide override.
  { families: [{ name: 's', labels: { method: 'drop' } }, { name: 'u*' }, { name: 'c_*', help: true }], labels: { method: 'keep', a: 'keep', id: 'keep' } },
].map((p, i) => parseScrubPolicy(p, `p${i}`));

/** A seeded exposition in the subset the lane takes: compact, ASCII, no escapes, no timestamps. */
function laneExposition(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const values = ['1', 'x', '', 'a b', 'GET', 'user-1', 'user-2', 'a,b', 'q=}', 'p{q}', '#'];
  const labelSet = (): string[] => {
    const pairs: string[] = [];
    const used = new Set<string>();
    for (let i = Math.floor(random() * 4); i > 0; i--) {
      const name = pick(['a', 'b', 'c', 'method', 'user', 'le', 'quantile', 'a_b2']);
      if (!used.has(name)) pairs.push(`${name}="${pick(values)}"`);
      used.add(name);
    }
    return random() < 0.2 ? pairs.reverse() : pairs;
  };
  const braces = (pairs: readonly string[]): string => (pairs.length === 0 ? (random() < 0.1 ? '{}' : '') : `{${pairs.join(',')}}`);
  const lines: string[] = [];
  const used = new Set<string>();
  for (let f = 1 + Math.floor(random() * 6); f > 0; f--) {
    const family = pick(['c_total', 'c_created', 'g', 'h', 'h_created', 's', 'u', 'u:x', 'c']);
    if (used.has(family)) continue;
    used.add(family);
    const type = pick(['counter', 'gauge', 'histogram', 'summary', 'untyped', undefined]);
    if (random() < 0.5) lines.push(`# HELP ${family} ${pick(['Help text.', '', 'with "quotes" and {braces}'])}`);
    if (type !== undefined) lines.push(`# TYPE ${family} ${type}`);
    for (let series = 1 + Math.floor(random() * 5); series > 0; series--) {
      // Mostly told apart by an id (which some policies drop: then series collide).
      const labels = labelSet().filter((p) => !p.startsWith('le=') && !p.startsWith('quantile='));
      const base = random() < 0.97 ? [...labels, `id="${series}"`] : labels;
      const withLabel = (extra: string): string => braces(extra === '' ? base : random() < 0.2 ? [extra, ...base] : [...base, extra]);
      if (type === 'histogram') {
        // Now and then values the text format allows and OpenMetrics does not: a
        // fractional or falling bucket count, a count other than the +Inf bucket's.
        let count = 0;
        for (const le of ['0.1', '1', '2.5e1', '+Inf']) {
          count += Math.floor(random() * 3);
          const odd = random() < 0.02 ? pick([`${count}.5`, '0']) : String(count);
          lines.push(`${family}_bucket${withLabel(`le="${le}"`)} ${odd}`);
        }
        lines.push(`${family}_sum${withLabel('')} ${pick(['2.5', '0', '1e3'])}`, `${family}_count${withLabel('')} ${random() < 0.03 ? count + 1 : count}`);
      } else if (type === 'summary') {
        for (const q of ['0.5', '0.9', '0.99']) lines.push(`${family}${withLabel(`quantile="${q}"`)} ${pick(['1', '2.25', 'NaN', '-1', '0'])}`);
        lines.push(`${family}_sum${withLabel('')} 1`, `${family}_count${withLabel('')} ${random() < 0.05 ? '2.5' : '2'}`);
      } else {
        lines.push(`${family}${withLabel('')} ${pick(['0', '1', '2.5', '1e3', '-1', 'NaN', 'nan', '+Inf', '-Inf', 'Inf', '.5', '5.', '1E-3', '007'])}`);
      }
      // Now and then the same series twice: a duplicate the general pipeline refuses.
      if (random() < 0.02) lines.push(lines[lines.length - 1]!);
    }
  }
  if (random() < 0.05) lines.push('');
  return `${lines.join('\n')}\n`;
}

/** The same for OpenMetrics, in the subset the lane takes: its types but info, stateset and gaugehistogram; `_created` samples; `# EOF`. */
function omLaneExposition(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const values = ['1', 'x', '', 'a b', 'GET', 'user-1', 'user-2', 'a,b', 'q=}', '#'];
  const lines: string[] = [];
  const used = new Set<string>();
  for (let f = 1 + Math.floor(random() * 6); f > 0; f--) {
    const family = pick(['c', 'g', 'h', 's', 'u', 'u:x', 'c_total', 'h_created']);
    if (used.has(family)) continue;
    used.add(family);
    const type = pick(['counter', 'gauge', 'histogram', 'summary', 'unknown', undefined]);
    const help = random() < 0.5 ? `# HELP ${family}${pick([' Help text.', '', ' ', ' with "quotes"'])}` : undefined;
    if (help !== undefined && random() < 0.5) lines.push(help);
    if (type !== undefined) lines.push(`# TYPE ${family} ${type}`);
    if (help !== undefined && !lines.includes(help)) lines.push(help);
    for (let series = 1 + Math.floor(random() * 5); series > 0; series--) {
      const pairs: string[] = [];
      for (const name of ['a', 'b', 'c', 'user']) if (random() < 0.4) pairs.push(`${name}="${pick(values)}"`);
      if (random() < 0.97) pairs.push(`id="${series}"`);
      if (random() < 0.2) pairs.reverse();
      const withLabel = (extra: string): string => {
        const all = extra === '' ? pairs : random() < 0.2 ? [extra, ...pairs] : [...pairs, extra];
        return all.length === 0 ? (random() < 0.1 ? '{}' : '') : `{${all.join(',')}}`;
      };
      const created = (): void => {
        if (random() < 0.4) lines.push(`${family}_created${withLabel('')} ${pick(['1.7e+09', '1700000000.5'])}`);
      };
      if (type === 'counter') {
        lines.push(`${family}_total${withLabel('')} ${pick(['0', '1', '2.5', '1e3', '+Inf', '-1', 'NaN'])}`);
        created();
      } else if (type === 'histogram') {
        let count = 0;
        for (const le of ['0.1', '1', '+Inf']) {
          count += Math.floor(random() * 3);
          lines.push(`${family}_bucket${withLabel(`le="${le}"`)} ${random() < 0.02 ? `${count}.5` : count}`);
        }
        lines.push(`${family}_count${withLabel('')} ${random() < 0.03 ? count + 1 : count}`, `${family}_sum${withLabel('')} 2.5`);
        created();
      } else if (type === 'summary') {
        for (const q of ['0.5', '0.9']) lines.push(`${family}${withLabel(`quantile="${q}"`)} ${pick(['1', '2.25', 'NaN', '-1'])}`);
        lines.push(`${family}_count${withLabel('')} ${random() < 0.05 ? '2.5' : '2'}`, `${family}_sum${withLabel('')} 1`);
        created();
      } else {
        lines.push(`${family}${withLabel('')} ${pick(['0', '1', '-1', 'NaN', '+Inf', '.5'])}`);
      }
      if (random() < 0.02) lines.push(lines[lines.length - 1]!);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

describe('scrub pipeline fast lane', () => {
  it('gives the general pipeline\'s bytes and statistics, in text and in OpenMetrics, whenever it does not give up, on 1500 seeded expositions, a third of them edited (seed 5150)', () => {
    const random = prng(5150);

    const tally = () => ({ accepted: 0, gaveUpOnValid: 0, refusedByGeneral: 0, editedAccepted: 0 });
    const counts = { text: tally(), openmetrics: tally() };
    const alphabet = ['{', '}', '"', ' ', ',', '\n', '=', 'le', '#', '0', '_', '+Inf', 'x', '__', '# TYPE c counter\n', 'NaN', '.', 'e', '-'];
    for (let i = 0; i < 1500; i++) {
      const edited = random() < 0.33;
      const text = edited ? mutateExposition(laneExposition(random), random, alphabet) : laneExposition(random);
      const body = Buffer.from(text, 'latin1');
      for (const policy of POLICIES) {
        for (const format of ['text', 'openmetrics'] as const) {
          const expected = general(body, policy, {}, format);
          const fast = lane(body, policy, {}, format);
          const count = counts[format];
          if (fast !== undefined) {
            expect(fast).toEqual(expected);
            count.accepted++;
            if (edited) count.editedAccepted++;
          } else if (expected.ok) {
            count.gaveUpOnValid++;
          } else {
            count.refusedByGeneral++;
          }
          // And through the pipeline, whatever the lane did.
          const piped = scrubScrapeToBuffer(body, TEXT, policy, createLabelHasher(KEY, policy.hashLength), format);
          expect(piped.ok ? { ok: true, body: piped.body.toString('utf8'), stats: piped.stats } : { ok: false, code: piped.code }).toEqual(expected);
        }
      }
    }
    // The lane took most valid bodies (it gives up on collisions, duplicates and what it
    // does not take, such as a body that ends without a line feed), and bodies that the
    // edits left valid; the general pipeline refused many of the edited ones. (These
    // expositions are made to be awkward: half the policies here make collisions, and
    // many families clash in OpenMetrics. Real ones rarely do: the next tests.)
    // OpenMetrics takes fewer: the lane also gives up where a value makes serialize.ts
    // render a family otherwise (a negative counter, a fractional bucket count).
    for (const count of [counts.text, counts.openmetrics]) {
      expect(count.accepted).toBeGreaterThan(count === counts.text ? 2500 : 1400);
      expect(count.editedAccepted).toBeGreaterThan(40);
      expect(count.refusedByGeneral).toBeGreaterThan(800);
      expect(count.gaveUpOnValid).toBeLessThan(count.accepted * (count === counts.text ? 1 : 1.5));
    }
  });

  it('gives the general pipeline\'s bytes and statistics for OpenMetrics bodies too, out in both formats, whenever it does not give up, on 1500 seeded ones, a third of them edited (seed 6160)', () => {
    const random = prng(6160);
    const policies = [
      ...POLICIES,
      // `_created` samples out: only OpenMetrics can render them in place.
      parseScrubPolicy({ families: [{ name: '*', labels: { a: 'keep', user: 'hash', id: 'keep' }, created: true, help: true }] }, 'created'),
    ];
    const tally = () => ({ accepted: 0, gaveUpOnValid: 0, refusedByGeneral: 0, editedAccepted: 0, createdOut: 0 });
    const counts = { text: tally(), openmetrics: tally() };
    const alphabet = ['{', '}', '"', ' ', ',', '\n', '=', 'le', '#', '0', '_', '+Inf', 'x', '# EOF\n', '_total', '_created', 'NaN', '.', '-', '\n\n'];
    for (let i = 0; i < 1500; i++) {
      const edited = random() < 0.33;
      const text = edited ? mutateExposition(omLaneExposition(random), random, alphabet) : omLaneExposition(random);
      const body = Buffer.from(text, 'latin1');
      for (const policy of policies) {
        for (const format of ['text', 'openmetrics'] as const) {
          const expected = general(body, policy, {}, format, 'openmetrics');
          const fast = lane(body, policy, {}, format, 'openmetrics');
          const count = counts[format];
          if (fast !== undefined) {
            expect(fast, `${format}\n${text}`).toEqual(expected);
            count.accepted++;
            if (edited) count.editedAccepted++;
            // A counter's or a summary's own `_created` sample (a family called `h_created` is no such thing).
            if (fast.ok && /^(c|s|c_total)_created[{ ]/m.test(fast.body)) count.createdOut++;
          } else if (expected.ok) {
            count.gaveUpOnValid++;
          } else {
            count.refusedByGeneral++;
          }
          const piped = scrubScrapeToBuffer(body, OPENMETRICS, policy, createLabelHasher(KEY, policy.hashLength), format);
          expect(piped.ok ? { ok: true, body: piped.body.toString('utf8'), stats: piped.stats } : { ok: false, code: piped.code }).toEqual(expected);
        }
      }
    }
    for (const count of [counts.text, counts.openmetrics]) {
      expect(count.accepted).toBeGreaterThan(1200);
      expect(count.editedAccepted).toBeGreaterThan(20);
      expect(count.refusedByGeneral).toBeGreaterThan(800);
    }
    // `_created` samples left in place, in OpenMetrics only.
    expect(counts.openmetrics.createdOut).toBeGreaterThan(20);
    expect(counts.text.createdOut).toBe(0);
  });

  it('gives up, and the general pipeline decides, at every limit and on what it does not take', () => {
    const policy = POLICIES[0]!;
    const base = '# TYPE c counter\nc{a="x",b="y"} 1\nc{a="z",b="y"} 2\n';
    expect(lane(Buffer.from(base), policy, {})).toBeDefined();
    const cases: Array<[string, string, Partial<ParseLimits>]> = [
      ['series limit', base, { maxSeries: 1 }],
      ['labels per series', base, { maxLabelsPerSeries: 1 }],
      ['label value length', base.replace('"x"', '"xxxx"'), { maxLabelValueLength: 3 }],
      ['label name length', base.replace('b="y"} 1', 'bb="y"} 1'), { maxLabelNameLength: 1 }],
      ['metric name length', '# TYPE cc counter\ncc{a="x"} 1\n', { maxNameLength: 1 }],
      ['families', `${base}# TYPE d gauge\nd 1\n`, { maxFamilies: 1 }],
      ['line length', base, { maxLineLength: 10 }],
      ['body size', base, { maxBytes: 20 }],
      ['no final line feed', base.slice(0, -1), {}],
      ['a timestamp', base.replace('} 1', '} 1 1700000000000'), {}],
      ['an escape', base.replace('"x"', '"x\\"y"'), {}],
      ['a tab', base.replace('} 1', '}\t1'), {}],
      ['non-ASCII', base.replace('"x"', '"é"'), {}],
      ['a blank inside the braces', base.replace('a="x",', 'a="x", '), {}],
      ['a trailing comma', base.replace('b="y"} 1', 'b="y",} 1'), {}],
      ['a plain comment', `# just a comment\n${base}`, {}],
      ['a comment shaped like TYPE', '# NOTE c counter\nc 1\n', {}],
      ['OpenMetrics EOF', `${base}# EOF\n`, {}],
      ['a duplicate series', `${base}c{b="y",a="x"} 3\n`, {}],
      ['a duplicate label name', base.replace('b="y"} 1', 'a="y"} 1'), {}],
      ['a reserved label name', base.replace('b="y"} 1', '__b="y"} 1'), {}],
      ['interleaved families', `${base}# TYPE d gauge\nd 1\nc{a="w"} 1\n`, {}],
      ['metadata after samples', `${base}# HELP c late\n`, {}],
      ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 1\n', {}],
      ['buckets out of order', '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\n', {}],
      ['a negative bucket', '# TYPE h histogram\nh_bucket{le="1"} -1\nh_bucket{le="+Inf"} 1\n', {}],
      ['a quantile out of range', '# TYPE s summary\ns{quantile="2"} 1\n', {}],
      ['le outside a bucket', '# TYPE h histogram\nh_sum{le="1"} 1\n', {}],
      ['an invalid value', base.replace('} 1', '} one'), {}],
      ['an unknown type', '# TYPE c stateset\nc 1\n', {}],
    ];
    for (const [what, text, limits] of cases) {
      const body = Buffer.from(text, 'utf8');
      expect(lane(body, policy, limits), what).toBeUndefined();
      // Whatever the general pipeline makes of it, the pipeline gives the same.
      const expected = general(body, policy, limits);
      const piped = scrubScrapeToBuffer(body, TEXT, policy, KEY, 'text', limits);
      expect(piped.ok ? { ok: true, body: piped.body.toString('utf8'), stats: piped.stats } : { ok: false, code: piped.code }, what).toEqual(expected);
    }
    // OpenMetrics bodies, out in both formats.
    const om = '# TYPE c counter\nc_total{a="x"} 1\nc_created{a="x"} 1.5\n# EOF\n';
    expect(lane(Buffer.from(om), policy, {}, 'openmetrics', 'openmetrics')).toBeDefined();
    const omCases: Array<[string, string]> = [
      ['an empty line', om.replace('1\nc_created', '1\n\nc_created')],
      ['no # EOF', om.replace('# EOF\n', '')],
      ['a line after # EOF', `${om}c_total{a="y"} 1\n`],
      ['# EOF without its line feed', om.slice(0, -1)],
      ['a UNIT line', `# UNIT c_seconds seconds\n${om}`],
      ['an info family', `# TYPE i info\ni_info{a="x"} 1\n${om}`],
      ['a stateset family', `# TYPE st stateset\nst{st="a"} 1\n${om}`],
      ['an exemplar', om.replace('c_total{a="x"} 1', 'c_total{a="x"} 1 # {t="1"} 1')],
      ['a timestamp', om.replace('c_total{a="x"} 1', 'c_total{a="x"} 1 1.5')],
      ['a counter without _total', om.replace('c_total{a="x"} 1\n', '')],
      ['a negative total', om.replace('c_total{a="x"} 1', 'c_total{a="x"} -1')],
      ['a second _created', om.replace('# EOF', 'c_created{a="x"} 2\n# EOF')],
      ['a text-format counter sample', om.replace('c_total{a="x"}', 'c{a="x"}')],
    ];
    for (const [what, text] of omCases) {
      const body = Buffer.from(text);
      for (const format of ['text', 'openmetrics'] as const) {
        expect(lane(body, policy, {}, format, 'openmetrics'), `${what}, ${format} out`).toBeUndefined();
        const expected = general(body, policy, {}, format, 'openmetrics');
        const piped = scrubScrapeToBuffer(body, OPENMETRICS, policy, KEY, format);
        expect(piped.ok ? { ok: true, body: piped.body.toString('utf8'), stats: piped.stats } : { ok: false, code: piped.code }, what).toEqual(expected);
      }
    }
    // A collision (two users hashed to one 8-hex value is unlikely; a dropped label is not).
    const colliding = '# TYPE c counter\nc{a="x",c="1"} 1\nc{a="x",c="2"} 2\n';
    expect(lane(Buffer.from(colliding), POLICIES[2]!, {})).toBeUndefined();
    expect(general(Buffer.from(colliding), POLICIES[2]!, {})).toMatchObject({ ok: true, stats: { droppedSeriesCollision: 2 } });
  });

  it('takes what common exporters write: a Go client exposition with a summary, histograms, counters and gauges', () => {
    const body = Buffer.from(
      [
        '# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.',
        '# TYPE go_gc_duration_seconds summary',
        'go_gc_duration_seconds{quantile="0"} 2.4291e-05',
        'go_gc_duration_seconds{quantile="0.25"} 3.5041e-05',
        'go_gc_duration_seconds{quantile="0.5"} 4.2e-05',
        'go_gc_duration_seconds{quantile="0.75"} 6.0667e-05',
        'go_gc_duration_seconds{quantile="1"} 0.000472625',
        'go_gc_duration_seconds_sum 0.011838088',
        'go_gc_duration_seconds_count 191',
        '# HELP go_goroutines Number of goroutines that currently exist.',
        '# TYPE go_goroutines gauge',
        'go_goroutines 42',
        '# HELP http_request_duration_seconds Latency.',
        '# TYPE http_request_duration_seconds histogram',
        'http_request_duration_seconds_bucket{handler="/a",user="u1",le="0.1"} 3',
        'http_request_duration_seconds_bucket{handler="/a",user="u1",le="1"} 5',
        'http_request_duration_seconds_bucket{handler="/a",user="u1",le="+Inf"} 6',
        'http_request_duration_seconds_sum{handler="/a",user="u1"} 2.75',
        'http_request_duration_seconds_count{handler="/a",user="u1"} 6',
        'http_request_duration_seconds_bucket{handler="/b",user="u2",le="0.1"} 0',
        'http_request_duration_seconds_bucket{handler="/b",user="u2",le="1"} 1',
        'http_request_duration_seconds_bucket{handler="/b",user="u2",le="+Inf"} 1',
        'http_request_duration_seconds_sum{handler="/b",user="u2"} 0.5',
        'http_request_duration_seconds_count{handler="/b",user="u2"} 1',
        '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
        '# TYPE process_cpu_seconds_total counter',
        'process_cpu_seconds_total 12.47',
        '# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.',
        '# TYPE promhttp_metric_handler_requests_total counter',
        'promhttp_metric_handler_requests_total{code="200"} 1520',
        'promhttp_metric_handler_requests_total{code="500"} 0',
        '',
      ].join('\n'),
    );
    const policy = parseScrubPolicy(
      { families: [{ name: 'go_*', help: true }, { name: 'http_*', labels: { handler: 'keep', user: 'hash' } }, { name: 'promhttp_*', labels: { code: 'keep' } }] },
      'go',
    );
    const fast = lane(body, policy, {});
    expect(fast).toBeDefined();
    expect(fast).toEqual(general(body, policy, {}));
    const om = lane(body, policy, {}, 'openmetrics');
    expect(om).toBeDefined();
    expect(om).toEqual(general(body, policy, {}, 'openmetrics'));
    expect(om!.ok && om!.body).toContain('# TYPE promhttp_metric_handler_requests counter\n');
    expect(fast!.ok && fast!.body).toContain('go_gc_duration_seconds{quantile="0.25"} 3.5041e-05\n');
    expect(fast!.ok && fast!.body).not.toContain('u1');
    expect(fast!.ok && fast!.body).not.toContain('process_cpu_seconds_total');
  });

  it('leaves a reused hasher as the general pipeline would: a scrape on which the lane gives up scrubs alike, and later scrapes too', () => {
    const policy = POLICIES[0]!;
    const good = Buffer.from('# TYPE c counter\nc{user="alice"} 1\nc{user="bob"} 2\n');
    // Valid, but the lane gives up on its last line (a timestamp), after hashing both users.
    const late = Buffer.from('# TYPE c counter\nc{user="bob"} 1\nc{user="carol"} 2\nc{user="dave"} 3 1700000000000\n');
    const reused = createLabelHasher(KEY, policy.hashLength);
    const outputs = [good, late, good, late].map((body) => {
      const outcome = scrubScrapeToBuffer(body, TEXT, policy, reused, 'text');
      if (!outcome.ok) throw new Error(outcome.code);
      return outcome.body.toString('utf8');
    });
    const fresh = (body: Buffer): string => {
      const outcome = scrubScrapeToBuffer(body, TEXT, policy, KEY, 'text');
      if (!outcome.ok) throw new Error(outcome.code);
      return outcome.body.toString('utf8');
    };
    expect(outputs).toEqual([fresh(good), fresh(late), fresh(good), fresh(late)]);
    expect(lane(late, policy, {})).toBeUndefined();
    expect(lane(good, policy, {})).toBeDefined();
  });
});
