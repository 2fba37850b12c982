/**
 * relay(): the teardown of one forwarded connection (PROTOCOLS.md B), with in-memory
 * streams standing in for kubectl's data stream and the channel stream to the pod.
 */
import { duplexPair, type Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relay } from '../../../src/proxy/confidential/portforward.ts';
import type { ForwardedConnection } from '../../../src/proxy/streams/types.ts';

interface Harness {
  /** kubectl's end of the data stream. */
  readonly client: Duplex;
  /** The pod's end of the channel stream. */
  readonly pod: Duplex;
  /** The proxy's ends, as relay() sees them. */
  readonly data: Duplex;
  readonly upstream: Duplex;
  readonly closedAt: () => number | undefined;
  readonly result: Promise<boolean>;
  readonly abort: AbortController;
}

function start(graceMs = 200): Harness {
  const [client, data] = duplexPair();
  const [upstream, pod] = duplexPair();
  for (const s of [client, data, upstream, pod]) s.on('error', () => undefined);
  let closedAt: number | undefined;
  const fc: ForwardedConnection = {
    port: 80,
    requestId: '0',
    data,
    fail: () => undefined,
    close: () => {
      closedAt ??= Date.now();
      if (!data.writableEnded && !data.destroyed) data.end();
    },
  };
  const abort = new AbortController();
  return { client, pod, data, upstream, closedAt: () => closedAt, result: relay(fc, upstream, abort.signal, graceMs), abort };
}

/** Everything `stream` yields until it ends (bounded). */
function collect(stream: Duplex, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('no end in time')), timeoutMs);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

const within = <T>(p: Promise<T>, ms = 2000): Promise<T> => Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms))]);

describe('relay', () => {
  it('the pod closes first (kubectl ≤ 1.30 never resets): FIN at once, error stream ends after the grace, clean', async () => {
    const h = start(200);
    const toClient = collect(h.client);
    h.pod.end('banner');
    expect((await toClient).toString()).toBe('banner');
    const finAt = Date.now();
    expect(await within(h.result)).toBe(true);
    expect(h.closedAt()! - finAt).toBeGreaterThanOrEqual(150);
    // The channel stream toward the pod was ended, not cancelled.
    expect(h.upstream.writableEnded).toBe(true);
    expect(h.upstream.destroyed).toBe(false);
  });

  it('the client bytes sent before the pod closed still reach the pod, in full, after the grace', async () => {
    const h = start(50);
    const toPod = collect(h.pod);
    const toClient = collect(h.client);
    h.client.write('request');
    h.pod.end('bye');
    expect((await toClient).toString()).toBe('bye');
    expect(await within(h.result)).toBe(true);
    expect((await toPod).toString()).toBe('request');
  });

  it('the pod closes first and the client then resets (kubectl ≥ 1.31): ends at once, clean, pod side still ended gracefully', async () => {
    const h = start(10_000);
    const toPod = collect(h.pod);
    h.client.write('late-bytes');
    const toClient = collect(h.client);
    h.pod.end('banner');
    await toClient;
    await new Promise((resolve) => setImmediate(resolve));
    h.data.destroy(new Error('SP_STREAM_RESET'));
    expect(await within(h.result, 1000)).toBe(true);
    expect((await toPod).toString()).toBe('late-bytes');
  });

  it('the client half-closes first: END_STREAM toward the pod, the answer keeps flowing, then clean', async () => {
    const h = start(50);
    h.pod.on('data', (c: Buffer) => h.pod.write(c));
    h.pod.once('end', () => setTimeout(() => h.pod.end('tail'), 300));
    const toClient = collect(h.client);
    h.client.end('ping');
    expect((await toClient).toString()).toBe('pingtail');
    expect(await within(h.result)).toBe(true);
  });

  it('a reset from the client before the pod closed is a failure and cancels the pod side', async () => {
    const h = start();
    h.client.write('x');
    await new Promise((resolve) => setImmediate(resolve));
    h.data.destroy(new Error('SP_STREAM_RESET'));
    expect(await within(h.result)).toBe(false);
    expect(h.upstream.destroyed).toBe(true);
  });

  it('a broken channel stream before the pod closed is a failure and resets the data stream', async () => {
    const h = start();
    h.upstream.destroy(new Error('SP_AGENT_SESSION_LOST'));
    expect(await within(h.result)).toBe(false);
    expect(h.data.destroyed).toBe(true);
  });

  it('the session ending cancels both sides', async () => {
    const h = start();
    h.abort.abort();
    expect(await within(h.result)).toBe(false);
    expect(h.upstream.destroyed).toBe(true);
    expect(h.data.destroyed).toBe(true);
  });
});
