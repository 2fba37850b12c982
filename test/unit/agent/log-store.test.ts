import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LogStore } from '../../../src/agent/log-store.ts';
import { LogFile, readPreviousLogs } from '../../../src/agent/log-file.ts';
import { StaticLogSource, writeLogs, type LogQuery, type LogSource } from '../../../src/agent/log-query.ts';
import { formatRfc3339NanoFixed } from '../../../src/agent/log-time.ts';
import type { LogStream } from '../../../src/agent/log-block.ts';
import { silentLogger } from '../../../src/log.ts';

const T0 = 1_700_000_000_000_000_000n; // 2023-11-14T22:13:20Z
const SECOND = 1_000_000_000n;
const ALL: ReadonlySet<LogStream> = new Set(['stdout', 'stderr']);

function fakeClock(): { now: () => bigint; advance: (ns: bigint) => void } {
  let t = T0;
  return { now: () => t, advance: (ns) => (t += ns) };
}

function newStore(options: { memoryBytes?: number; maxLineBytes?: number } = {}) {
  const clock = fakeClock();
  const store = new LogStore({ memoryBytes: options.memoryBytes ?? 1 << 20, maxLineBytes: options.maxLineBytes ?? 16 * 1024, clock: clock.now });
  return { store, clock };
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  constructor(highWaterMark = 16 * 1024) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

async function query(source: LogSource, q: Partial<LogQuery> = {}): Promise<string> {
  const sink = new Collect();
  await writeLogs(source, { follow: false, timestamps: false, streams: ALL, ...q }, sink, new AbortController().signal);
  return sink.text();
}

describe('log store: lines', () => {
  it('keeps a line without newline until its newline arrives', async () => {
    const { store } = newStore();
    store.append('stdout', Buffer.from('hel'));
    expect(await query(store)).toBe('');
    store.append('stdout', Buffer.from('lo\nwor'));
    expect(await query(store)).toBe('hello\n');
    store.append('stdout', Buffer.from('ld\n'));
    expect(await query(store)).toBe('hello\nworld\n');
  });

  it('turns a held line into a full line with a newline when the stream ends', async () => {
    const { store } = newStore();
    store.append('stderr', Buffer.from('no newline at exit'));
    store.endStream('stderr');
    expect(await query(store)).toBe('no newline at exit\n');
    expect(store.nextSeq).toBe(1);
  });

  it('keeps stdout and stderr partial lines apart', async () => {
    const { store } = newStore();
    store.append('stdout', Buffer.from('out-'));
    store.append('stderr', Buffer.from('err-'));
    store.append('stdout', Buffer.from('done\n'));
    store.append('stderr', Buffer.from('done\n'));
    expect(await query(store)).toBe('out-done\nerr-done\n');
    expect(await query(store, { streams: new Set(['stderr']) })).toBe('err-done\n');
  });

  it('splits a line longer than the limit into partial pieces that a reader sees as the original line', async () => {
    const { store } = newStore({ maxLineBytes: 10 });
    const long = 'abcdefghij'.repeat(3) + 'xyz';
    store.append('stdout', Buffer.from(`${long}\nshort\n`));
    expect(store.nextSeq).toBe(5); // 3 pieces of 10, the final piece "xyz", "short"
    expect(await query(store)).toBe(`${long}\nshort\n`);
    expect(await query(store, { tailLines: 2 })).toBe('xyz\nshort\n');
  });

  it('splits a long line that arrives without newline across several chunks', async () => {
    const { store } = newStore({ maxLineBytes: 8 });
    store.append('stdout', Buffer.from('12345'));
    store.append('stdout', Buffer.from('67890'));
    expect(store.nextSeq).toBe(1); // one partial piece of 8 bytes emitted
    expect(await query(store)).toBe('12345678');
    store.append('stdout', Buffer.from('\n'));
    expect(await query(store)).toBe('1234567890\n');
  });

  it('prefixes every partial piece with its timestamp and gives only the final piece a newline', async () => {
    const { store } = newStore({ maxLineBytes: 4 });
    store.append('stdout', Buffer.from('abcdefg\n'));
    const ts = formatRfc3339NanoFixed(T0);
    expect(await query(store, { timestamps: true })).toBe(`${ts} abcd${ts} efg\n`);
  });

  it('drops the oldest lines past its memory bound and always keeps the newest block', async () => {
    const { store } = newStore({ memoryBytes: 2000 });
    for (let i = 0; i < 100; i++) store.append('stdout', Buffer.from(`line-${String(i).padStart(3, '0')}-${'x'.repeat(40)}\n`));
    const out = await query(store);
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.length).toBeLessThan(40);
    expect(lines.at(-1)).toContain('line-099');
    expect(store.firstSeq).toBe(100 - lines.length);
    const { store: tiny } = newStore({ memoryBytes: 1 });
    tiny.append('stdout', Buffer.from('only the newest\n'));
    tiny.append('stdout', Buffer.from('newest\n'));
    expect(await query(tiny)).toBe('newest\n');
  });

  it('stays cheap when a workload floods short lines', async () => {
    const { store } = newStore({ memoryBytes: 16 << 20 });
    const chunk = Buffer.from('y\n'.repeat(32 * 1024));
    const started = performance.now();
    for (let i = 0; i < 400; i++) store.append('stdout', chunk); // 25 MiB, 13M lines
    const elapsed = performance.now() - started;
    expect(store.nextSeq).toBe(400 * 32 * 1024);
    expect(elapsed).toBeLessThan(5000);
    expect(await query(store, { tailLines: 2 })).toBe('y\ny\n');
  });
});

