/**
 * Proxy side of one exec or attach operation: the caller's streams (a terminated
 * kubectl session, usually) on one side, one HTTP/2 stream of frames to the agent on the
 * other.
 *
 * - stdin bytes, stdin end and resizes go out as frames as soon as they arrive (before
 *   the agent's answer: a TTY exec waits for its first size);
 * - stdout/stderr frames are written to the caller's writables; when one of them is
 *   full, reading from the agent stops until it drains (HTTP/2 flow control then stops
 *   the agent, which pauses the process);
 * - the operation resolves with the exit code from the agent's status frame, or with
 *   an error: the agent's (a non-200 answer or an error status), SP_AGENT_SESSION_LOST
 *   when the stream or session broke, SP_AGENT_PROTOCOL for a malformed answer.
 *
 * It never rejects and never ends the caller's writables (the caller finishes its
 * session with the result, in its protocol's order).
 */
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { CommandResult, TerminalSize } from '../proxy/streams/types.ts';
import { FROM_AGENT_KINDS, FrameDecoder, FrameKind, decodeStatus, encodeDataFrames, encodeFrame, encodeResize, type StatusFrame } from './frame-codec.ts';
import { FRAMES_CONTENT_TYPE, PROTOCOL_LIMITS, decodeErrorBody, errorFromStatus } from './protocol.ts';
import { streamFailure } from './channel-stream.ts';
import { readBody } from './stream-util.ts';

/** The caller's side of a command (structurally a RemoteCommandSession). */
export interface CommandStreams {
  readonly stdin: Readable | null;
  readonly stdout: Writable | null;
  readonly stderr: Writable | null;
  /** Object mode: TerminalSize values. */
  readonly resizes: Readable | null;
}

function failed(error: ShadowplaneError): CommandResult {
  return { kind: 'error', error };
}

function resultOf(status: StatusFrame): CommandResult {
  return 'exitCode' in status ? { kind: 'exit', code: status.exitCode } : failed(errorFromStatus(status.error));
}

export function runCommand(session: ClientHttp2Session, path: string, io: CommandStreams, signal?: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve(failed(new ShadowplaneError('SP_AGENT_SESSION_LOST', 'cancelled')));
      return;
    }
    let req: ClientHttp2Stream;
    try {
      req = session.request({ ':method': 'POST', ':path': path, 'content-type': FRAMES_CONTENT_TYPE }, { endStream: false });
    } catch (err) {
      resolve(failed(new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, { cause: err })));
      return;
    }
    const decoder = new FrameDecoder(FROM_AGENT_KINDS);
    let status: StatusFrame | null = null;
    let settled = false;
    let blocked = 0;
    let stdinPaused = false;

    const finish = (result: CommandResult): void => {
      if (settled) return;
      settled = true;
      io.stdin?.off('data', onStdin);
      io.stdin?.off('end', onStdinEnd);
      io.resizes?.off('data', onResize);
      req.off('drain', onRequestDrain);
      signal?.removeEventListener('abort', onAbort);
      if (result.kind === 'exit') {
        if (!req.writableEnded) req.end();
      } else if (!req.destroyed) {
        req.close(constants.NGHTTP2_CANCEL);
      }
      resolve(result);
    };

    const send = (frame: Buffer): boolean => !req.destroyed && !req.writableEnded && req.write(frame);
    const onStdin = (chunk: Buffer): void => {
      let ok = true;
      for (const frame of encodeDataFrames(FrameKind.stdin, chunk)) ok = send(frame);
      if (!ok && !req.destroyed && io.stdin !== null) {
        stdinPaused = true;
        io.stdin.pause();
      }
    };
    const onRequestDrain = (): void => {
      if (stdinPaused) {
        stdinPaused = false;
        io.stdin?.resume();
      }
    };
    const onStdinEnd = (): void => void send(encodeFrame(FrameKind.stdinEnd));
    const onResize = (size: TerminalSize): void => void send(encodeResize(size));
    const onAbort = (): void => finish(failed(new ShadowplaneError('SP_AGENT_SESSION_LOST', 'cancelled')));

    const deliver = (target: Writable | null, payload: Buffer): void => {
      if (target === null || target.destroyed) return;
      if (!target.write(payload)) {
        blocked += 1;
        req.pause();
        target.once('drain', () => {
          blocked -= 1;
          if (blocked === 0) req.resume();
        });
      }
    };
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        finish(failed(new ShadowplaneError('SP_AGENT_PROTOCOL', isShadowplaneError(err) ? err.code : undefined)));
        return;
      }
      for (const frame of frames) {
        if (status !== null) {
          finish(failed(new ShadowplaneError('SP_AGENT_PROTOCOL', 'frame after the status')));
          return;
        }
        if (frame.kind === FrameKind.stdout) deliver(io.stdout, frame.payload);
        else if (frame.kind === FrameKind.stderr) deliver(io.stderr, frame.payload);
        else {
          try {
            status = decodeStatus(frame.payload);
          } catch {
            finish(failed(new ShadowplaneError('SP_AGENT_PROTOCOL', 'status frame')));
            return;
          }
        }
      }
    };

    req.once('response', (headers) => {
      if (headers[':status'] !== 200) {
        readBody(req, PROTOCOL_LIMITS.maxJsonBody).then(
          (body) => finish(failed(decodeErrorBody(body))),
          (err: unknown) => finish(failed(streamFailure(req, err))),
        );
        return;
      }
      req.on('data', onData);
      req.once('end', () => {
        // The agent always ends with a status; an end without one is a session that died.
        if (status === null || req.aborted) finish(failed(new ShadowplaneError('SP_AGENT_SESSION_LOST', 'stream ended without a status')));
        else finish(resultOf(status));
      });
    });
    req.once('error', (err: unknown) => finish(failed(streamFailure(req, err))));
    req.once('aborted', () => finish(failed(streamFailure(req))));
    req.once('close', () => finish(failed(streamFailure(req))));
    req.on('drain', onRequestDrain);
    if (io.stdin?.readableEnded === true) onStdinEnd();
    io.stdin?.on('data', onStdin);
    io.stdin?.once('end', onStdinEnd);
    io.resizes?.on('data', onResize);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
