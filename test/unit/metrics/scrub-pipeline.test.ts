import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { federate } from '../../../src/metrics/federate.ts';
import { createLabelHasher } from '../../../src/metrics/hash.ts';
import { type ExpositionFormat, labelValue } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrubScrapeToBuffer } from '../../../src/metrics/scrub-pipeline.ts';
import { scrubScrape } from '../../../src/metrics/scrub.ts';
import { serializeToBuffer } from '../../../src/metrics/serialize.ts';
import { mutateExposition, prng } from './helpers.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const CONTENT_TYPE: Record<ExpositionFormat, string> = { text: 'text/plain; version=0.0.4', openmetrics: 'application/openmetrics-text; version=1.0.0' };

const POLICIES = [
  { families: [{ name: '*', labels: { a: 'keep', b: 'hash', s: 'keep', st: 'keep' } }] },
  { families: [{ name: 'c', labels: { a: 'keep' }, created: true, help: true }, { name: 'h*', labels: { b: 'keep' }, maxSeries: 2 }, { name: 'x_total', labels: { a: 'hash' } }], timestamps: 'keep', maxSeries: 5 },
  // 8 hex characters and dropped labels: collisions happen.
  { families: [{ name: '*' }], labels: { a: 'hash', b: 'hash', c: 'drop' }, hashLength: 8, maxSeriesPerFamily: 3 },
  { families: [{ name: 'g?', labels: { a: 'keep' } }, { name: 'http_*', labels: { method: 'keep', user: 'hash' }, help: true }], labels: { b: 'keep' } },
].map((p, i) => parseScrubPolicy(p, `p${i}`));

/** The composed path the agent used before: scrubScrape, then serializeToBuffer. */
function composed(body: Buffer, input: ExpositionFormat, policy: (typeof POLICIES)[number], output: ExpositionFormat): unknown {
  const outcome = scrubScrape(body, CONTENT_TYPE[input], policy, createLabelHasher(KEY, policy.hashLength));
  if (!outcome.ok) return outcome;
  try {
    return { ok: true, format: outcome.format, body: serializeToBuffer(outcome.families, output).toString('utf8'), stats: outcome.stats };
  } catch (err) {
    return { ok: false, code: (err as { code: string }).code, detail: (err as { detail?: string }).detail, stats: expect.objectContaining({ droppedScrapes: 1 }) as unknown };
  }
}

function fused(body: Buffer, input: ExpositionFormat, policy: (typeof POLICIES)[number], output: ExpositionFormat): unknown {
  const outcome = scrubScrapeToBuffer(body, CONTENT_TYPE[input], policy, createLabelHasher(KEY, policy.hashLength), output);
  return outcome.ok ? { ...outcome, body: outcome.body.toString('utf8') } : outcome;
}

