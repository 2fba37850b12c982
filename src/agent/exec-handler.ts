/**
 * Agent side of `exec`: one HTTP/2 stream of frames ↔ one process in this container.
 *
 * Order: for a TTY, the first resize frame is awaited (up to `ttyWaitMs`) so that the
 * terminal has the client's size before the command first asks for it (`stty size`);
 * the process starts; the agent answers 200; frames flow; the last frame is the status
 * with the exit code, then END_STREAM. If the proxy cancels the stream first, the
 * process is sent SIGHUP (TTY) or SIGTERM, then SIGKILL after `killGraceMs`.
 *
 * Backpressure: a full HTTP/2 stream pauses the process's output; a full process stdin
 * pauses reading from the stream (HTTP/2 flow control then stops the proxy).
 */
import type { ServerHttp2Stream } from 'node:http2';
import { asShadowplaneError, type ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { FrameKind, TO_AGENT_KINDS, FrameDecoder, decodeResize, encodeDataFrames, encodeStatus, type Frame, type TerminalSizeFrame } from '../channel/frame-codec.ts';
import { FRAMES_CONTENT_TYPE, type ExecParams } from '../channel/protocol.ts';
import { respondError } from '../channel/stream-util.ts';
import { startPipeProcess, startPtyProcess, type ExecProcess } from './exec-process.ts';

export interface ExecContext {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly logger: Logger;
  /** How long a TTY exec waits for the client's terminal size. Default 1000. */
  readonly ttyWaitMs?: number;
  /** Time between the polite signal and SIGKILL when the proxy cancels. Default 2000. */
  readonly killGraceMs?: number;
}

const DEFAULT_SIZE: TerminalSizeFrame = { width: 80, height: 24 };
/** Frames held before the process exists; more than this pauses the stream. */
const MAX_EARLY_BYTES = 1024 * 1024;
/** What a held frame counts against MAX_EARLY_BYTES besides its payload (its object and buffer). */
const EARLY_FRAME_OVERHEAD = 128;

export function serveExec(stream: ServerHttp2Stream, params: ExecParams, ctx: ExecContext): void {
  const decoder = new FrameDecoder(TO_AGENT_KINDS);
  const early: Frame[] = [];
  let earlyBytes = 0;
  let firstSize: TerminalSizeFrame | null = null;
  let proc: ExecProcess | null = null;
  let starting = false;
  let inputEnded = false;
  let inputBlocked = false;
  let done = false;
  let ttyTimer: NodeJS.Timeout | undefined;

  const fail = (err: ShadowplaneError): void => {
    done = true;
    // A refused exec never starts its command (the terminal-size wait would start it).
    clearTimeout(ttyTimer);
    if (proc !== null) stopProcess(proc, params.tty, ctx.killGraceMs ?? 2000);
    if (stream.headersSent && !stream.destroyed && !stream.writableEnded) stream.end(encodeStatus({ error: { code: err.code, ...(err.detail === undefined ? {} : { detail: err.detail }) } }));
    else respondError(stream, err);
  };

  const apply = (frame: Frame): void => {
    const p = proc as ExecProcess;
    if (frame.kind === FrameKind.stdin) {
      if (params.stdin && !inputEnded && !p.write(frame.payload)) {
        inputBlocked = true;
        stream.pause();
      }
    } else if (frame.kind === FrameKind.stdinEnd) {
      if (params.stdin && !inputEnded) p.endInput();
      inputEnded = true;
    } else if (frame.kind === FrameKind.resize) {
      if (params.tty) {
        const size = decodeResize(frame.payload);
        p.resize(size.width, size.height);
      }
    }
  };

  const start = async (): Promise<void> => {
    if (starting || done) return;
    starting = true;
    clearTimeout(ttyTimer);
    const spec = { command: params.command[0] as string, args: params.command.slice(1), env: ctx.env, ...(ctx.cwd === undefined ? {} : { cwd: ctx.cwd }), stdin: params.stdin, stdout: params.stdout, stderr: params.stderr };
    let p: ExecProcess;
    try {
      p = params.tty ? startPtyProcess(spec, firstSize ?? DEFAULT_SIZE) : await startPipeProcess(spec);
    } catch (err) {
      fail(asShadowplaneError(err, 'SP_EXEC_START_FAILED'));
      return;
    }
    proc = p;
    if (done || stream.destroyed) {
      stopProcess(p, params.tty, ctx.killGraceMs ?? 2000);
      return;
    }
    stream.respond({ ':status': 200, 'content-type': FRAMES_CONTENT_TYPE });
    p.onOutput((which, chunk) => {
      if (done || stream.destroyed) return;
      if (which === 'stdout' ? !params.stdout : !params.stderr) return;
      let ok = true;
      for (const frame of encodeDataFrames(which === 'stdout' ? FrameKind.stdout : FrameKind.stderr, chunk)) ok = stream.write(frame);
      if (!ok) {
        p.pauseOutput();
        stream.once('drain', () => p.resumeOutput());
      }
    });
    p.onInputDrain(() => {
      inputBlocked = false;
      stream.resume();
    });
    try {
      for (const frame of early.splice(0)) apply(frame);
    } catch (err) {
      fail(asShadowplaneError(err, 'SP_FRAME_INVALID'));
      return;
    }
    earlyBytes = 0;
    if (!inputBlocked) stream.resume();
    const code = await p.exited;
    if (done || stream.destroyed) return;
    done = true;
    ctx.logger.debug({ exitCode: code }, 'exec finished');
    stream.end(encodeStatus({ exitCode: code }));
  };

  stream.on('data', (chunk: Buffer) => {
    if (done) return;
    try {
      for (const frame of decoder.push(chunk)) {
        if (proc !== null) {
          apply(frame);
        } else if (frame.kind === FrameKind.resize && firstSize === null && params.tty) {
          firstSize = decodeResize(frame.payload);
          void start();
        } else {
          early.push(frame);
          // Each held frame costs memory beyond its payload: empty frames count too.
          earlyBytes += frame.payload.length + EARLY_FRAME_OVERHEAD;
          if (earlyBytes > MAX_EARLY_BYTES) stream.pause();
        }
      }
    } catch (err) {
      fail(asShadowplaneError(err, 'SP_FRAME_INVALID'));
    }
  });
  stream.once('end', () => {
    // The proxy sent END_STREAM: no more input of any kind.
    if (proc !== null && params.stdin && !inputEnded) {
      inputEnded = true;
      proc.endInput();
    } else if (proc === null) {
      early.push({ kind: FrameKind.stdinEnd, payload: Buffer.alloc(0) });
    }
  });
  stream.once('close', () => {
    if (done) return;
    done = true;
    if (proc !== null) stopProcess(proc, params.tty, ctx.killGraceMs ?? 2000);
  });

  if (params.tty) {
    ttyTimer = setTimeout(() => void start(), ctx.ttyWaitMs ?? 1000);
    stream.once('close', () => clearTimeout(ttyTimer));
  } else {
    void start();
  }
}

/** A cancelled exec: hang up (TTY) or terminate, then kill if it is still there. */
function stopProcess(proc: ExecProcess, tty: boolean, graceMs: number): void {
  // Nobody reads the output any more: drain it, or a paused pipe keeps the process alive.
  proc.resumeOutput();
  proc.kill(tty ? 'SIGHUP' : 'SIGTERM');
  let release: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    proc.kill('SIGKILL');
    // A child that left the group still holds the pipes: let go of them too.
    release = setTimeout(() => proc.release(), graceMs);
    release.unref();
  }, graceMs);
  timer.unref();
  void proc.exited.then(() => {
    clearTimeout(timer);
    clearTimeout(release);
  });
}

