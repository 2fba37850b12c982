/**
 * port-forward over WebSocket, in its two forms:
 *
 * - The tunnel of KEP-4006 (kubectl 1.31+ by default): subprotocol
 *   `SPDY/3.1+portforward.k8s.io`; binary messages carry the SPDY byte stream of the
 *   ordinary SPDY port-forward, so the session is portforward-spdy.ts over the WebSocket.
 * - The legacy channel protocol of client libraries (`?ports=8080`, v4.channel.k8s.io or
 *   v4.base64.channel.k8s.io): one forwarded connection per requested port for the life
 *   of the WebSocket, data on channel 2i and errors on channel 2i+1. The server's first
 *   message on each of those channels is the port as a little-endian u16, before any
 *   data (clients strip those two bytes). There is no half-close in these protocols: the
 *   client ends by closing the WebSocket, and the server closes it (1000) once every
 *   forwarded connection was closed, or its data ended (the target closed).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ShadowplaneError } from '../../errors.ts';
import type { ChannelProtocol } from '../../kube-streams/ws-channel.ts';
import { AsyncQueue } from './async-queue.ts';
import { servePortForwardSpdy } from './portforward-spdy.ts';
import { within, type SessionTimeouts } from './session-timing.ts';
import type { ForwardedConnection, PortForwardSession } from './types.ts';
import { WebSocketByteStream } from './ws-byte-stream.ts';
import { WsChannelMux } from './ws-channel-mux.ts';

export const TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const NORMAL_CLOSURE = 1000;
/** Most ports one legacy session may forward (channels are one byte; base64 ones one digit). */
export const MAX_LEGACY_PORTS = 5;

export interface PortForwardWebSocketContext {
  readonly ws: WebSocket;
  readonly socket: Duplex;
  readonly timeouts: SessionTimeouts;
  readonly logger: Logger;
}

export function servePortForwardTunnel(context: PortForwardWebSocketContext & { readonly maxConnections?: number }): PortForwardSession {
  const { ws, socket, timeouts, logger } = context;
  ws.on('error', () => undefined);
  return servePortForwardSpdy({
    socket: new WebSocketByteStream(ws, socket),
    protocol: 'websocket/SPDY/3.1+portforward.k8s.io',
    timeouts,
    logger,
    ...(context.maxConnections === undefined ? {} : { maxConnections: context.maxConnections }),
  });
}

/**
 * The ports of a legacy request: every `ports` (or the kubelet's `port`) query value,
 * comma lists allowed, each 1–65535. Throws SP_BAD_REQUEST.
 */
export function parseLegacyPorts(query: URLSearchParams): number[] {
  const values = [...query.getAll('ports'), ...query.getAll('port')];
  if (values.length === 0) throw new ShadowplaneError('SP_BAD_REQUEST', 'query parameter ports is required');
  const ports: number[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      if (!/^[0-9]{1,5}$/.test(part)) throw new ShadowplaneError('SP_BAD_REQUEST', 'a port is not a number');
      const port = Number(part);
      if (port < 1 || port > 65535) throw new ShadowplaneError('SP_BAD_REQUEST', 'a port is out of range');
      ports.push(port);
      if (ports.length > MAX_LEGACY_PORTS) throw new ShadowplaneError('SP_BAD_REQUEST', `at most ${MAX_LEGACY_PORTS} ports per session`);
    }
  }
  return ports;
}

export function servePortForwardLegacy(context: PortForwardWebSocketContext & { readonly protocol: ChannelProtocol; readonly ports: readonly number[] }): PortForwardSession {
  const { ws, socket, protocol, ports, timeouts, logger } = context;
  const abort = new AbortController();
  const queue = new AsyncQueue<ForwardedConnection>();
  const mux = new WsChannelMux(ws, socket, protocol, {
    onInvalid: (error) => logger.info({ code: error.code }, 'port-forward websocket message refused'),
  });
  let closing = false;
  let open = ports.length;

  const close = (): void => {
    if (closing) return;
    closing = true;
    queue.end();
    if (ws.readyState === ws.OPEN) ws.close(NORMAL_CLOSURE);
    void within(new Promise((resolve) => ws.once('close', resolve)), timeouts.closeGraceMs).then((closed) => {
      if (!closed) ws.terminate();
      mux.destroyAll();
    });
  };
  ws.on('error', () => undefined);
  ws.on('close', () => {
    queue.end();
    if (!closing) abort.abort(new ShadowplaneError('SP_CLIENT_GONE'));
    mux.destroyAll(closing ? undefined : new ShadowplaneError('SP_CLIENT_GONE'));
  });

  const streams = ports.map((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port, 0);
    const data = mux.channel(2 * i);
    // The port prefixes go out before anything written on the channels afterwards.
    mux.send(2 * i, prefix, () => undefined);
    mux.send(2 * i + 1, prefix, () => undefined);
    return data;
  });

  ports.forEach((port, i) => {
    const data = streams[i]!;
    let closed = false;
    const connection: ForwardedConnection = {
      port,
      requestId: String(i),
      data,
      fail(message: string) {
        if (closed) return;
        mux.send(2 * i + 1, Buffer.from(message.slice(0, 1024), 'utf8'), () => undefined);
      },
      close() {
        if (closed) return;
        closed = true;
        if (--open === 0) close();
      },
    };
    // With no half-close on the wire, the target's end is the end of the forwarded
    // connection (the kubelet closes the WebSocket once every port's forward returned).
    data.once('finish', () => connection.close());
    queue.push(connection);
  });

  return {
    protocol: 'websocket/portforward.k8s.io',
    aborted: abort.signal,
    get counters() {
      let bytesIn = 0;
      let bytesOut = 0;
      for (const stream of streams) {
        bytesIn += stream.bytesIn;
        bytesOut += stream.bytesOut;
      }
      return { bytesIn, bytesOut };
    },
    connections: () => queue,
    close,
  };
}