/** A seeded random exposition: every type of the format, label orders, escapes, timestamps, exemplars. */
function randomExposition(random: () => number, om: boolean, labelNames: readonly string[] = ['a', 'b', 'c', 'method', 'user', 's']): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const values = ['1', 'x', '', 'a b', 'é', '🐢', 'q\\"q', 'n\\nl', 'b\\\\s', 'GET', 'user-1', 'user-2'];
  const labelSet = (extra: string): string => {
    const pairs: string[] = [];
    const used = new Set<string>();
    for (let i = Math.floor(random() * 4); i > 0; i--) {
      const name = pick(labelNames);
      if (!used.has(name)) pairs.push(`${name}="${pick(values)}"`);
      used.add(name);
    }
    if (random() < 0.2) pairs.reverse();
    if (extra !== '') pairs.push(extra);
    return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
  };
  const lines: string[] = [];
  const used = new Set<string>();
  for (let f = 1 + Math.floor(random() * 6); f > 0; f--) {
    const family = pick(['c', 'g', 'h', 's', 'x_total', 'http_x', 'i', 'st', 'gh', 'u']);
    if (used.has(family)) continue;
    used.add(family);
    const type = pick(om ? ['counter', 'gauge', 'histogram', 'summary', 'info', 'stateset', 'gaugehistogram', 'unknown'] : ['counter', 'gauge', 'histogram', 'summary', 'untyped']);
    if (random() < 0.5) lines.push(`# HELP ${family} help ${pick(['text', 'with \\\\ slash', ''])}`);
    lines.push(`# TYPE ${family} ${type}`);
    const timestamp = (): string => (random() < 0.2 ? (om ? ' 1.5' : ' 1700000000000') : '');
    for (let series = 1 + Math.floor(random() * 4); series > 0; series--) {
      const base = labelSet('').slice(1, -1);
      const withLabel = (extra: string): string => (base === '' ? (extra === '' ? '' : `{${extra}}`) : `{${base}${extra === '' ? '' : `,${extra}`}}`);
      if (type === 'histogram' || type === 'gaugehistogram') {
        let count = 0;
        for (const le of ['0.1', '1', '+Inf']) {
          count += Math.floor(random() * 3);
          lines.push(`${family}_bucket${withLabel(`le="${le}"`)} ${count}${timestamp()}${om && random() < 0.2 ? ' # {t="1"} 0.5' : ''}`);
        }
        lines.push(type === 'histogram' ? `${family}_sum${withLabel('')} 2.5` : `${family}_gsum${withLabel('')} 2.5`);
        lines.push(type === 'histogram' ? `${family}_count${withLabel('')} ${count}` : `${family}_gcount${withLabel('')} ${count}`);
        if (om && type === 'histogram' && random() < 0.3) lines.push(`${family}_created${withLabel('')} 12.5`);
      } else if (type === 'summary') {
        for (const q of ['0.5', '0.9']) lines.push(`${family}${withLabel(`quantile="${q}"`)} ${pick(['1', '2', 'NaN'])}`);
        lines.push(`${family}_sum${withLabel('')} 1`, `${family}_count${withLabel('')} 2`);
      } else if (type === 'counter' && om) {
        lines.push(`${family}_total${withLabel('')} ${pick(['1', '2', '0'])}${timestamp()}${random() < 0.3 ? ' # {trace="abc"} 1' : ''}`);
        if (random() < 0.4) lines.push(`${family}_created${withLabel('')} 1.5`);
      } else if (type === 'info') {
        lines.push(`${family}_info${withLabel('')} 1`);
      } else if (type === 'stateset') {
        lines.push(`${family}${withLabel(`${family}="s${series}"`)} ${pick(['0', '1'])}`);
      } else {
        lines.push(`${family}${labelSet('')} ${pick(['0', '1', '2.5', '1e3', '-1', 'NaN', '+Inf', '-Inf'])}${timestamp()}`);
      }
    }
  }
  if (om) lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

