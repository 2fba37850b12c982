import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createLabelHasher } from '../../../src/metrics/hash.ts';
import { HmacSha256 } from '../../../src/metrics/hmac-sha256.ts';
import { labelValue } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrub, scrubScrape } from '../../../src/metrics/scrub.ts';
import { serialize } from '../../../src/metrics/serialize.ts';
import { expectCode, prng } from './helpers.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210');

const WORKLOAD = [
  '# HELP http_requests_total Requests by user alice-the-customer.',
  '# TYPE http_requests_total counter',
  'http_requests_total{method="GET",user_id="alice@example.com",session="s-1",pod_ip="10.0.0.7"} 10 1700000000000',
  'http_requests_total{method="GET",user_id="bob@example.com",session="s-2",pod_ip="10.0.0.7"} 20 1700000000000',
  'http_requests_total{method="POST",user_id="alice@example.com",session="s-3",pod_ip="10.0.0.7"} 30 1700000000000',
  '# HELP http_request_duration_seconds Latency.',
  '# TYPE http_request_duration_seconds histogram',
  'http_request_duration_seconds_bucket{handler="/pay",tenant="acme-bank",le="0.1"} 1',
  'http_request_duration_seconds_bucket{handler="/pay",tenant="acme-bank",le="+Inf"} 2',
  'http_request_duration_seconds_sum{handler="/pay",tenant="acme-bank"} 0.3',
  'http_request_duration_seconds_count{handler="/pay",tenant="acme-bank"} 2',
  '# TYPE revenue_eur_total counter',
  'revenue_eur_total{customer="acme-bank"} 1234567',
  '# TYPE process_open_fds gauge',
  'process_open_fds 12',
  '# TYPE process_max_fds gauge',
  'process_max_fds{secret_label="classified"} 1024',
  '',
].join('\n');

const POLICY = parseScrubPolicy(
  {
    families: [
      { name: 'http_requests_total', labels: { method: 'keep', user_id: 'hash', session: 'drop' } },
      { name: 'http_request_duration_seconds', labels: { handler: 'keep', tenant: 'hash' }, help: true },
      { name: 'process_*' },
    ],
  },
  'test.metrics',
);

function hmac16(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16);
}

