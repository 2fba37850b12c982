/**
 * A federation's worker thread (src/proxy/federation-worker.ts): a thread that fails,
 * exits or hangs fails its federation with SP_INTERNAL, logged by code and never by
 * message, and the proxy lives on; close() ends the threads of running federations.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { asShadowplaneError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/log.ts';
import { FederationWorkers } from '../../../src/proxy/federation-worker.ts';

const ANSWER = Buffer.from(`# TYPE m gauge\n${Array.from({ length: 2000 }, (_, k) => `m{a="${k}"} 1`).join('\n')}\n# EOF\n`);
const POD = { index: 0, namespace: 'payments', pod: 'p0' };

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ destination, level: 'info' }), lines };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return asShadowplaneError(err).code;
  }
}

describe('federation worker threads', () => {
  it('parses, merges and renders off the event loop what the endpoint would have', async () => {
    const workers = new FederationWorkers({ maxBytes: 64 * 2 ** 20, logger: capture().logger });
    const job = workers.job();
    await job.add(POD, Buffer.from(ANSWER));
    const out = await job.finish('openmetrics', []);
    expect(out.body.toString()).toContain('m{namespace="payments",pod="p0",a="1999"} 1\n');
    expect(out.stats).toEqual({ conflictingFamilies: 0, renamedLabels: 0 });
    await job.end();
  });

  it.each([
    ['throws', 'p0', 'error'],
    ['exits', 'exit', 'exit'],
  ])('fails the federation with SP_INTERNAL when its thread %s, logging a code and no message', async (_label, pod, reason) => {
    const { logger, lines } = capture();
    const workers = new FederationWorkers({ maxBytes: 64 * 2 ** 20, logger, thread: new URL('./fixtures/failing-federation-thread.mjs', import.meta.url) });
    const job = workers.job();
    expect(await codeOf(job.add({ ...POD, pod }, Buffer.from(ANSWER)))).toBe('SP_INTERNAL');
    expect(await codeOf(job.finish('text', []))).toBe('SP_INTERNAL');
    await job.end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const log = lines.join('');
    expect(log).toContain('"code":"SP_INTERNAL"');
    expect(log).toContain(`"reason":"${reason}"`);
    expect(log).not.toContain('secret-workload-value');
  });

  it('ends a thread that takes longer than a step may, and fails its federation', async () => {
    const workers = new FederationWorkers({ maxBytes: 64 * 2 ** 20, logger: capture().logger, stepTimeoutMs: 1 });
    const job = workers.job();
    expect(await codeOf(job.add(POD, Buffer.from(ANSWER)))).toBe('SP_INTERNAL');
    await job.end();
  });

  it('ends running federations\' threads on close, and starts no more', async () => {
    const workers = new FederationWorkers({ maxBytes: 64 * 2 ** 20, logger: capture().logger });
    const job = workers.job();
    await job.add(POD, Buffer.from(ANSWER));
    const finishing = codeOf(job.finish('text', []));
    await workers.close();
    expect(await finishing).toBe('SP_INTERNAL');
    expect(() => workers.job()).toThrow(expect.objectContaining({ code: 'SP_CONFIDENTIAL_NOT_SERVED' }));
  });

  it('refuses an answer past what is left of the budget before it reaches the thread', async () => {
    const workers = new FederationWorkers({ maxBytes: 4 * ANSWER.length, logger: capture().logger });
    const job = workers.job();
    const body = Buffer.from(ANSWER);
    expect(await codeOf(job.add(POD, body))).toBe('SP_METRICS_TOO_LARGE');
    // Not moved to a thread: the answer is still here, and none was started.
    expect(body.length).toBe(ANSWER.length);
    expect((await job.finish('openmetrics', [])).body.toString()).toBe('# EOF\n');
    await job.end();
  });
});