describe('fused scrub pipeline', () => {
  it('gives the bytes and statistics of scrubScrape then serializeToBuffer on 600 seeded expositions (seed 4242)', () => {
    const random = prng(4242);
    const outcomes = { ok: 0, dropped: 0 };
    for (let i = 0; i < 600; i++) {
      const om = random() < 0.5;
      let text = randomExposition(random, om);
      // One in four gets a random edit, so that refusals are compared too.
      if (random() < 0.25) {
        const at = Math.floor(random() * text.length);
        text = text.slice(0, at) + ['{', '"', '\\', ' ', ',', '\n', 'le'][Math.floor(random() * 7)]! + text.slice(at + 1);
      }
      const body = Buffer.from(text);
      for (const input of ['text', 'openmetrics'] as const) {
        for (const policy of POLICIES) {
          for (const output of ['text', 'openmetrics'] as const) {
            const expected = composed(body, input, policy, output);
            expect(fused(body, input, policy, output)).toEqual(expected);
            if ((expected as { ok: boolean }).ok) outcomes.ok++;
            else outcomes.dropped++;
          }
        }
      }
    }
    // Both paths were exercised: kept metrics and dropped scrapes.
    expect(outcomes.ok).toBeGreaterThan(2000);
    expect(outcomes.dropped).toBeGreaterThan(2000);
  });

  it('renders what its own parser takes back in the same format, federated too, and equals the composed path, under 1000 seeded random policies over every type with keep, drop or hash on every label, structural ones included (seed 8128)', () => {
    // Regression: a stateset family whose state label (the label named like the family)
    // the policy dropped rendered OpenMetrics that our parser (and Prometheus) refuses.
    // The fixed policies above never checked that outputs re-parse.
    const random = prng(8128);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const familyNames = ['c', 'g', 'h', 's', 'x_total', 'http_x', 'i', 'st', 'gh', 'u'];
    // Every label the expositions use: ordinary ones, `pod` (which federation renames),
    // the structural le and quantile (also as ordinary labels of other types), and every
    // stateset's state label.
    const labelNames = ['a', 'b', 'method', 'user', 'pod', 'le', 'quantile', ...familyNames];
    const actions = (): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const name of labelNames) {
        const action = pick(['keep', 'drop', 'hash', undefined]);
        if (action !== undefined) out[name] = action;
      }
      return out;
    };
    const randomPolicy = (): (typeof POLICIES)[number] => {
      const families: object[] = [];
      for (const name of familyNames) {
        if (random() < 0.4) families.push({ name, labels: actions(), help: random() < 0.5, created: random() < 0.5, ...(random() < 0.2 ? { maxSeries: 1 } : {}) });
      }
      families.push({ name: pick(['*', '?', 'h*', 'x_*', 's?']) });
      return parseScrubPolicy(
        { families, labels: actions(), hashLength: pick([8, 16]), timestamps: pick(['keep', 'drop']), ...(random() < 0.2 ? { maxSeries: 3 } : {}) },
        'random',
      );
    };
    const counts = { ok: 0, dropped: 0, federated: 0 };
    /** Families that came out, by `format:type`. */
    const types = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const input: ExpositionFormat = random() < 0.6 ? 'openmetrics' : 'text';
      const body = Buffer.from(randomExposition(random, input === 'openmetrics', labelNames));
      const policy = randomPolicy();
      for (const output of ['text', 'openmetrics'] as const) {
        const expected = composed(body, input, policy, output) as { ok: boolean; body?: string };
        expect(fused(body, input, policy, output)).toEqual(expected);
        if (!expected.ok) {
          counts.dropped++;
          continue;
        }
        counts.ok++;
        const again = parseExposition(expected.body!, output);
        for (const f of again.families) types.set(`${output}:${f.type}`, (types.get(`${output}:${f.type}`) ?? 0) + 1);
        if (output !== 'openmetrics' || again.families.length === 0) continue;
        // What the proxy does with the agents' OpenMetrics: parse, federate, render.
        const merged = federate([
          { namespace: 'ns', pod: 'p0', families: again.families },
          { namespace: 'ns', pod: 'p1', families: again.families },
        ]);
        for (const format of ['text', 'openmetrics'] as const) parseExposition(serializeToBuffer(merged.families, format), format);
        counts.federated++;
      }
    }
    // Scrapes were kept and dropped, and every type of both formats came out.
    expect(counts.ok).toBeGreaterThan(500);
    expect(counts.dropped).toBeGreaterThan(200);
    expect(counts.federated).toBeGreaterThan(200);
    const omTypes = ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'];
    for (const key of [...omTypes.map((t) => `openmetrics:${t}`), ...['counter', 'gauge', 'histogram', 'summary', 'untyped'].map((t) => `text:${t}`)]) {
      expect(types.get(key) ?? 0, key).toBeGreaterThan(15);
    }
  });

  it('gives the same bytes for a large exposition with hashed, dropped and capped series', () => {
    const lines = ['# HELP http_requests_total Requests.', '# TYPE http_requests_total counter'];
    for (let i = 0; i < 3000; i++) lines.push(`http_requests_total{method="${['GET', 'POST'][i % 2]}",user="u-${i}",instance="i-${i % 7}"} ${i}`);
    lines.push('# TYPE http_x histogram');
    for (let h = 0; h < 200; h++) {
      lines.push(`http_x_bucket{b="t-${h}",le="1"} 1`, `http_x_bucket{b="t-${h}",le="+Inf"} 2`, `http_x_sum{b="t-${h}"} 1`, `http_x_count{b="t-${h}"} 2`);
    }
    const body = Buffer.from(`${lines.join('\n')}\n`);
    for (const policy of POLICIES) {
      for (const output of ['text', 'openmetrics'] as const) {
        const expected = composed(body, 'text', policy, output) as { ok: boolean };
        expect(expected.ok).toBe(true);
        expect(fused(body, 'text', policy, output)).toEqual(expected);
      }
    }
  });

  it('renders prometheus_client (Python) text output as valid OpenMetrics: its _created gauges become the families\' own _created samples', () => {
    // As prometheus_client writes the text format: a gauge x_created beside every counter, histogram and summary.
    const body = [
      '# HELP requests_total Requests.',
      '# TYPE requests_total counter',
      'requests_total{path="/a"} 3.0',
      '# HELP requests_created Requests.',
      '# TYPE requests_created gauge',
      'requests_created{path="/a"} 1.7e+09',
      '# HELP latency_seconds Latency.',
      '# TYPE latency_seconds histogram',
      'latency_seconds_bucket{path="/a",le="0.5"} 1.0',
      'latency_seconds_bucket{path="/a",le="+Inf"} 2.0',
      'latency_seconds_count{path="/a"} 2.0',
      'latency_seconds_sum{path="/a"} 0.7',
      'latency_seconds_bucket{path="/b",le="0.5"} 0.0',
      'latency_seconds_bucket{path="/b",le="+Inf"} 1.0',
      'latency_seconds_count{path="/b"} 1.0',
      'latency_seconds_sum{path="/b"} 0.9',
      '# HELP latency_seconds_created Latency.',
      '# TYPE latency_seconds_created gauge',
      'latency_seconds_created{path="/b"} 1.7e+09',
      'latency_seconds_created{path="/a"} 1.6e+09',
      '# HELP size_bytes Size.',
      '# TYPE size_bytes summary',
      'size_bytes_count 4.0',
      'size_bytes_sum 10.0',
      '# HELP size_bytes_created Size.',
      '# TYPE size_bytes_created gauge',
      'size_bytes_created 1.5e+09',
      '',
    ].join('\n');
    // created: true, or the _created gauges stay in the pod like OpenMetrics _created samples (scrub.test.ts).
    const policy = parseScrubPolicy({ families: [{ name: '*', labels: { path: 'keep' }, created: true }] }, 'p');
    const om = scrubScrapeToBuffer(Buffer.from(body), 'text/plain; version=0.0.4; charset=utf-8', policy, KEY, 'openmetrics');
    if (!om.ok) throw new Error(om.code);
    const parsed = parseExposition(om.body, 'openmetrics');
    expect(parsed.families.map((f) => `${f.name}:${f.type}`)).toEqual(['requests_total:unknown', 'requests_created:gauge', 'latency_seconds:histogram', 'size_bytes:summary']);
    const created = parsed.families[2]!.samples.filter((s) => s.name === 'latency_seconds_created').map((s) => `${labelValue(s.labels, 'path')}=${s.value}`);
    expect(created).toEqual(['/a=1.6e+09', '/b=1.7e+09']);
    expect(parsed.families[3]!.samples.map((s) => s.name)).toEqual(['size_bytes_count', 'size_bytes_sum', 'size_bytes_created']);
    // Composed the same; and the text rendering is left as it was.
    const composed = scrubScrape(Buffer.from(body), 'text/plain', policy, KEY);
    if (!composed.ok) throw new Error(composed.code);
    expect(serializeToBuffer(composed.families, 'openmetrics').equals(om.body)).toBe(true);
    const text = scrubScrapeToBuffer(Buffer.from(body), 'text/plain', policy, KEY, 'text');
    expect(text.ok && text.body.toString()).toBe(body.replace(/^# HELP.*\n/gm, ''));
    // The created sample takes the series' label order, whatever the gauge's.
    const reordered = '# TYPE h histogram\nh_bucket{a="1",b="2",le="+Inf"} 1\nh_count{a="1",b="2"} 1\nh_sum{a="1",b="2"} 1\n# TYPE h_created gauge\nh_created{b="2",a="1"} 5\n';
    const all = parseScrubPolicy({ families: [{ name: 'h*', labels: { a: 'keep', b: 'keep' }, created: true }] }, 'p');
    const folded = scrubScrapeToBuffer(Buffer.from(reordered), 'text/plain', all, KEY, 'openmetrics');
    if (!folded.ok) throw new Error(folded.code);
    expect(folded.body.toString()).toContain('h_created{a="1",b="2"} 5\n');
    expect(parseExposition(folded.body, 'openmetrics').families[0]!.samples.map((x) => x.name)).toEqual(['h_bucket', 'h_count', 'h_sum', 'h_created']);
    const composedFolded = scrubScrape(Buffer.from(reordered), 'text/plain', all, KEY);
    expect(composedFolded.ok && serializeToBuffer(composedFolded.families, 'openmetrics').equals(folded.body)).toBe(true);
    // A created gauge that does not pair up with the series is not folded: the clash still drops the scrape.
    const stray = body.replace('latency_seconds_created{path="/a"}', 'latency_seconds_created{path="/c"}');
    expect(scrubScrapeToBuffer(Buffer.from(stray), 'text/plain', policy, KEY, 'openmetrics').ok).toBe(false);
  });

  it('drops the whole scrape with the composed path’s code: bad body, unknown content type, short key, hasher of another length', () => {
    const policy = POLICIES[0]!;
    const bad = Buffer.from('ok 1\nbroken{a="\\q"} 1\n');
    expect(scrubScrapeToBuffer(bad, CONTENT_TYPE.text, policy, KEY, 'text')).toEqual({ ok: false, code: 'SP_METRICS_INVALID', detail: 'line 2: invalid escape sequence in a label value', stats: expect.objectContaining({ droppedScrapes: 1, keptSeries: 0 }) as unknown });
    expect(scrubScrapeToBuffer(Buffer.from('x 1\n'), 'application/json', policy, KEY, 'text')).toMatchObject({ ok: false, code: 'SP_METRICS_INVALID' });
    expect(scrubScrapeToBuffer(Buffer.from('x 1\n'), CONTENT_TYPE.text, policy, Buffer.alloc(8), 'text')).toMatchObject({ ok: false, code: 'SP_CONFIG_INVALID' });
    expect(scrubScrapeToBuffer(Buffer.from('x 1\n'), CONTENT_TYPE.text, policy, createLabelHasher(KEY, 32), 'text')).toMatchObject({ ok: false, code: 'SP_CONFIG_INVALID' });
    // A parse doubt is reported before a bad key, as scrubScrape does.
    expect(scrubScrapeToBuffer(bad, CONTENT_TYPE.text, policy, Buffer.alloc(8), 'text')).toMatchObject({ ok: false, code: 'SP_METRICS_INVALID' });
    expect(scrubScrapeToBuffer(Buffer.from('x 1\n'), CONTENT_TYPE.text, policy, KEY, 'text', { maxBytes: 2 })).toMatchObject({ ok: false, code: 'SP_METRICS_TOO_LARGE' });
  });
});

