import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import type { ExpositionFormat } from '../../../src/metrics/model.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { DEFAULT_PARSE_LIMITS } from '../../../src/metrics/parse-limits.ts';
import { parseScrubPolicy } from '../../../src/metrics/policy.ts';
import { scrub } from '../../../src/metrics/scrub.ts';
import { serialize } from '../../../src/metrics/serialize.ts';
import { expectCode, mutateExposition, prng } from './helpers.ts';

const MiB = 1024 * 1024;

describe('hostile metrics input', () => {
  it('refuses a body over 10 MiB from its size alone, before decoding', () => {
    // Invalid UTF-8 everywhere: a decode would fail with SP_METRICS_INVALID instead.
    const body = Buffer.alloc(DEFAULT_PARSE_LIMITS.maxBytes + 1, 0xff);
    const started = performance.now();
    expectCode(() => parseExposition(body, 'text'), 'SP_METRICS_TOO_LARGE');
    expect(performance.now() - started).toBeLessThan(200);
    expectCode(() => parseExposition('x'.repeat(DEFAULT_PARSE_LIMITS.maxBytes + 1), 'openmetrics'), 'SP_METRICS_TOO_LARGE');
  });

  it('parses a valid body of almost 10 MiB', () => {
    const line = 'big_family{handler="/api/v1/things",method="GET",instance="i-0123456789"} 123456.789\n';
    const count = Math.floor((10 * MiB - 100) / (line.length + 8));
    const parts = ['# TYPE big_family gauge\n'];
    for (let i = 0; i < count; i++) parts.push(line.replace('GET', `G${i}`));
    const body = Buffer.from(parts.join(''));
    expect(body.length).toBeLessThanOrEqual(10 * MiB);
    expect(body.length).toBeGreaterThan(9 * MiB);
    const parsed = parseExposition(body, 'text');
    expect(parsed.sampleCount).toBe(count);
  });

  it('refuses more labels than the limit on one series', () => {
    const labels = Array.from({ length: DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1 }, (_, i) => `l${i}="v"`).join(',');
    expectCode(() => parseExposition(`foo{${labels}} 1\n`, 'text'), 'SP_METRICS_TOO_LARGE');
  });

  it.each([
    ['a long label value', `foo{a="${'v'.repeat(DEFAULT_PARSE_LIMITS.maxLabelValueLength + 1)}"} 1\n`],
    ['a long escaped label value', `foo{a="${'\\\\'.repeat(DEFAULT_PARSE_LIMITS.maxLabelValueLength + 1)}"} 1\n`],
    ['a long label name', `foo{${'a'.repeat(DEFAULT_PARSE_LIMITS.maxLabelNameLength + 1)}="v"} 1\n`],
    ['a long metric name', `${'m'.repeat(DEFAULT_PARSE_LIMITS.maxNameLength + 1)} 1\n`],
    ['a long line', `foo ${'1'.repeat(DEFAULT_PARSE_LIMITS.maxLineLength + 1)}\n`],
  ])('refuses %s', (_name, body) => {
    expectCode(() => parseExposition(body, 'text'), 'SP_METRICS_TOO_LARGE');
  });

  it('refuses a 5 MB line without a line feed', () => {
    expectCode(() => parseExposition('a'.repeat(5 * MiB), 'openmetrics'), 'SP_METRICS_TOO_LARGE');
    // The text format checks the final line feed first: the body is refused either way.
    expectCode(() => parseExposition('a'.repeat(5 * MiB), 'text'), 'SP_METRICS_INVALID');
  });

  it('refuses more families or series than the configured limits', () => {
    expectCode(() => parseExposition('a 1\nb 1\nc 1\n', 'text', { maxFamilies: 2 }), 'SP_METRICS_TOO_LARGE');
    expectCode(() => parseExposition('a{x="1"} 1\na{x="2"} 1\na{x="3"} 1\n', 'text', { maxSeries: 2 }), 'SP_METRICS_TOO_LARGE');
    expectCode(() => parseExposition('a 1\n', 'text', { maxSeries: 0 }), 'SP_CONFIG_INVALID');
  });

  it('stays linear on deeply repetitive input', () => {
    const started = performance.now();
    // Many lines without a closing quote would each scan to the end if the search were unbounded.
    expectCode(() => parseExposition(`foo{a="${'x'.repeat(60_000)}\n`.repeat(100), 'text'), 'SP_METRICS_INVALID');
    // 1 MB of escapes, valid, in lines of bounded length.
    const escapes = `foo{a="${'\\\\\\n\\"'.repeat(500)}",b="$"} 1\n`;
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(escapes.replace('$', String(i)));
    expect(parseExposition(lines.join(''), 'text').sampleCount).toBe(300);
    // 100,000 identical-looking lines that only differ at the end.
    const many: string[] = [];
    for (let i = 0; i < 100_000; i++) many.push(`foo{a="same",b="${i}"} 1\n`);
    expect(parseExposition(many.join(''), 'text').sampleCount).toBe(100_000);
    // A duplicate at the very end of a repetitive body is still found.
    many.push('foo{a="same",b="7"} 1\n');
    expectCode(() => parseExposition(many.join(''), 'text'), 'SP_METRICS_INVALID');
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  // Duplicate series and scrub collisions are found through 32-bit fingerprints of label
  // sets. The fingerprint is not keyed, so label values (request paths, user names) can be
  // chosen to collide: "v332789" and "v529192" hash alike, and k labels taking either value
  // give 2^k different sets with one fingerprint. Comparing each new set with every
  // earlier one would be quadratic (4,096 series: about 40 s to parse; 16,384: about 4 s
  // to scrub); both fall back to string keys instead.
  const collidingLines = (bits: number, extra: (i: number) => string): string[] => {
    const lines: string[] = [];
    for (let i = 0; i < 1 << bits; i++) {
      const pairs: string[] = [];
      for (let b = 0; b < bits; b++) pairs.push(`l${b}="${(i >> b) & 1 ? 'v529192' : 'v332789'}"`);
      lines.push(`x{${pairs.join(',')}${extra(i)}} ${i}`);
    }
    return lines;
  };

  it('stays linear on 4,096 series whose label sets share one fingerprint, and still finds a duplicate', () => {
    const lines = collidingLines(12, () => '');
    const started = performance.now();
    expect(parseExposition(`${lines.join('\n')}\n`, 'text').sampleCount).toBe(4096);
    expectCode(() => parseExposition(`${lines.join('\n')}\n${lines[1234]!}\n`, 'text'), 'SP_METRICS_INVALID');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('stays linear when many families exhaust their fingerprint budget ahead of megabytes of text (rereads stay within their line)', () => {
    // 400 families of 32 series whose sets share a fingerprint (each family rereads
    // earlier lines ~280 times), then 8 MB of comments. A reread that searched ahead to
    // the end of the body for a backslash made this quadratic: ~15 s; now well under 1 s.
    const lines: string[] = [];
    for (let f = 0; f < 400; f++) for (const line of collidingLines(5, () => '')) lines.push(line.replace(/^x\{/, `x${f}{`));
    const pad = `# ${'p'.repeat(60_000)}\n`.repeat(140);
    const body = `${lines.join('\n')}\n${pad}`;
    const started = performance.now();
    expect(parseExposition(body, 'text').sampleCount).toBe(400 * 32);
    expect(performance.now() - started).toBeLessThan(8000);
  });

  it('refuses an le or quantile that overflows float64 or is longer than a sample value may be', () => {
    const histogram = (le: string) => `# TYPE h histogram\nh_bucket{le="${le}"} 1\nh_count 1\nh_sum 1\n`;
    expect(parseExposition(histogram('+Inf'), 'text').sampleCount).toBe(3);
    expectCode(() => parseExposition(histogram('1e999'), 'text'), 'SP_METRICS_INVALID');
    expectCode(() => parseExposition(`# TYPE h histogram\nh_bucket{le="1${'0'.repeat(80)}"} 1\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n`, 'text'), 'SP_METRICS_INVALID');
    expectCode(() => parseExposition(`# TYPE s summary\ns{quantile="0.${'5'.repeat(80)}"} 1\n`, 'text'), 'SP_METRICS_INVALID');
  });

  it('checks a summary with 200,000 quantiles in one series in linear time', () => {
    const parts = ['# TYPE s summary\n'];
    for (let i = 0; i < 200_000; i++) parts.push(`s{quantile="${(i / 200_000).toFixed(7)}"} 1\n`);
    parts.push('s_sum 1\ns_count 1\n');
    const started = performance.now();
    expect(parseExposition(parts.join(''), 'text', { maxSeries: 250_000 }).sampleCount).toBe(200_002);
    // A list search per quantile took ~10 s here.
    expect(performance.now() - started).toBeLessThan(5000);
    expectCode(() => parseExposition('# TYPE s summary\ns{quantile="0.5"} 1\ns{quantile="0.50"} 2\n', 'text'), 'SP_METRICS_INVALID');
  });

  it('scrubs 16,384 series whose scrubbed sets share one fingerprint in linear time, and still finds a collision', () => {
    const labels = Object.fromEntries(Array.from({ length: 14 }, (_, b) => [`l${b}`, 'keep']));
    const policy = parseScrubPolicy({ families: [{ name: 'x', labels }], maxSeriesPerFamily: 100_000, maxSeries: 100_000 }, 'p');
    // A dropped label makes every input series distinct; scrubbed, the sets share a fingerprint.
    const lines = collidingLines(14, (i) => `,u="${i}"`);
    const parsed = parseExposition(`${lines.join('\n')}\n`, 'text');
    const withTwin = parseExposition(`${lines.join('\n')}\n${lines[1234]!.replace('u="1234"', 'u="twin"')}\n`, 'text');
    const started = performance.now();
    expect(scrub(parsed, policy, Buffer.alloc(32, 1)).stats).toMatchObject({ keptSeries: 16_384, droppedSeriesCollision: 0 });
    expect(scrub(withTwin, policy, Buffer.alloc(32, 1)).stats).toMatchObject({ keptSeries: 16_383, droppedSeriesCollision: 2 });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  const seeds: Array<[ExpositionFormat, string]> = [
    [
      'text',
      '# HELP http_requests_total Total.\n# TYPE http_requests_total counter\nhttp_requests_total{method="post",code="200"} 1027 1395066363000\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 1\ns_count 1\nweird{path="C:\\\\x",msg="a\\n\\"b\\""} -Inf\n',
    ],
    [
      'openmetrics',
      '# TYPE c counter\n# HELP c A \\"counter\\".\nc_total{a="1"} 3 # {trace="x"} 1 1.5\nc_created{a="1"} 1.5\n# TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_count 2\nh_seconds_sum 1.5\n# TYPE s stateset\ns{s="a"} 1\n# TYPE i info\ni_info{v="1"} 1\n# EOF\n',
    ],
  ];
  const alphabet = ['{', '}', '"', '\\', '\n', ' ', '\t', '#', '=', ',', '_', 'a', '1', '.', 'e', '+', '-', 'I', 'n', 'f', '\u0000', 'é', '🐢', '# EOF\n', 'le', '_total', '_bucket'];

  it('never crashes, hangs or mis-round-trips on 3000 seeded mutations (seed 20240611)', () => {
    const random = prng(20240611);
    const started = performance.now();
    let accepted = 0;
    let refused = 0;
    for (let iteration = 0; iteration < 3000; iteration++) {
      const [format, seed] = seeds[iteration % seeds.length]!;
      const body = mutateExposition(seed, random, alphabet);
      let parsed;
      try {
        parsed = parseExposition(body, format);
      } catch (err) {
        if (!isShadowplaneError(err) || (err.code !== 'SP_METRICS_INVALID' && err.code !== 'SP_METRICS_TOO_LARGE')) throw err;
        refused++;
        continue;
      }
      accepted++;
      // Whatever is accepted serializes to something the same parser accepts, with the same content.
      const again = parseExposition(serialize(parsed.families, format), format);
      expect(again.families).toEqual(parsed.families);
    }
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(500);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('never crashes on 2000 seeded random byte strings (seed 7)', () => {
    const random = prng(7);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = random() < 0.7 ? 32 + Math.floor(random() * 95) : Math.floor(random() * 256);
      for (const format of ['text', 'openmetrics'] as const) {
        try {
          parseExposition(bytes, format);
        } catch (err) {
          if (!isShadowplaneError(err)) throw err;
          expect(['SP_METRICS_INVALID', 'SP_METRICS_TOO_LARGE']).toContain(err.code);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(3000);
  });
});
