/**
 * port-forward to a confidential pod: each forwarded connection kubectl opens (SPDY, the
 * WebSocket tunnel, or the legacy WebSocket protocol) becomes one channel stream to the
 * agent, which connects to the port on the pod's own localhost.
 *
 * Contract after the 101: never throws; a failing connection is reported on its error
 * stream (kubectl prints it) and the session goes on.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Duplex } from 'node:stream';
import { ShadowplaneError } from '../../errors.ts';
import { errorMessage } from '../../kube-streams/status.ts';
import { acceptPortForward } from '../streams/upgrade.ts';
import type { ForwardedConnection } from '../streams/types.ts';
import type { OperationContext } from './service.ts';
import { asUpgradeRequest } from '../request.ts';

export async function servePortForward(ctx: OperationContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const session = await acceptPortForward(asUpgradeRequest(req), socket, head, ctx.accept);
  ctx.track.session('portforward');
  const record = ctx.audit.begin({ user: ctx.caller.user.name, namespace: ctx.route.namespace, pod: ctx.route.name, container: undefined, operation: 'portforward', protocol: session.protocol });
  ctx.logger.info({ protocol: session.protocol }, 'port-forward started');
  let connections = 0;
  let failures = 0;
  const running = new Set<Promise<void>>();
  try {
    for await (const fc of session.connections()) {
      connections++;
      const p = forward(ctx, fc, session.aborted).then((ok) => {
        if (!ok) failures++;
      });
      running.add(p);
      void p.finally(() => running.delete(p));
    }
  } catch {
    // The session ended abnormally; its connections end with it.
  }
  await Promise.allSettled([...running]);
  ctx.audit.finish(record, { bytesIn: session.counters.bytesIn, bytesOut: session.counters.bytesOut, ...(failures > 0 ? { error: 'SP_PORT_FORWARD_FAILED' } : {}) });
  ctx.logger.info({ connections, failures, bytesIn: session.counters.bytesIn, bytesOut: session.counters.bytesOut }, 'port-forward ended');
}

/**
 * How long the client's direction may go on once the pod's side ended, before the
 * forwarded connection is closed: containerd's grace (kubelet's CRI port-forward returns
 * at most 1 s after either direction ended, then closes the data and error streams).
 */
export const TARGET_EOF_GRACE_MS = 1000;
/** How long the channel stream may take to deliver the client's last bytes after it was ended. */
const UPSTREAM_FLUSH_MS = 5000;

/** One forwarded connection; resolves true when it ended cleanly. */
async function forward(ctx: OperationContext, fc: ForwardedConnection, aborted: AbortSignal): Promise<boolean> {
  if (aborted.aborted) {
    fc.close();
    return false;
  }
  let upstream: Duplex;
  try {
    // No abort signal on the channel stream itself: relay() owns its life, and a signal
    // firing after it finished would raise an error nobody listens to.
    upstream = await ctx.connection.portForward(fc.port);
  } catch (err) {
    const e = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, { cause: err });
    ctx.logger.info({ port: fc.port, code: e.code }, 'forwarded connection refused');
    fc.fail(errorMessage(e));
    fc.close();
    return false;
  }
  return relay(fc, upstream, aborted, TARGET_EOF_GRACE_MS);
}

/**
 * Moves bytes both ways between the client's forwarded connection and the channel stream
 * to the pod, and ends the forwarded connection the way the kubelet does (PROTOCOLS.md B):
 *
 * - The client half-closes (FIN on the data stream): END_STREAM toward the pod, whose
 *   answer keeps flowing until the pod's side ends.
 * - The pod's side ends: FIN on the data stream at once. The client's direction keeps
 *   flowing for at most `graceMs`; then the error stream is FINned too. kubectl ≤ 1.30
 *   closes the local connection only when the error stream ended (it never resets the data
 *   stream), so this is what ends the user's connection; kubectl ≥ 1.31 resets the data
 *   stream as soon as it saw the FIN, which ends the client's direction at once.
 * - Bytes the client sent before its direction ended still reach the pod: the channel
 *   stream is ended (END_STREAM), not cancelled, and cancelled only if it cannot deliver
 *   them within UPSTREAM_FLUSH_MS.
 * - A reset or failure before the pod's side ended (the client's local connection was
 *   reset, the agent went away, the session ended) tears both sides down: not clean.
 */
export function relay(fc: ForwardedConnection, upstream: Duplex, aborted: AbortSignal, graceMs: number): Promise<boolean> {
  const data = fc.data;
  return new Promise<boolean>((resolve) => {
    let podDone = false; // the pod's EOF reached the client (FIN on the data stream)
    let clientEnded = false; // the client half-closed; END_STREAM toward the pod follows
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const stopClientDirection = (): void => {
      data.unpipe(upstream);
      // Whatever the client still sends goes nowhere (the kubelet drops it too), but it
      // must be read so the session's flow control never stalls on it.
      data.on('data', () => undefined);
      if (!data.destroyed) data.resume();
      if (upstream.destroyed) return;
      if (!upstream.writableEnded) upstream.end();
      const flush = setTimeout(() => upstream.destroy(), UPSTREAM_FLUSH_MS);
      flush.unref();
      upstream.once('close', () => clearTimeout(flush));
    };

    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(grace);
      aborted.removeEventListener('abort', onAbort);
      if (err === undefined) {
        stopClientDirection();
      } else {
        upstream.destroy();
        data.destroy();
      }
      fc.close();
      resolve(err === undefined);
    };

    const onAbort = (): void => settle(new ShadowplaneError('SP_CLIENT_GONE'));
    aborted.addEventListener('abort', onAbort, { once: true });

    // Errors and closes after either direction finished still need a listener; what they
    // mean depends on whether the pod's side already ended.
    upstream.on('error', () => undefined);
    data.on('error', () => undefined);

    // Pod → client: the pod's EOF FINs the client's data stream.
    pipeline(upstream, data, (err) => {
      if (err !== undefined && err !== null) {
        settle(err);
        return;
      }
      podDone = true;
      if (clientEnded && upstream.writableFinished) {
        settle();
        return;
      }
      grace = setTimeout(() => settle(), graceMs);
      grace.unref();
    });

    // Client → pod, by hand rather than pipeline(): a reset of the data stream after the
    // pod's side ended is how kubectl ≥ 1.31 ends a connection, and must neither cancel
    // the channel stream nor lose the bytes it still carries toward the pod.
    data.pipe(upstream);
    data.once('end', () => {
      clientEnded = true; // pipe() ends upstream: END_STREAM, a half-close on the pod's socket
    });
    upstream.once('finish', () => {
      if (clientEnded && podDone) settle();
    });
    data.once('close', () => {
      if (settled || clientEnded) return;
      // Reset (or gone) without a FIN: the normal end with kubectl ≥ 1.31 once the pod's
      // side ended; before that, the client aborted the connection.
      if (podDone) settle();
      else settle(new ShadowplaneError('SP_STREAM_RESET'));
    });
    upstream.once('close', () => {
      if (settled) return;
      // The agent cancelled the stream after the pod's side ended (the pod's socket
      // refused the client's late bytes): nothing more can reach the pod.
      if (podDone) settle();
    });
  });
}