describe('scrubber', () => {
  const parsed = parseExposition(WORKLOAD, 'text');
  const result = scrub(parsed, POLICY, KEY);
  const text = serialize(result.families, 'text');
  const om = serialize(result.families, 'openmetrics');

  it('lets allowed series through with kept labels and hashed values', () => {
    expect(text).toBe(
      [
        '# TYPE http_requests_total counter',
        `http_requests_total{method="GET",user_id="${hmac16(KEY, 'alice@example.com')}"} 10`,
        `http_requests_total{method="GET",user_id="${hmac16(KEY, 'bob@example.com')}"} 20`,
        `http_requests_total{method="POST",user_id="${hmac16(KEY, 'alice@example.com')}"} 30`,
        '# HELP http_request_duration_seconds Latency.',
        '# TYPE http_request_duration_seconds histogram',
        `http_request_duration_seconds_bucket{handler="/pay",tenant="${hmac16(KEY, 'acme-bank')}",le="0.1"} 1`,
        `http_request_duration_seconds_bucket{handler="/pay",tenant="${hmac16(KEY, 'acme-bank')}",le="+Inf"} 2`,
        `http_request_duration_seconds_sum{handler="/pay",tenant="${hmac16(KEY, 'acme-bank')}"} 0.3`,
        `http_request_duration_seconds_count{handler="/pay",tenant="${hmac16(KEY, 'acme-bank')}"} 2`,
        '# TYPE process_open_fds gauge',
        'process_open_fds 12',
        '# TYPE process_max_fds gauge',
        'process_max_fds 1024',
        '',
      ].join('\n'),
    );
  });

  it('never lets a dropped family, label, label value, help text or timestamp appear in the output', () => {
    for (const output of [text, om]) {
      for (const secret of ['revenue_eur_total', 'customer', 'acme-bank', 'alice', 'bob@example.com', 'session', 's-1', 'pod_ip', '10.0.0.7', 'secret_label', 'classified', 'Requests by user', '1700000000', '1234567']) {
        expect(output).not.toContain(secret);
      }
    }
  });

  it('counts what it kept and dropped', () => {
    expect(result.stats).toMatchObject({
      keptFamilies: 4,
      keptSeries: 6,
      keptSamples: 9,
      droppedFamilies: 1,
      droppedSeries: 1,
      droppedSeriesNotAllowed: 1,
      droppedLabels: 7,
      hashedValues: 4,
      droppedTimestamps: 3,
      droppedHelp: 1,
      droppedScrapes: 0,
    });
  });

  it('matches one rule against both spellings of a counter and prefers exact names over patterns', () => {
    const omBody = '# TYPE http_requests counter\nhttp_requests_total{method="GET",x="1"} 1\n# TYPE process_x gauge\nprocess_x{a="1"} 1\n# EOF\n';
    const policy = parseScrubPolicy({ families: [{ name: 'process_*', labels: { a: 'keep' } }, { name: 'process_x' }, { name: 'http_requests_total', labels: { method: 'keep' } }] }, 'p');
    const out = serialize(scrub(parseExposition(omBody, 'openmetrics'), policy, KEY).families, 'openmetrics');
    expect(out).toBe('# TYPE http_requests counter\nhttp_requests_total{method="GET"} 1\n# TYPE process_x gauge\nprocess_x 1\n# EOF\n');
  });

  it('hashes the same value to the same hash across runs and pods, and differently under another key', () => {
    const podA = 'logins_total{user="alice"} 1\n';
    const podB = 'logins_total{user="carol"} 5\nlogins_total{user="alice"} 9\n';
    const policy = parseScrubPolicy({ families: [{ name: 'logins_total', labels: { user: 'hash' } }] }, 'p');
    const a1 = scrub(parseExposition(podA, 'text'), policy, KEY).families[0]!.samples[0]!;
    const a2 = scrub(parseExposition(podA, 'text'), policy, createLabelHasher(KEY)).families[0]!.samples[0]!;
    const b = scrub(parseExposition(podB, 'text'), policy, Buffer.from(KEY)).families[0]!.samples[1]!;
    const other = scrub(parseExposition(podA, 'text'), policy, OTHER_KEY).families[0]!.samples[0]!;
    expect(labelValue(a1.labels, 'user')).toBe(hmac16(KEY, 'alice'));
    expect(labelValue(a2.labels, 'user')).toBe(labelValue(a1.labels, 'user'));
    expect(labelValue(b.labels, 'user')).toBe(labelValue(a1.labels, 'user'));
    expect(labelValue(other.labels, 'user')).not.toBe(labelValue(a1.labels, 'user'));
    expect(labelValue(other.labels, 'user')).toBe(hmac16(OTHER_KEY, 'alice'));
  });

  it('keeps the configured number of hex characters', () => {
    const policy = parseScrubPolicy({ families: [{ name: 'x', labels: { u: 'hash' } }], hashLength: 40 }, 'p');
    const s = scrub(parseExposition('x{u="v"} 1\n', 'text'), policy, KEY).families[0]!.samples[0]!;
    expect(labelValue(s.labels, 'u')).toBe(createHmac('sha256', KEY).update('v').digest('hex').slice(0, 40));
  });

  it('refuses a hash key shorter than 16 bytes, and a hasher whose length differs from the policy', () => {
    expectCode(() => scrub(parsed, POLICY, Buffer.alloc(8)), 'SP_CONFIG_INVALID');
    expectCode(() => scrub(parsed, POLICY, createLabelHasher(KEY, 32)), 'SP_CONFIG_INVALID');
  });

  it('matches a rule written with the OpenMetrics counter name against a text counter', () => {
    const policy = parseScrubPolicy({ families: [{ name: 'jobs', labels: { kind: 'keep' } }] }, 'p');
    const out = serialize(scrub(parseExposition('# TYPE jobs_total counter\njobs_total{kind="a",id="7"} 1\n', 'text'), policy, KEY).families, 'text');
    expect(out).toBe('# TYPE jobs_total counter\njobs_total{kind="a"} 1\n');
  });

  it('applies the same rule to a counter whichever format the workload chooses, and no rule to a family it does not name', () => {
    const OM = 'application/openmetrics-text; version=1.0.0';
    const TEXT = 'text/plain; version=0.0.4';
    const run = (policy: object, body: string, contentType: string): string => {
      const r = scrubScrape(Buffer.from(body), contentType, parseScrubPolicy(policy, 'p'), KEY);
      if (!r.ok) throw new Error(r.code);
      return serialize(r.families, 'text');
    };
    // Rules for both spellings of one counter: the sample name's rule, in both formats.
    const both = { families: [{ name: 'logins', labels: { user: 'hash' } }, { name: 'logins_total', labels: { user: 'keep' } }] };
    expect(run(both, '# TYPE logins counter\nlogins_total{user="alice"} 1\n# EOF\n', OM)).toBe('# TYPE logins_total counter\nlogins_total{user="alice"} 1\n');
    expect(run(both, '# TYPE logins_total counter\nlogins_total{user="alice"} 1\n', TEXT)).toBe('# TYPE logins_total counter\nlogins_total{user="alice"} 1\n');
    // One spelling's rule covers the counter in both formats.
    const one = { families: [{ name: 'logins', labels: { user: 'hash' } }] };
    const hashed = run(one, '# TYPE logins counter\nlogins_total{user="alice"} 1\n# EOF\n', OM);
    expect(hashed).not.toContain('alice');
    expect(run(one, '# TYPE logins_total counter\nlogins_total{user="alice"} 1\n', TEXT)).toBe(hashed);
    // A rule for `requests` does not admit the OpenMetrics counter `requests_total` (samples requests_total_total) ...
    expect(run({ families: [{ name: 'requests', labels: { path: 'keep' } }] }, '# TYPE requests gauge\nrequests{path="/a"} 1\n# TYPE requests_total counter\nrequests_total_total{path="/secret"} 7\n# EOF\n', OM)).toBe(
      '# TYPE requests gauge\nrequests{path="/a"} 1\n',
    );
    // ... and one for `errors_total` not the text counter `errors` (samples errors).
    expect(run({ families: [{ name: 'errors_total' }] }, '# TYPE errors counter\nerrors 3\n# TYPE errors_total gauge\nerrors_total 5\n', TEXT)).toBe('# TYPE errors_total gauge\nerrors_total 5\n');
  });

  it('drops every series of a set that collides once labels are dropped, and counts them', () => {
    const body = 'req_total{path="/a",user="1"} 1\nreq_total{path="/a",user="2"} 2\nreq_total{path="/b",user="3"} 3\n';
    const policy = parseScrubPolicy({ families: [{ name: 'req_total', labels: { path: 'keep' } }] }, 'p');
    const r = scrub(parseExposition(body, 'text'), policy, KEY);
    expect(serialize(r.families, 'text')).toBe('# TYPE req_total untyped\nreq_total{path="/b"} 3\n');
    expect(r.stats).toMatchObject({ keptSeries: 1, droppedSeriesCollision: 2, droppedSeries: 2 });
  });

  it('detects collisions whatever the label order of the colliding series', () => {
    const body = 'g{a="1",b="x"} 1\ng{b="x",a="1",c="2"} 2\n';
    const policy = parseScrubPolicy({ families: [{ name: 'g', labels: { a: 'keep', b: 'keep' } }] }, 'p');
    const r = scrub(parseExposition(body, 'text'), policy, KEY);
    expect(r.families).toEqual([]);
    expect(r.stats.droppedSeriesCollision).toBe(2);
  });

  it('tells series apart whose scrubbed sets share a fingerprint, and still finds the equal set behind them', () => {
    // The scrubber compares 32-bit fingerprints of scrubbed label sets before comparing the
    // sets themselves; today path="v332789" and path="v529192" share one.
    const body = 'req_total{path="v332789",user="1"} 1\nreq_total{path="v529192",user="2"} 2\nreq_total{path="v332789",user="3"} 3\n';
    const policy = parseScrubPolicy({ families: [{ name: 'req_total', labels: { path: 'keep' } }] }, 'p');
    const r = scrub(parseExposition(body, 'text'), policy, KEY);
    expect(serialize(r.families, 'text')).toBe('# TYPE req_total untyped\nreq_total{path="v529192"} 2\n');
    expect(r.stats).toMatchObject({ keptSeries: 1, droppedSeriesCollision: 2 });
    const two = scrub(parseExposition(body.split('\n').slice(0, 2).join('\n') + '\n', 'text'), policy, KEY);
    expect(two.stats).toMatchObject({ keptSeries: 2, droppedSeriesCollision: 0 });
  });

  it('keys a hand-built set that repeats a label name by its last value, as before', () => {
    const sample = (labels: string[], group: number) => ({ name: 'g', labels, value: String(group), timestampMs: undefined, exemplar: undefined, group });
    const family = { name: 'g', type: 'gauge' as const, help: undefined, unit: undefined, samples: [sample(['a', '1'], 0), sample(['a', '3', 'a', '1'], 1), sample(['a', '2'], 2)] };
    const r = scrub([family], parseScrubPolicy({ families: [{ name: 'g', labels: { a: 'keep' } }] }, 'p'), KEY);
    expect(r.families.map((f) => f.samples.map((s) => s.labels))).toEqual([[['a', '2']]]);
    expect(r.stats.droppedSeriesCollision).toBe(2);
  });

  it('keeps a histogram whole under a cap: buckets, sum and count of a series stay together', () => {
    const lines = ['# TYPE h histogram'];
    for (const t of ['a', 'b', 'c']) lines.push(`h_bucket{t="${t}",le="1"} 1`, `h_bucket{t="${t}",le="+Inf"} 2`, `h_sum{t="${t}"} 1`, `h_count{t="${t}"} 2`);
    const policy = parseScrubPolicy({ families: [{ name: 'h', labels: { t: 'keep' }, maxSeries: 2 }] }, 'p');
    const r = scrub(parseExposition(`${lines.join('\n')}\n`, 'text'), policy, KEY);
    const out = serialize(r.families, 'text');
    expect(out).toContain('t="a"');
    expect(out).toContain('t="b"');
    expect(out).not.toContain('t="c"');
    expect(r.stats).toMatchObject({ keptSeries: 2, keptSamples: 8, droppedSeriesFamilyCap: 1 });
    // The output is a valid histogram: it re-parses strictly.
    expect(parseExposition(out, 'text').sampleCount).toBe(8);
  });

  it('drops a stateset family whose state label the policy drops, counted as not allowed, and lets one out whose state label it hashes', () => {
    // Regression: a stateset whose state label (the label named like the family) the
    // policy dropped was rendered without it: OpenMetrics that our parser refuses
    // ("stateset sample without its state label") and Prometheus drops whole.
    const body = Buffer.from('# TYPE mode stateset\nmode{mode="primary",shard="1"} 1\nmode{mode="replica",shard="2"} 0\n# TYPE up gauge\nup 1\n# EOF\n');
    const om = 'application/openmetrics-text; version=1.0.0';
    for (const modeAction of ['drop', undefined]) {
      const policy = parseScrubPolicy({ families: [{ name: 'mode', labels: { shard: 'keep', ...(modeAction === undefined ? {} : { mode: modeAction }) } }, { name: 'up' }] }, 'p');
      const r = scrubScrape(body, om, policy, KEY);
      if (!r.ok) throw new Error(r.code);
      expect(r.families.map((f) => f.name)).toEqual(['up']);
      expect(r.stats).toMatchObject({ keptFamilies: 1, droppedFamilies: 1, droppedSeriesNotAllowed: 2, droppedSeries: 2, droppedLabels: 0 });
      for (const format of ['openmetrics', 'text'] as const) expect(serialize(r.families, format)).not.toContain('mode');
    }
    const hashed = scrubScrape(body, om, parseScrubPolicy({ families: [{ name: 'mode', labels: { mode: 'hash', shard: 'keep' } }, { name: 'up' }] }, 'p'), KEY);
    if (!hashed.ok) throw new Error(hashed.code);
    const out = serialize(hashed.families, 'openmetrics');
    expect(out).toBe(`# TYPE mode stateset\nmode{mode="${hmac16(KEY, 'primary')}",shard="1"} 1\nmode{mode="${hmac16(KEY, 'replica')}",shard="2"} 0\n# TYPE up gauge\nup 1\n# EOF\n`);
    expect(parseExposition(out, 'openmetrics').families[0]!.type).toBe('stateset');
    expect(hashed.stats).toMatchObject({ keptFamilies: 2, keptSeries: 3, hashedValues: 2, droppedFamilies: 0 });
  });

  it('applies the total cap deterministically in exposition order', () => {
    const body = 'a{i="1"} 1\na{i="2"} 1\nb{i="1"} 1\nb{i="2"} 1\n';
    const policy = parseScrubPolicy({ families: [{ name: 'a', labels: { i: 'keep' } }, { name: 'b', labels: { i: 'keep' } }], maxSeries: 3 }, 'p');
    const runs = [1, 2, 3].map(() => scrub(parseExposition(body, 'text'), policy, KEY));
    for (const r of runs) {
      expect(serialize(r.families, 'text')).toBe('# TYPE a untyped\na{i="1"} 1\na{i="2"} 1\n# TYPE b untyped\nb{i="1"} 1\n');
      expect(r.stats).toMatchObject({ keptSeries: 3, droppedSeriesTotalCap: 1 });
    }
  });

  it('drops exemplars always, _created unless allowed, and keeps timestamps only when asked', () => {
    const body = '# TYPE c counter\nc_total{a="1"} 3 1.5 # {trace_id="t-secret"} 1\nc_created{a="1"} 1.25\n# EOF\n';
    const strict = parseScrubPolicy({ families: [{ name: 'c', labels: { a: 'keep' } }] }, 'p');
    const r1 = scrub(parseExposition(body, 'openmetrics'), strict, KEY);
    const out1 = serialize(r1.families, 'openmetrics');
    expect(out1).toBe('# TYPE c counter\nc_total{a="1"} 3\n# EOF\n');
    expect(r1.stats).toMatchObject({ droppedExemplars: 1, droppedCreatedSamples: 1, droppedTimestamps: 1 });
    const loose = parseScrubPolicy({ families: [{ name: 'c', labels: { a: 'keep' }, created: true }], timestamps: 'keep' }, 'p');
    const out2 = serialize(scrub(parseExposition(body, 'openmetrics'), loose, KEY).families, 'openmetrics');
    expect(out2).toBe('# TYPE c counter\nc_total{a="1"} 3 1.5\nc_created{a="1"} 1.25\n# EOF\n');
    expect(out2).not.toContain('t-secret');
  });

  // Bug (review): prometheus_client (Python) writes a counter's, histogram's and summary's
  // _created samples in the text format as a gauge family x_created of their own, which a
  // pattern rule matched under its own name: `created: false` let them out of text
  // expositions (when each hashed user first logged in) and not out of OpenMetrics ones.
  it('treats a text _created gauge as the _created samples of the family its rule covers, in both formats alike', () => {
    const text = [
      '# TYPE app_logins_total counter',
      'app_logins_total{user="alice"} 3',
      '# TYPE app_logins_created gauge',
      'app_logins_created{user="alice"} 1.7e+09',
      '# TYPE app_latency histogram',
      'app_latency_bucket{user="alice",le="+Inf"} 1',
      'app_latency_count{user="alice"} 1',
      'app_latency_sum{user="alice"} 0.5',
      '# TYPE app_latency_created gauge',
      'app_latency_created{user="alice"} 1.6e+09',
      '',
    ].join('\n');
    const om = '# TYPE app_logins counter\napp_logins_total{user="alice"} 3\napp_logins_created{user="alice"} 1.7e+09\n# EOF\n';
    const pattern = parseScrubPolicy({ families: [{ name: 'app_*', labels: { user: 'hash' } }] }, 'p');
    const fromText = scrub(parseExposition(text, 'text'), pattern, KEY);
    const fromOm = scrub(parseExposition(om, 'openmetrics'), pattern, KEY);
    for (const [result, format] of [[fromText, 'text'], [fromOm, 'openmetrics']] as const) {
      const out = serialize(result.families, format);
      expect(out).not.toContain('_created');
      expect(out).not.toContain('e+09');
      expect(out).toContain('app_logins_total{user=');
    }
    expect(fromText.stats).toMatchObject({ droppedCreatedSamples: 2, droppedFamilies: 0, droppedSeriesNotAllowed: 0 });
    expect(fromOm.stats).toMatchObject({ droppedCreatedSamples: 1 });
    // created: true lets them out in both, with the counterpart's label rules (hashed, not raw).
    const allowed = parseScrubPolicy({ families: [{ name: 'app_*', labels: { user: 'hash' }, created: true }] }, 'p');
    const hashed = hmac16(KEY, 'alice');
    expect(serialize(scrub(parseExposition(text, 'text'), allowed, KEY).families, 'text')).toContain(`app_logins_created{user="${hashed}"} 1.7e+09`);
    expect(serialize(scrub(parseExposition(om, 'openmetrics'), allowed, KEY).families, 'openmetrics')).toContain(`app_logins_created{user="${hashed}"} 1.7e+09`);
    // An exact rule for the gauge's own name is the owner's explicit word.
    const exact = parseScrubPolicy({ families: [{ name: 'app_*', labels: { user: 'hash' } }, { name: 'app_logins_created' }] }, 'p');
    expect(serialize(scrub(parseExposition(text, 'text'), exact, KEY).families, 'text')).toContain('app_logins_created 1.7e+09');
    // Which family a text gauge x_created stands for cannot be told from the exposition (a
    // genuine gauge looks the same): under a rule that covers x it is withheld unless that
    // rule says created: true or an exact rule names it; a rule that covers only its own
    // name judges it as any gauge.
    const genuine = '# TYPE cache_entries_created gauge\ncache_entries_created 42\n';
    const covering = scrub(parseExposition(genuine, 'text'), parseScrubPolicy({ families: [{ name: 'cache_*' }] }, 'p'), KEY);
    expect(serialize(covering.families, 'text')).toBe('');
    expect(covering.stats).toMatchObject({ droppedCreatedSamples: 1 });
    const own = parseScrubPolicy({ families: [{ name: 'cache_entries_c*' }] }, 'p');
    expect(serialize(scrub(parseExposition(genuine, 'text'), own, KEY).families, 'text')).toBe(genuine);
  });

  it('drops the whole scrape on any doubt and counts it, never returning partial metrics', () => {
    const body = Buffer.from('ok_metric 1\nbroken{a="\\q"} 1\n');
    const outcome = scrubScrape(body, 'text/plain; version=0.0.4', POLICY, KEY);
    expect(outcome).toEqual({ ok: false, code: 'SP_METRICS_INVALID', detail: 'line 2: invalid escape sequence in a label value', stats: expect.objectContaining({ droppedScrapes: 1, keptSeries: 0 }) as unknown });
    expect(scrubScrape(Buffer.from('x 1\n'), 'application/json', POLICY, KEY)).toMatchObject({ ok: false, code: 'SP_METRICS_INVALID' });
    expect(scrubScrape(Buffer.from('process_open_fds 3\n'), 'text/plain; version=0.0.4; charset=utf-8', POLICY, KEY)).toMatchObject({
      ok: true,
      format: 'text',
      stats: { keptSeries: 1, droppedScrapes: 0 },
    });
  });

  it('treats a family with inconsistent series numbering as a doubt', () => {
    const family = { name: 'process_x', type: 'gauge' as const, help: undefined, unit: undefined, samples: [{ name: 'process_x', labels: [], value: '1', timestampMs: undefined, exemplar: undefined, group: -1 }] };
    expectCode(() => scrub([family], POLICY, KEY), 'SP_METRICS_INVALID');
  });
});

