/**
 * The messages between the proxy and a federation's worker thread (federation-worker.ts,
 * federation-thread.ts). Every request carries an `id` that its one reply repeats.
 */
import type { ErrorCode } from '../errors.ts';
import type { FederationResult, PodUp } from '../metrics/federate.ts';
import type { ExpositionFormat } from '../metrics/model.ts';
import type { ParseLimits } from '../metrics/parse-limits.ts';

export type ThreadRequest =
  | {
      readonly op: 'parse';
      readonly id: number;
      /** The pod's place in the federation's order: the merge follows it, not arrival order. */
      readonly index: number;
      readonly namespace: string;
      readonly pod: string;
      readonly body: Uint8Array;
      readonly limits: Partial<ParseLimits>;
      /** What is left of the federation's budget: an answer that costs more is refused. */
      readonly left: number;
    }
  | {
      readonly op: 'finish';
      readonly id: number;
      readonly format: ExpositionFormat;
      /** Every pod asked, in the federation's order, and whether its answer was kept (withPodUp). */
      readonly podsUp: readonly PodUp[];
    };

export type ThreadReply =
  | { readonly id: number; readonly ok: true; readonly cost: number }
  | { readonly id: number; readonly ok: true; readonly body: Uint8Array; readonly stats: FederationResult['stats'] }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode; readonly detail: string | undefined };

/**
 * `buf` ready to post to another thread with its memory moved, not copied: the
 * ArrayBuffer under it is transferred when it is one of its own (larger than the slabs
 * of Node's Buffer pool, which many small Buffers share); a small one is copied first.
 * The caller must own that ArrayBuffer (no other view of it is used afterwards): once
 * posted, `buf` is empty.
 */
export function forTransfer(buf: Buffer): { bytes: Uint8Array; transfer: ArrayBuffer[] } {
  const ab = buf.buffer;
  if (ab instanceof ArrayBuffer && ab.byteLength > Buffer.poolSize) return { bytes: buf, transfer: [ab] };
  const copy = new Uint8Array(buf);
  return { bytes: copy, transfer: [copy.buffer] };
}
