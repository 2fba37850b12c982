/**
 * exec/attach over WebSocket (channel.k8s.io v5, v4, v4.base64, channel.k8s.io,
 * base64.channel.k8s.io): the RemoteCommandSession on top of an accepted WebSocket.
 *
 * Channels: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize (PROTOCOLS.md A.5).
 *
 * Start: right after the upgrade the server sends an empty message on the lowest
 * writable channel (stdout, else stderr, else error), as the API server and kubelet do.
 *
 * End (`finish`): stdout and stderr are flushed, the Status goes out on channel 3 (JSON
 * for v4/v5, text for the older protocols, nothing on their success), then a close frame
 * with code 1000. kubectl needs exactly that: a 1000 close turns into EOF on every
 * stream, while an abrupt end (1006) or 1011 makes it print a read error and exit 1,
 * losing the exit code.
 *
 * stdin ends on the v5 close signal `[255, 0]`, or when the WebSocket closes (the only
 * way clients of the older protocols can say they are done).
 */
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ShadowplaneError } from '../../errors.ts';
import { encodeErrorStream } from '../../kube-streams/status.ts';
import type { ChannelProtocol } from '../../kube-streams/ws-channel.ts';
import { terminalSizes } from './resize-stream.ts';
import { endAndFlush, within, type SessionTimeouts } from './session-timing.ts';
import type { CommandResult, RemoteCommandOptions, RemoteCommandSession, StreamProtocol } from './types.ts';
import { WsChannelMux, type ChannelStream } from './ws-channel-mux.ts';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const NORMAL_CLOSURE = 1000;

export interface ExecWebSocketContext {
  readonly ws: WebSocket;
  readonly socket: Duplex;
  readonly protocol: ChannelProtocol;
  readonly options: RemoteCommandOptions;
  readonly timeouts: SessionTimeouts;
  readonly logger: Logger;
}

export function serveExecWebSocket(context: ExecWebSocketContext): RemoteCommandSession {
  const { ws, socket, protocol, options, timeouts, logger } = context;
  const abort = new AbortController();
  let finishing = false;
  const mux = new WsChannelMux(ws, socket, protocol, {
    onInvalid: (error) => logger.info({ code: error.code }, 'exec websocket message refused'),
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (!finishing && !abort.signal.aborted) abort.abort(new ShadowplaneError('SP_CLIENT_GONE'));
  });

  const stdin: ChannelStream | null = options.stdin ? mux.channel(STDIN) : null;
  const stdout: ChannelStream | null = options.stdout ? mux.channel(STDOUT) : null;
  const stderr: ChannelStream | null = options.stderr ? mux.channel(STDERR) : null;
  const resizes: Readable | null = options.tty ? terminalSizes(mux.channel(RESIZE), logger) : null;

  const opening = options.stdout ? STDOUT : options.stderr ? STDERR : ERROR;
  mux.send(opening, Buffer.alloc(0), () => undefined);

  let finishPromise: Promise<void> | null = null;
  const finish = (result: CommandResult): Promise<void> => {
    finishPromise ??= (async () => {
      finishing = true;
      const flushed = Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
      if (!(await within(flushed, timeouts.flushTimeoutMs))) logger.info('exec output not flushed in time');
      const status = encodeErrorStream(result, protocol.statusJson ? 'status-json' : 'plain-text');
      if (status.length > 0 && ws.readyState === ws.OPEN) await within(mux.sendAsync(ERROR, status), timeouts.flushTimeoutMs);
      if (ws.readyState === ws.OPEN) ws.close(NORMAL_CLOSURE);
      const closed = new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) resolve();
        else ws.once('close', () => resolve());
      });
      if (!(await within(closed, timeouts.closeGraceMs))) ws.terminate();
      mux.destroyAll();
    })();
    return finishPromise;
  };

  const streamProtocol: StreamProtocol = protocol.name === '' ? 'channel.k8s.io' : protocol.name;
  return {
    protocol: streamProtocol,
    options,
    stdin: stdin,
    stdout: stdout,
    stderr: stderr,
    resizes,
    aborted: abort.signal,
    get counters() {
      return { bytesIn: stdin?.bytesIn ?? 0, bytesOut: (stdout?.bytesOut ?? 0) + (stderr?.bytesOut ?? 0) };
    },
    finish,
  };
}
