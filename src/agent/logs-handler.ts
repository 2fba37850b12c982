/**
 * Agent side of `logs`: validates the query (protocol.ts), picks the source (this run's
 * log store, or the previous run's file for `previous`), and streams the answer as
 * text/plain. `follow` ends when the workload's output ends or the proxy cancels.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { LOGS_CONTENT_TYPE, parseRfc3339, type LogsParams } from '../channel/protocol.ts';
import { respondError } from '../channel/stream-util.ts';
import type { LogBlock, LogStream } from './log-block.ts';
import { StaticLogSource, writeLogs, type LogQuery, type LogSource } from './log-query.ts';
import type { NanoClock } from './log-time.ts';

export interface LogsContext {
  readonly current: LogSource;
  /** The previous run's lines, or undefined when there was none (see sharedPreviousLogs). */
  readonly previous: SharedPreviousLogs;
  /** Why this agent keeps no files (so no previous run), when it keeps none. */
  readonly noFilesReason?: string;
  readonly clock: NanoClock;
  readonly logger: Logger;
}

const STREAMS: Readonly<Record<NonNullable<LogsParams['stream']>, ReadonlySet<LogStream>>> = {
  All: new Set(['stdout', 'stderr']),
  Stdout: new Set(['stdout']),
  Stderr: new Set(['stderr']),
};

/** The kubelet's reading of PodLogOptions (NewLogOptions): since from seconds or a time. */
export function toLogQuery(params: LogsParams, nowNs: bigint): LogQuery {
  let sinceNs: bigint | undefined;
  if (params.sinceSeconds !== undefined) sinceNs = nowNs - BigInt(params.sinceSeconds) * 1_000_000_000n;
  if (params.sinceTime !== undefined) sinceNs = parseRfc3339(params.sinceTime);
  return {
    follow: params.follow === true && params.previous !== true,
    timestamps: params.timestamps === true,
    ...(params.tailLines === undefined ? {} : { tailLines: params.tailLines }),
    ...(sinceNs === undefined ? {} : { sinceNs }),
    ...(params.limitBytes === undefined ? {} : { limitBytes: params.limitBytes }),
    streams: STREAMS[params.stream ?? 'All'],
  };
}

/**
 * The previous run's lines, read from the files once and shared by every reader that
 * holds them, dropped when the last one is done: however many `logs --previous` run at
 * once, the agent holds one parsed copy (a copy per request let a few slow readers take
 * gigabytes). The previous run does not change while this one runs.
 */
export interface SharedPreviousLogs {
  /** The blocks, or undefined when there was no previous run; each acquire needs a release. */
  acquire(): readonly LogBlock[] | undefined;
  release(): void;
}

export function sharedPreviousLogs(read: () => readonly LogBlock[] | undefined): SharedPreviousLogs {
  let blocks: readonly LogBlock[] | undefined;
  let holders = 0;
  return {
    acquire() {
      if (holders === 0) blocks = read();
      if (blocks !== undefined) holders++;
      return blocks;
    },
    release() {
      if (holders > 0 && --holders === 0) blocks = undefined;
    },
  };
}

export function serveLogs(stream: ServerHttp2Stream, params: LogsParams, ctx: LogsContext): void {
  let source: LogSource = ctx.current;
  if (params.previous === true) {
    let blocks: readonly LogBlock[] | undefined;
    try {
      blocks = ctx.previous.acquire();
    } catch (err) {
      ctx.logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'previous log unreadable');
      blocks = undefined;
    }
    if (blocks === undefined) {
      respondError(stream, new ShadowplaneError('SP_LOGS_PREVIOUS_NOT_FOUND', ctx.noFilesReason));
      return;
    }
    stream.once('close', () => ctx.previous.release());
    source = new StaticLogSource(blocks);
  }
  const query = toLogQuery(params, ctx.clock());
  const cancelled = new AbortController();
  stream.once('close', () => cancelled.abort());
  stream.respond({ ':status': 200, 'content-type': LOGS_CONTENT_TYPE });
  writeLogs(source, query, stream, cancelled.signal).then(
    () => {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    },
    (err: unknown) => {
      ctx.logger.warn({ code: err instanceof ShadowplaneError ? err.code : 'SP_INTERNAL' }, 'log stream failed');
      respondError(stream, new ShadowplaneError('SP_INTERNAL'));
    },
  );
}
