/**
 * Agent side of `port-forward`: one HTTP/2 stream ↔ one TCP connection to the pod's own
 * localhost, tried as 127.0.0.1 and then ::1 (the kubelet's order). The agent answers
 * 200 only once the connection is up, SP_PORT_FORWARD_FAILED when nothing accepts it.
 * Then raw bytes both ways: END_STREAM from the proxy half-closes toward the workload,
 * the workload's FIN ends the stream toward the proxy; a reset on either side tears
 * down both.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { RAW_CONTENT_TYPE } from '../channel/protocol.ts';
import { splice } from '../channel/splice.ts';
import { respondError } from '../channel/stream-util.ts';

export interface PortForwardContext {
  readonly logger: Logger;
  /** Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Hosts tried in order. Default 127.0.0.1 then ::1. */
  readonly hosts?: readonly string[];
}

function connectTo(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => {
      socket.off('error', onError);
      socket.destroy();
      reject(new Error('ETIMEDOUT'));
    }, timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

export function servePortForward(stream: ServerHttp2Stream, port: number, ctx: PortForwardContext): void {
  const hosts = ctx.hosts ?? ['127.0.0.1', '::1'];
  const attempt = async (): Promise<Socket | null> => {
    for (const host of hosts) {
      if (stream.destroyed) return null;
      try {
        return await connectTo(host, port, ctx.connectTimeoutMs ?? 5000);
      } catch {
        // try the next address
      }
    }
    return null;
  };
  stream.pause();
  void attempt().then((socket) => {
    if (socket === null) {
      ctx.logger.debug({ port }, 'port-forward target refused');
      respondError(stream, new ShadowplaneError('SP_PORT_FORWARD_FAILED', `port ${port}`));
      return;
    }
    if (stream.destroyed) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': RAW_CONTENT_TYPE });
    splice(stream, socket, (err) => {
      if (err !== undefined) ctx.logger.debug({ port }, 'port-forward connection reset');
      socket.destroy();
    });
  });
}
