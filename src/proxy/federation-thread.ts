/**
 * The worker thread of one federation (started by federation-worker.ts): parses each
 * pod's answer, holds the parsed pods, then merges and renders them, so that none of
 * that work runs on the proxy's event loop (a federation of 3 pods × 100,000 series
 * takes over a second of CPU).
 *
 * Messages are handled one at a time, in the order they come; every request gets exactly
 * one reply with its `id`. Answer bytes arrive transferred and the rendered output leaves
 * transferred, not copied. Errors go back as a catalogue code and a ShadowplaneError's
 * detail only (fixed texts, never input bytes); anything else is SP_INTERNAL.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { ShadowplaneError } from '../errors.ts';
import { federate, heldBytesEstimate, withPodUp, type PodMetrics } from '../metrics/federate.ts';
import { parseExposition } from '../metrics/parse.ts';
import { serializeToBuffer } from '../metrics/serialize.ts';
import { forTransfer, type ThreadReply, type ThreadRequest } from './federation-protocol.ts';

const port: MessagePort = threadPort();

/** The parsed answers kept so far, by the pod's place in the federation's order. */
const held = new Map<number, PodMetrics>();

port.on('message', (m: ThreadRequest) => {
  try {
    if (m.op === 'parse') {
      const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
      const pod: PodMetrics = { namespace: m.namespace, pod: m.pod, families: parseExposition(body, 'openmetrics', m.limits).families };
      const cost = heldBytesEstimate(pod, body.length);
      if (cost > m.left) throw new ShadowplaneError('SP_METRICS_TOO_LARGE', 'the federation is at its size limit');
      held.set(m.index, pod);
      reply({ id: m.id, ok: true, cost });
    } else {
      const pods = [...held.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
      // The parsed answers can go while the federation is rendered: then only the merged
      // copy and the output are held (heldBytesEstimate counts all three regardless).
      held.clear();
      const merged = federate(pods);
      pods.length = 0;
      const { bytes, transfer } = forTransfer(serializeToBuffer(withPodUp(merged.families, m.podsUp), m.format));
      reply({ id: m.id, ok: true, body: bytes, stats: merged.stats }, transfer);
    }
  } catch (err) {
    // A refused answer leaves the pods parsed before it; a failed merge or rendering ends the federation.
    if (m.op === 'finish') held.clear();
    const e = err instanceof ShadowplaneError ? err : undefined;
    reply({ id: m.id, ok: false, code: e?.code ?? 'SP_INTERNAL', detail: e?.detail });
  }
});

function reply(r: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(r, transfer);
}

function threadPort(): MessagePort {
  if (parentPort === null) throw new Error('federation-thread.ts runs only as a worker thread');
  return parentPort;
}