describe('log store: queries', () => {
  function threeSeconds() {
    const { store, clock } = newStore();
    store.append('stdout', Buffer.from('a1\na2\n'));
    clock.advance(SECOND);
    store.append('stderr', Buffer.from('b1\n'));
    clock.advance(SECOND);
    store.append('stdout', Buffer.from('c1\nc2\n'));
    return store;
  }

  it('returns the last tailLines lines, nothing for 0 and everything when there are fewer', async () => {
    const store = threeSeconds();
    expect(await query(store, { tailLines: 2 })).toBe('c1\nc2\n');
    expect(await query(store, { tailLines: 3 })).toBe('b1\nc1\nc2\n');
    expect(await query(store, { tailLines: 4 })).toBe('a2\nb1\nc1\nc2\n');
    expect(await query(store, { tailLines: 0 })).toBe('');
    expect(await query(store, { tailLines: 1000 })).toBe('a1\na2\nb1\nc1\nc2\n');
  });

  it('skips lines stamped before since, keeping lines stamped exactly at it', async () => {
    const store = threeSeconds();
    expect(await query(store, { sinceNs: T0 + SECOND })).toBe('b1\nc1\nc2\n');
    expect(await query(store, { sinceNs: T0 + SECOND + 1n })).toBe('c1\nc2\n');
    expect(await query(store, { sinceNs: T0 + 10n * SECOND })).toBe('');
  });

  it('applies the tail first and since second, as the kubelet does', async () => {
    const store = threeSeconds();
    expect(await query(store, { tailLines: 4, sinceNs: T0 + 2n * SECOND })).toBe('c1\nc2\n');
  });

  it('counts the tail within the selected stream', async () => {
    const store = threeSeconds();
    expect(await query(store, { tailLines: 3, streams: new Set(['stdout']) })).toBe('a2\nc1\nc2\n');
    expect(await query(store, { streams: new Set(['stderr']) })).toBe('b1\n');
  });

  it('prints RFC 3339 timestamps with nine fraction digits and a space', async () => {
    const { store, clock } = newStore();
    clock.advance(5_000n); // 5 µs
    store.append('stdout', Buffer.from('x\n'));
    expect(await query(store, { timestamps: true })).toBe('2023-11-14T22:13:20.000005000Z x\n');
  });

  it('counts limitBytes in output bytes, timestamps included, and cuts the last line', async () => {
    const store = threeSeconds();
    expect(await query(store, { limitBytes: 4 })).toBe('a1\na');
    expect(await query(store, { limitBytes: 1 })).toBe('a');
    const ts = formatRfc3339NanoFixed(T0);
    expect(await query(store, { limitBytes: ts.length + 3, timestamps: true })).toBe(`${ts} a1`);
    expect(await query(store, { limitBytes: ts.length - 2, timestamps: true })).toBe(ts.slice(0, -2));
  });

  it('follows new lines until the store closes', async () => {
    const { store } = newStore();
    store.append('stdout', Buffer.from('old\n'));
    const sink = new Collect();
    const done = writeLogs(store, { follow: true, timestamps: false, streams: ALL, tailLines: 0 }, sink, new AbortController().signal);
    await new Promise((r) => setTimeout(r, 10));
    store.append('stdout', Buffer.from('new1\n'));
    store.append('stderr', Buffer.from('new2'));
    await new Promise((r) => setTimeout(r, 10));
    expect(sink.text()).toBe('new1\n');
    store.close();
    await done;
    expect(sink.text()).toBe('new1\nnew2\n');
  });

  it('delivers a followed line within a few milliseconds', async () => {
    const { store } = newStore();
    const arrivals: number[] = [];
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        arrivals.push(performance.now());
        cb();
      },
    });
    const ac = new AbortController();
    const done = writeLogs(store, { follow: true, timestamps: true, streams: ALL }, sink, ac.signal);
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const sent = performance.now();
      store.append('stdout', Buffer.from(`line ${i}\n`));
      await new Promise((r) => setTimeout(r, 2));
      latencies.push((arrivals[i] ?? Number.POSITIVE_INFINITY) - sent);
    }
    ac.abort();
    await done;
    latencies.sort((a, b) => a - b);
    expect(latencies[latencies.length - 1]).toBeLessThan(20);
  });

  it('stops following when the reader aborts', async () => {
    const { store } = newStore();
    const ac = new AbortController();
    const done = writeLogs(store, { follow: true, timestamps: false, streams: ALL }, new Collect(), ac.signal);
    setTimeout(() => ac.abort(), 5);
    await expect(done).resolves.toBeUndefined();
    expect(store.closed).toBe(false);
  });

  it('honours a slow reader without losing or reordering bytes', async () => {
    const { store } = newStore({ memoryBytes: 64 << 20 });
    const expected: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const line = `${i} ${'z'.repeat(i % 50)}\n`;
      expected.push(line);
      store.append(i % 3 === 0 ? 'stderr' : 'stdout', Buffer.from(line));
    }
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    await writeLogs(store, { follow: false, timestamps: false, streams: ALL }, slow, new AbortController().signal);
    expect(Buffer.concat(chunks).toString()).toBe(expected.join(''));
  });
});

