/**
 * The unix socket on which an agent serves its own container to the other agents of the
 * pod (container-router.ts). HTTP/2 without TLS: the socket lives in a memory-backed
 * volume of the pod, inside the TEE. Mode 0600: agents of one pod run as one user.
 */
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer as createH2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { Logger } from '../log.ts';
import { agentH2Options } from '../channel/h2-options.ts';

export interface LocalSocket {
  close(): Promise<void>;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // absent already
  }
}

export function listenLocalSocket(
  path: string,
  serve: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void,
  options: { readonly maxConcurrentStreams: number; readonly logger: Logger },
): Promise<LocalSocket> {
  const h2 = createH2Server(agentH2Options(options.maxConcurrentStreams));
  const sessions = new Set<Http2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    serve(stream, headers);
  });
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    h2.emit('connection', socket);
  });
  // A previous run of this container left its socket file behind.
  unlinkQuietly(path);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      chmodSync(path, 0o600);
      options.logger.debug('container socket listening');
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const session of sessions) session.destroy();
            server.close(() => {
              unlinkQuietly(path);
              done();
            });
          }),
      });
    });
  });
}
