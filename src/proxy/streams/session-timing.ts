/**
 * Bounded waits shared by the terminators. Every wait in a session ends by itself:
 * stream creation, handshakes, flushing at the end, and the grace period a client gets
 * to close after shadowplane said goodbye.
 */
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';

export interface SessionTimeouts {
  /** How long the client may take to open the streams it announced. @default 30 s (the kubelet's value) */
  readonly streamTimeoutMs: number;
  /** How long `finish()` waits for queued output to reach the socket. @default 30 s */
  readonly flushTimeoutMs: number;
  /** How long the client gets to close after the end sequence before the socket is destroyed. @default 5 s */
  readonly closeGraceMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = Object.freeze({
  streamTimeoutMs: 30_000,
  flushTimeoutMs: 30_000,
  closeGraceMs: 5_000,
});

/** Resolves true when `promise` settles within `ms`, false when the time ran out first. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends `stream` and resolves when it finished, errored or was destroyed. */
export function endAndFlush(stream: Writable | null, payload?: Buffer): Promise<void> {
  if (stream === null || stream.destroyed) return Promise.resolve();
  if (!stream.writableEnded) {
    if (payload !== undefined && payload.length > 0) stream.end(payload);
    else stream.end();
  }
  return finished(stream, { readable: false }).then(
    () => undefined,
    () => undefined,
  );
}
