/**
 * port-forward to a confidential pod: each forwarded connection kubectl opens (SPDY, the
 * WebSocket tunnel, or the legacy WebSocket protocol) becomes one channel stream to the
 * agent, which connects to the port on the pod's own localhost.
 *
 * Contract after the 101: never throws; a failing connection is reported on its error
 * stream (kubectl prints it) and the session goes on.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { splice } from '../../channel/splice.ts';
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

/** One forwarded connection; resolves true when it ended cleanly. */
async function forward(ctx: OperationContext, fc: ForwardedConnection, aborted: AbortSignal): Promise<boolean> {
  if (aborted.aborted) {
    fc.close();
    return false;
  }
  let upstream: Duplex;
  try {
    // No abort signal on the channel stream itself: the pipelines below own its life, and a
    // signal firing after they finished would raise an error nobody listens to.
    upstream = await ctx.connection.portForward(fc.port);
  } catch (err) {
    const e = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, { cause: err });
    ctx.logger.info({ port: fc.port, code: e.code }, 'forwarded connection refused');
    fc.fail(errorMessage(e));
    fc.close();
    return false;
  }
  const onAbort = (): void => void upstream.destroy();
  aborted.addEventListener('abort', onAbort, { once: true });
  return new Promise<boolean>((resolve) => {
    // Client → pod: the client's half-close becomes END_STREAM to the agent (a half-close on
    // the pod's socket); pod → client: the pod's EOF FINs the client's data stream.
    splice(fc.data, upstream, (err) => {
      aborted.removeEventListener('abort', onAbort);
      fc.close();
      resolve(err === undefined);
    });
  });
}
