/**
 * exec/attach over SPDY/3.1 (remote command protocols v4, v3, v2 and v1).
 *
 * The client opens one stream per standard stream, each named by its `streamtype`
 * header: `error` first, then `stdin` (if asked), `stdout`, `stderr` (not with a TTY) and
 * `resize` (TTY, v3 and later), waiting for each SYN_REPLY (PROTOCOLS.md A.8). The session
 * starts once every expected stream is open; the wait is bounded like the kubelet's.
 *
 * End (`finish`): FIN on stdout/stderr once their data is out, the result on the error
 * stream (Status JSON for v4, text for v1–v3, nothing on their success) with FIN, then
 * GOAWAY and the end of the connection. kubectl reads stdout/stderr to EOF, then the
 * error stream to EOF, then exits with the exit code the Status carries.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ShadowplaneError } from '../../errors.ts';
import { SpdyConnection } from '../../kube-streams/spdy-connection.ts';
import { RstStatus } from '../../kube-streams/spdy-frame.ts';
import type { SpdyStream } from '../../kube-streams/spdy-stream.ts';
import { encodeErrorStream } from '../../kube-streams/status.ts';
import { terminalSizes } from './resize-stream.ts';
import { endAndFlush, within, type SessionTimeouts } from './session-timing.ts';
import type { CommandResult, RemoteCommandOptions, RemoteCommandSession, StreamProtocol } from './types.ts';

export type SpdyRemoteCommandVersion = 'v4.channel.k8s.io' | 'v3.channel.k8s.io' | 'v2.channel.k8s.io' | 'channel.k8s.io';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

export interface ExecSpdyContext {
  readonly socket: Duplex;
  readonly version: SpdyRemoteCommandVersion;
  readonly options: RemoteCommandOptions;
  readonly timeouts: SessionTimeouts;
  readonly logger: Logger;
}

/** The stream types a client of `version` opens for `options`. */
export function expectedStreamTypes(version: SpdyRemoteCommandVersion, options: RemoteCommandOptions): ReadonlySet<StreamType> {
  const types = new Set<StreamType>(['error']);
  if (options.stdin) types.add('stdin');
  if (options.stdout) types.add('stdout');
  if (options.stderr && !options.tty) types.add('stderr');
  const resizeCapable = version === 'v4.channel.k8s.io' || version === 'v3.channel.k8s.io';
  if (options.tty && resizeCapable) types.add('resize');
  return types;
}

/**
 * Runs the SPDY connection on `socket` (already answered 101) and resolves once every
 * expected stream is open. On timeout or client loss it rejects (after telling the client
 * on the error stream when that stream exists) and ends the connection.
 */
export function serveExecSpdy(context: ExecSpdyContext): Promise<RemoteCommandSession> {
  const { socket, version, options, timeouts, logger } = context;
  const expected = expectedStreamTypes(version, options);
  const streams = new Map<StreamType, SpdyStream>();
  let ready = false;
  let resolveReady!: () => void;
  const allOpen = new Promise<void>((resolve) => (resolveReady = resolve));

  const connection = new SpdyConnection(socket, {
    role: 'server',
    logger,
    onStream: (stream) => {
      const type = stream.header('streamtype') as StreamType | undefined;
      if (ready || type === undefined || !expected.has(type) || streams.has(type)) {
        stream.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      streams.set(type, stream);
      // The client never writes on its error stream; drain it so it cannot hold the socket.
      if (type === 'error') stream.resume();
      if (streams.size === expected.size) {
        ready = true;
        resolveReady();
      }
    },
  });

  const statusFormat = version === 'v4.channel.k8s.io' ? 'status-json' : 'plain-text';

  return new Promise<RemoteCommandSession>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new ShadowplaneError('SP_SESSION_TIMEOUT', 'the client did not open its streams in time');
      const errorStream = streams.get('error');
      const say = errorStream ? endAndFlush(errorStream, encodeErrorStream({ kind: 'error', error }, statusFormat)) : Promise.resolve();
      void say.then(() => connection.end()).finally(() => connection.destroy(error));
      reject(error);
    }, timeouts.streamTimeoutMs);
    timer.unref();
    connection.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      if (!ready) reject(connection.signal.reason instanceof ShadowplaneError ? connection.signal.reason : new ShadowplaneError('SP_CLIENT_GONE'));
    });
    void allOpen.then(() => {
      clearTimeout(timer);
      if (connection.signal.aborted) return;
      resolve(buildSession(connection, streams, version, options, statusFormat, timeouts, logger));
    });
  });
}

function buildSession(
  connection: SpdyConnection,
  streams: ReadonlyMap<StreamType, SpdyStream>,
  version: SpdyRemoteCommandVersion,
  options: RemoteCommandOptions,
  statusFormat: 'status-json' | 'plain-text',
  timeouts: SessionTimeouts,
  logger: Logger,
): RemoteCommandSession {
  const abort = new AbortController();
  let finishing = false;
  connection.signal.addEventListener('abort', () => {
    if (!finishing) abort.abort(connection.signal.reason);
  });
  const stdin = streams.get('stdin') ?? null;
  const stdout = streams.get('stdout') ?? null;
  const stderr = streams.get('stderr') ?? null;
  const errorStream = streams.get('error')!;
  const resizeStream = streams.get('resize') ?? null;
  const resizes = resizeStream ? terminalSizes(resizeStream, logger) : null;
  // Only the readable side of stdout/stderr is unused; drain it in case the client writes.
  stdout?.resume();
  stderr?.resume();

  let finishPromise: Promise<void> | null = null;
  const finish = (result: CommandResult): Promise<void> => {
    finishPromise ??= (async () => {
      finishing = true;
      if (!connection.signal.aborted) {
        const flushed = Promise.all([endAndFlush(stdout), endAndFlush(stderr)]);
        if (!(await within(flushed, timeouts.flushTimeoutMs))) logger.info('exec output not flushed in time');
        await within(endAndFlush(errorStream, encodeErrorStream(result, statusFormat)), timeouts.flushTimeoutMs);
        await within(connection.end(), timeouts.flushTimeoutMs);
        if (!(await within(connection.closed, timeouts.closeGraceMs))) connection.destroy();
      }
      for (const stream of streams.values()) stream.destroy();
      if (resizes && !resizes.destroyed) resizes.destroy();
    })();
    return finishPromise;
  };

  const protocol: StreamProtocol = `spdy/${version}`;
  return {
    protocol,
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