describe('log file and previous', () => {
  let dir = '';
  afterEach(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  function run(options: { maxFileBytes?: number; maxFiles?: number } = {}) {
    const file = LogFile.open({ dir, maxFileBytes: options.maxFileBytes ?? 1 << 20, maxFiles: options.maxFiles ?? 2, logger: silentLogger() });
    const clock = fakeClock();
    const store = new LogStore({ memoryBytes: 1 << 20, maxLineBytes: 8, clock: clock.now, persist: file.persist });
    return { file, store, clock };
  }

  it('reports no previous run on the first start', () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    run().file.close();
    expect(readPreviousLogs(dir, { maxLineBytes: 8, maxTotalBytes: 1 << 20 })).toBeUndefined();
  });

  it('serves the last run, byte for byte, as previous after a restart', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    const first = run();
    first.store.append('stdout', Buffer.from('one\ntwo is longer than eight\n'));
    first.clock.advance(SECOND);
    first.store.append('stderr', Buffer.from('three'));
    first.store.close();
    first.file.close();
    const expectedPlain = await query(first.store);
    const expectedStamped = await query(first.store, { timestamps: true });
    const expectedTail = await query(first.store, { tailLines: 2, timestamps: true });

    const second = run();
    second.store.append('stdout', Buffer.from('second run\n'));
    second.file.flush();
    const blocks = readPreviousLogs(dir, { maxLineBytes: 8, maxTotalBytes: 1 << 20 });
    expect(blocks).toBeDefined();
    const previous = new StaticLogSource(blocks ?? []);
    expect(await query(previous)).toBe(expectedPlain);
    expect(expectedPlain).toBe('one\ntwo is longer than eight\nthree\n');
    expect(await query(previous, { timestamps: true })).toBe(expectedStamped);
    expect(await query(previous, { tailLines: 2, timestamps: true })).toBe(expectedTail);
    expect(await query(previous, { sinceNs: T0 + SECOND })).toBe('three\n');
    expect(await query(previous, { follow: true })).toBe(expectedPlain);
    second.file.close();

    // The run after that sees the second run as previous, not the first.
    run().file.close();
    expect(await query(new StaticLogSource(readPreviousLogs(dir, { maxLineBytes: 8, maxTotalBytes: 1 << 20 }) ?? []))).toBe('second run\n');
  });

  it('writes the CRI log format with P and F tags', () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    const { file, store } = run();
    store.append('stdout', Buffer.from('0123456789\n'));
    file.close();
    const ts = formatRfc3339NanoFixed(T0);
    expect(readFileSync(join(dir, 'current.log'), 'utf8')).toBe(`${ts} stdout P 01234567\n${ts} stdout F 89\n`);
  });

  it('rotates the file and keeps at most maxFiles files of bounded size', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    const { file, store } = run({ maxFileBytes: 4096, maxFiles: 3 });
    for (let i = 0; i < 2000; i++) {
      store.append('stdout', Buffer.from(`${i}\n`));
      if (i % 100 === 99) file.flush();
    }
    file.close();
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['current.log', 'current.log.1', 'current.log.2']);
    for (const name of names) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(4096);
    run().file.close();
    const previous = await query(new StaticLogSource(readPreviousLogs(dir, { maxLineBytes: 8, maxTotalBytes: 1 << 20 }) ?? []));
    const lines = previous.trimEnd().split('\n').map(Number);
    expect(lines.at(-1)).toBe(1999);
    // What is kept is the newest lines, contiguous.
    lines.forEach((n, i) => expect(n).toBe((lines[0] as number) + i));
  });

  it('skips lines of the previous file that do not parse', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    const { file, store } = run();
    store.append('stdout', Buffer.from('good\n'));
    file.close();
    const path = join(dir, 'current.log');
    const ts = formatRfc3339NanoFixed(T0);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(path, `garbage\nnot-a-time stdout F x\n${ts} stdpipe F x\n${ts} stdout Q x\n${ts} stdout F also good\n`);
    run().file.close();
    expect(await query(new StaticLogSource(readPreviousLogs(dir, { maxLineBytes: 64, maxTotalBytes: 1 << 20 }) ?? []))).toBe('good\nalso good\n');
  });
});

describe('timestamps', () => {
  it('formats nanoseconds as RFC3339NanoFixed', () => {
    expect(formatRfc3339NanoFixed(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(formatRfc3339NanoFixed(1_704_067_200_123_456_789n)).toBe('2024-01-01T00:00:00.123456789Z');
    expect(formatRfc3339NanoFixed(1_704_067_201_000_000_001n)).toBe('2024-01-01T00:00:01.000000001Z');
  });
});
