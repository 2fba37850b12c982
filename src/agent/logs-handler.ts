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
  /** The previous run's lines, or undefined when there was none. */
  readonly previous: () => readonly LogBlock[] | undefined;
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

export function serveLogs(stream: ServerHttp2Stream, params: LogsParams, ctx: LogsContext): void {
  let source: LogSource = ctx.current;
  if (params.previous === true) {
    let blocks: readonly LogBlock[] | undefined;
    try {
      blocks = ctx.previous();
    } catch (err) {
      ctx.logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'previous log unreadable');
      blocks = undefined;
    }
    if (blocks === undefined) {
      respondError(stream, new ShadowplaneError('SP_LOGS_PREVIOUS_NOT_FOUND', ctx.noFilesReason));
      return;
    }
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