describe('HMAC-SHA-256 midstate implementation', () => {
  it('equals node:crypto createHmac on 2000 seeded random keys and messages (seed 99)', () => {
    const random = prng(99);
    const pieces = ['a', 'Z', '0', '-', ' ', '"', '\\', '\n', '\u0000', 'é', '€', '丁', '🐢'];
    for (let i = 0; i < 2000; i++) {
      const key = randomBytes(1 + Math.floor(random() * 150));
      let message = '';
      const length = Math.floor(random() * 160);
      for (let j = 0; j < length; j++) message += pieces[Math.floor(random() * pieces.length)]!;
      const hexChars = 1 + Math.floor(random() * 64);
      const expected = createHmac('sha256', key).update(message, 'utf8').digest('hex').slice(0, hexChars);
      const bytes = new TextEncoder().encode(message);
      const out = new Uint8Array(70).fill(0x2e);
      new HmacSha256(key).hexInto(bytes, 0, bytes.length, hexChars, out, 3);
      expect(Buffer.from(out).toString('latin1')).toBe(`...${expected}${'.'.repeat(67 - hexChars)}`);
    }
  });
});

describe('the hasher\'s cache of the previous scrape', () => {
  const hmac = (v: string): string => createHmac('sha256', KEY).update(v, 'utf8').digest('hex').slice(0, 16);

  it('gives every value its own HMAC whatever the previous scrapes held: same order, insertions, removals, changes, repeats', () => {
    const random = prng(5);
    const hasher = createLabelHasher(KEY, 16);
    let sequence = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    for (let scrape = 0; scrape < 40; scrape++) {
      hasher.beginScrape?.();
      for (const v of sequence) expect(hasher.hash(v), v).toBe(hmac(v));
      // The next scrape: mostly the same, with some series gone, new, changed or repeated.
      const next: string[] = [];
      for (const v of sequence) {
        const r = random();
        if (r < 0.03) continue;
        if (r < 0.06) next.push(`new-${scrape}-${next.length}`);
        if (r < 0.08) next.push(v, v);
        else next.push(r < 0.1 ? `${v}x` : v);
      }
      sequence = next;
    }
  });

  it('computes no HMAC for a scrape that repeats the previous one, and one per new value otherwise', () => {
    const hex = vi.spyOn(HmacSha256.prototype, 'hexInto');
    try {
      const hasher = createLabelHasher(KEY, 16);
      const values = Array.from({ length: 200 }, (_, i) => `tenant-${i}`);
      hasher.beginScrape?.();
      for (const v of values) hasher.hash(v);
      expect(hex).toHaveBeenCalledTimes(200);
      hex.mockClear();
      hasher.beginScrape?.();
      for (const v of values) hasher.hash(v);
      expect(hex).toHaveBeenCalledTimes(0);
      // One series gone, one new one in the middle: one HMAC (the new value) in all.
      hasher.beginScrape?.();
      for (const v of [...values.slice(0, 50), 'tenant-new', ...values.slice(51)]) hasher.hash(v);
      expect(hex).toHaveBeenCalledTimes(1);
    } finally {
      hex.mockRestore();
    }
  });

  it('remembers at most 4 MiB of values a scrape, and hashes the ones past it again (right) on the next scrape; bytes and strings share the cache', () => {
    const hex = vi.spyOn(HmacSha256.prototype, 'hexInto');
    try {
      const hasher = createLabelHasher(KEY, 16);
      // 1100 values of 4 KiB: 4.3 MiB, of which the first 1024 fit.
      const values = Array.from({ length: 1100 }, (_, i) => `${i}`.padEnd(4096, 'v'));
      hasher.beginScrape?.();
      for (const v of values) expect(hasher.hash(v)).toBe(hmac(v));
      expect(hex).toHaveBeenCalledTimes(1100);
      hex.mockClear();
      hasher.beginScrape?.();
      const out = new Uint8Array(20);
      for (const v of values) {
        const bytes = Buffer.from(`..${v}..`);
        hasher.hashInto!(bytes, 2, bytes.length - 2, out, 2);
        expect(Buffer.from(out.subarray(2, 18)).toString('latin1')).toBe(hmac(v));
      }
      expect(hex).toHaveBeenCalledTimes(1100 - 1024);
    } finally {
      hex.mockRestore();
    }
  });

  it('serves only the previous scrape, never the stale tail of the scrape before it (the two caches swap and are overwritten)', () => {
    const hex = vi.spyOn(HmacSha256.prototype, 'hexInto');
    try {
      const hasher = createLabelHasher(KEY, 16);
      const long = Array.from({ length: 200 }, (_, i) => `tenant-${i}`);
      const other = Array.from({ length: 50 }, (_, i) => `other-${i}`);
      for (const values of [long, other, long.slice(0, 50), long]) {
        hasher.beginScrape?.();
        for (const v of values) expect(hasher.hash(v)).toBe(hmac(v));
      }
      // The third scrape overwrote the first one's arrays up to 50 entries; the fourth
      // finds those 50 and must compute the other 150, whose first scrape's entries are
      // still in the arrays past the count.
      expect(hex).toHaveBeenCalledTimes(200 + 50 + 50 + 150);
    } finally {
      hex.mockRestore();
    }
  });

  it('works without scrape boundaries and keeps at most its bound of values', () => {
    const hasher = createLabelHasher(KEY, 16, 10);
    for (let i = 0; i < 50; i++) expect(hasher.hash(`v${i % 13}`)).toBe(hmac(`v${i % 13}`));
    hasher.beginScrape?.();
    for (let i = 0; i < 50; i++) expect(hasher.hash(`v${i % 13}`)).toBe(hmac(`v${i % 13}`));
  });
});
