/**
 * Agent side of `attach`: the workload's live output (raw chunks, as they arrive, from
 * the moment of attaching) and, when configured, its stdin pipe.
 *
 * The workload never waits on an attached client: output goes to the client as fast as
 * the client takes it, and a client that falls more than `maxBacklogBytes` behind is cut
 * off (status SP_AGENT_BUSY); the log store keeps everything regardless. Stdin does wait
 * on the workload: a full stdin pipe pauses the stream (flow control stops the proxy).
 *
 * Resize frames resize the workload's terminal when it runs on one (`attach.tty`), and
 * are ignored when it runs on pipes. The session ends with the workload's exit code when
 * the workload exits, or when the proxy cancels the stream.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { ShadowplaneError, asShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { FrameDecoder, FrameKind, TO_AGENT_KINDS, decodeResize, encodeDataFrames, encodeStatus } from '../channel/frame-codec.ts';
import { FRAMES_CONTENT_TYPE, type AttachParams } from '../channel/protocol.ts';
import { respondError } from '../channel/stream-util.ts';
import type { LogStore } from './log-store.ts';
import type { Workload } from './supervisor.ts';

export interface AttachContext {
  readonly logStore: LogStore;
  readonly workload: Workload;
  /** Whether attach may write to the workload's stdin (configuration). */
  readonly stdin: boolean;
  /** Close the workload's stdin when the first attached client ends its stdin. */
  readonly stdinOnce: boolean;
  readonly logger: Logger;
  /** Default 4 MiB. */
  readonly maxBacklogBytes?: number;
}

export function serveAttach(stream: ServerHttp2Stream, params: AttachParams, ctx: AttachContext): void {
  const { workload } = ctx;
  if (!workload.running) {
    respondError(stream, new ShadowplaneError('SP_CONTAINER_NOT_RUNNING'));
    return;
  }
  const stdin = params.stdin ? workload.stdin : null;
  if (params.stdin && (!ctx.stdin || stdin === null)) {
    respondError(stream, new ShadowplaneError('SP_BAD_REQUEST', 'stdin is not enabled for attach on this container'));
    return;
  }
  const maxBacklog = ctx.maxBacklogBytes ?? 4 * 1024 * 1024;
  const decoder = new FrameDecoder(TO_AGENT_KINDS);
  let done = false;

  const finish = (status: Parameters<typeof encodeStatus>[0]): void => {
    if (done) return;
    done = true;
    unsubscribe();
    if (!stream.destroyed && !stream.writableEnded) stream.end(encodeStatus(status));
  };
  const fail = (err: ShadowplaneError): void => finish({ error: { code: err.code, ...(err.detail === undefined ? {} : { detail: err.detail }) } });

  stream.respond({ ':status': 200, 'content-type': FRAMES_CONTENT_TYPE });
  const unsubscribe = ctx.logStore.subscribeRaw((which, chunk) => {
    if (done || (which === 'stdout' ? !params.stdout : !params.stderr)) return;
    for (const frame of encodeDataFrames(which === 'stdout' ? FrameKind.stdout : FrameKind.stderr, chunk)) stream.write(frame);
    if (stream.writableLength > maxBacklog) {
      ctx.logger.warn('attached client fell behind the workload output; detaching it');
      fail(new ShadowplaneError('SP_AGENT_BUSY', 'attach client fell behind the workload output'));
    }
  });

  stream.on('data', (chunk: Buffer) => {
    if (done) return;
    try {
      for (const frame of decoder.push(chunk)) {
        if (frame.kind === FrameKind.stdin && stdin !== null && !stdin.writableEnded && !stdin.destroyed) {
          if (!stdin.write(frame.payload)) {
            stream.pause();
            stdin.once('drain', () => stream.resume());
          }
        } else if (frame.kind === FrameKind.stdinEnd && stdin !== null && ctx.stdinOnce) {
          stdin.end();
        } else if (frame.kind === FrameKind.resize) {
          const size = decodeResize(frame.payload);
          workload.resize(size.width, size.height);
        }
      }
    } catch (err) {
      fail(asShadowplaneError(err, 'SP_FRAME_INVALID'));
    }
  });
  stream.once('close', () => {
    done = true;
    unsubscribe();
  });
  void workload.exited.then((exit) => finish({ exitCode: exit.exitCode }));
}
