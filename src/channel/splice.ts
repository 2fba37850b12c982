/**
 * Joins two duplex streams both ways with half-close semantics: when one side's readable
 * ends, the other side's writable is ended (FIN, END_STREAM), and the other direction
 * keeps flowing. Backpressure both ways (stream.pipeline). If either direction fails,
 * both streams are destroyed. `done` is called once: with no error when both directions
 * completed, with the first error otherwise.
 */
import { pipeline, type Duplex } from 'node:stream';

export function splice(a: Duplex, b: Duplex, done: (err?: Error) => void): void {
  // The two pipelines add a few 'close'/'error' listeners to each side; on sockets that
  // Node's HTTP machinery already listens to, that crosses the default warning threshold
  // of 10 without any leak (the listeners go when the streams do).
  for (const s of [a, b]) if (s.getMaxListeners() !== 0) s.setMaxListeners(s.getMaxListeners() + 6);
  let pending = 2;
  let failed = false;
  const finish = (err?: Error | null): void => {
    if (failed) return;
    if (err !== undefined && err !== null) {
      failed = true;
      a.destroy();
      b.destroy();
      done(err);
      return;
    }
    pending -= 1;
    if (pending === 0) done();
  };
  pipeline(a, b, finish);
  pipeline(b, a, finish);
}