/**
 * Every reason the scrub path can give, as written in src/metrics: each string literal
 * there, with an interpolation standing for one of the fixed words the code puts in one
 * (`le`/`quantile`, `sample value`/`exemplar value`, TYPE/HELP/UNIT, a number).
 */
function sourceReasons(): RegExp[] {
  const dir = fileURLToPath(new URL('../../../src/metrics/', import.meta.url));
  const literals = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`/g)) literals.add((m[1] ?? m[2] ?? m[3]!).replace(/\\(['"])/g, '$1'));
  }
  const word = '(?:le|quantile|sample value|exemplar value|TYPE|HELP|UNIT|[0-9]+)';
  return [...literals].map((l) => new RegExp(`^(?:cannot render )?${l.split(/\$\{[^}]*\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(word)}$`));
}

describe('a dropped scrape\'s detail', () => {
  // Regression (SRE review, finding 3): a dropped scrape kept only its code, so nobody could
  // learn why without reproducing the exposition outside the TEE. The detail now travels
  // to the agent's log, the channel, the proxy's log and the Status: it must never carry
  // input bytes.
  it('names the line and the parser\'s reason for a histogram without +Inf and for too many series', () => {
    const policy = POLICIES[0]!;
    const noInf = Buffer.from('# TYPE g gauge\ng{a="cnry-a"} 1\n# TYPE h histogram\nh_bucket{a="cnry-b",le="1"} 1\nh_sum{a="cnry-b"} 1\nh_count{a="cnry-b"} 1\n');
    expect(scrubScrapeToBuffer(noInf, CONTENT_TYPE.text, policy, KEY, 'text')).toMatchObject({ ok: false, code: 'SP_METRICS_INVALID', detail: 'line 6: histogram without a +Inf bucket' });
    expect(scrubScrape(noInf, CONTENT_TYPE.text, policy, KEY)).toMatchObject({ ok: false, code: 'SP_METRICS_INVALID', detail: 'line 6: histogram without a +Inf bucket' });
    const many = Buffer.from('# TYPE g gauge\ng{a="cnry-1"} 1\ng{a="cnry-2"} 1\ng{a="cnry-3"} 1\n');
    expect(scrubScrapeToBuffer(many, CONTENT_TYPE.text, policy, KEY, 'text', { maxSeries: 2 })).toMatchObject({ ok: false, code: 'SP_METRICS_TOO_LARGE', detail: 'line 4: more series than the limit' });
  });

  it('is a line number and a reason written in src/metrics, never input bytes, on 3000 seeded mutations of expositions whose every name and value is a canary (seed 3303)', () => {
    const reasons = sourceReasons();
    const canary = 'cnry';
    const seeds: [ExpositionFormat, string][] = [
      ['text', `# HELP ${canary}_c_total Help ${canary}.\n# TYPE ${canary}_c_total counter\n${canary}_c_total{${canary}_l="${canary}-v1",a="${canary}-v2"} 271828\n# TYPE ${canary}_h histogram\n${canary}_h_bucket{${canary}_l="${canary}-v3",le="1"} 271828\n${canary}_h_bucket{${canary}_l="${canary}-v3",le="+Inf"} 271828\n${canary}_h_sum{${canary}_l="${canary}-v3"} 271828\n${canary}_h_count{${canary}_l="${canary}-v3"} 271828\n# TYPE ${canary}_s summary\n${canary}_s{quantile="0.5"} 271828\n${canary}_s_sum 271828\n${canary}_s_count 271828\n`],
      ['openmetrics', `# TYPE ${canary}_c counter\n# HELP ${canary}_c Help ${canary}.\n${canary}_c_total{${canary}_l="${canary}-v1"} 271828 # {${canary}_t="${canary}-x"} 271828\n# TYPE ${canary}_h_seconds histogram\n# UNIT ${canary}_h_seconds seconds\n${canary}_h_seconds_bucket{le="1"} 271828\n${canary}_h_seconds_bucket{le="+Inf"} 271828\n${canary}_h_seconds_count 271828\n${canary}_h_seconds_sum 271828\n# TYPE ${canary}_st stateset\n${canary}_st{${canary}_st="${canary}-s"} 1\n# TYPE ${canary}_i info\n${canary}_i_info{${canary}_l="${canary}-i"} 1\n# EOF\n`],
    ];
    const alphabet = ['{', '}', '"', '\\', '\n', ' ', '\t', '#', '=', ',', '_', 'a', '1', '.', 'e', '+', '-', 'I', 'n', 'f', '\u0000', 'é', '# EOF\n', 'le', '_total', '_bucket', canary, '271828'];
    const random = prng(3303);
    let dropped = 0;
    for (let iteration = 0; iteration < 3000; iteration++) {
      const [format, seed] = seeds[iteration % seeds.length]!;
      const body = mutateExposition(seed, random, alphabet);
      const limits = random() < 0.1 ? { maxSeries: 3, maxFamilies: 2, maxNameLength: 12 } : undefined;
      const outcome = scrubScrapeToBuffer(Buffer.from(body), CONTENT_TYPE[format], POLICIES[iteration % POLICIES.length]!, KEY, format, limits);
      if (outcome.ok) continue;
      dropped++;
      const detail = outcome.detail ?? '';
      expect(detail).not.toContain(canary);
      expect(detail).not.toContain('271828');
      const reason = detail.replace(/^line [0-9]+: /, '');
      expect(reasons.some((r) => r.test(reason)), detail).toBe(true);
    }
    expect(dropped).toBeGreaterThan(1000);
  });
});
