/**
 * Tunnels an HTTP/1.1 upgrade (exec/attach/port-forward of a NON-confidential pod, over
 * SPDY or WebSocket) to the upstream API server byte for byte.
 *
 * Rules from Kubernetes' own upgrade-aware proxy (CVE-2018-1002105 came from breaking
 * them): the upstream answer is forwarded exactly; a non-101 answer is forwarded and then
 * the client connection is closed, so it can never be reused as if it were upgraded;
 * when either side fails, both sockets are destroyed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { splice } from '../channel/splice.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { forwardableUpgradeRawHeaders, relayedResponseHead } from './headers.ts';
import type { Caller } from './identity.ts';
import { rejectUpgrade } from './streams/upgrade.ts';
import { NO_TRACKING, type RequestTracker } from './self-metrics.ts';
import type { Upstream } from './upstream.ts';
import { upstreamAuthRawHeaders, type UpstreamAuthMode } from './upstream-auth.ts';

export interface UpgradePassthroughOptions {
  readonly upstream: Upstream;
  readonly authMode: UpstreamAuthMode;
  readonly logger: Logger;
}

export async function passthroughUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, caller: Caller, opts: UpgradePassthroughOptions, track: RequestTracker = NO_TRACKING): Promise<void> {
  const upgrade = req.headers.upgrade ?? '';
  const rawHeaders: [string, string][] = [
    ['Host', opts.upstream.server.host],
    ...forwardableUpgradeRawHeaders(req.rawHeaders, { keepAuthorization: opts.authMode === 'forward-token' }),
    ...(await upstreamAuthRawHeaders(caller, opts.authMode, opts.upstream.credentials)),
    ['Connection', 'Upgrade'],
    ['Upgrade', upgrade],
  ];

  const upReq = opts.upstream.upgradeRequest(req.method ?? 'GET', req.url ?? '/', rawHeaders);
  let settled = false;
  const fail = (err: ShadowplaneError): void => {
    if (settled) return;
    settled = true;
    track.fail(err.code);
    upReq.destroy();
    rejectUpgrade(socket, err);
  };
  // The client may vanish while upstream is being dialled.
  const onEarlyClose = (): void => {
    if (!settled) {
      settled = true;
      upReq.destroy();
    }
  };
  socket.once('close', onEarlyClose);

  upReq.on('timeout', () => fail(new ShadowplaneError('SP_UPSTREAM_TIMEOUT', 'the API server did not answer the upgrade in time')));
  upReq.on('error', (err: NodeJS.ErrnoException) => fail(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', err.code ?? 'connection error')));

  upReq.on('upgrade', (res: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
    if (settled) {
      upSocket.destroy();
      return;
    }
    settled = true;
    socket.off('close', onEarlyClose);
    (upSocket as Duplex & { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    socket.write(relayedResponseHead(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders, { switching: true }));
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    // Byte for byte both ways; a failure or an abrupt close on either side destroys both.
    splice(socket, upSocket, () => undefined);
    opts.logger.debug({ route: 'passthrough-upgrade', status: 101 }, 'upgrade tunnelled');
  });

  upReq.on('response', (res: IncomingMessage) => {
    if (settled) {
      res.destroy();
      return;
    }
    settled = true;
    // Anything but 101: forward the answer, then close. The connection was never upgraded
    // and must not be reused by the client as if it had been.
    socket.write(relayedResponseHead(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders, { switching: false }));
    pipeline(res, socket, () => socket.destroy());
  });

  upReq.end();
}
