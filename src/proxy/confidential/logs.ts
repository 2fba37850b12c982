/**
 * pods/log of a confidential pod, served from the agent's log store inside the pod's TEE.
 * Answered like the API server does: 200 text/plain, headers flushed at once, every chunk
 * written as it arrives (so `logs -f` sees lines promptly), the body ends when the log
 * does. Refusals before the first byte are Status errors.
 */
import { pipeline } from 'node:stream';
import { parseLogsQuery } from '../../channel/protocol.ts';
import type { AnyRequest } from '../request.ts';
import { writeHead, type AnyResponse } from '../respond.ts';
import { containerOf } from './container.ts';
import type { OperationContext } from './service.ts';

export async function serveLogs(ctx: OperationContext, req: AnyRequest, res: AnyResponse): Promise<void> {
  const container = await containerOf(ctx);
  const query = new URLSearchParams(ctx.query);
  query.set('container', container);
  const params = parseLogsQuery(query);
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  res.once('close', onClose);
  const body = await ctx.connection.logs(params, { signal: abort.signal });
  ctx.track.session('logs');
  const record = ctx.audit.begin({ user: ctx.caller.user.name, namespace: ctx.route.namespace, pod: ctx.route.name, container, operation: 'logs', protocol: req.httpVersion === '2.0' ? 'h2' : 'http/1.1' });
  let bytesOut = 0;
  body.on('data', (chunk: Buffer) => (bytesOut += chunk.length));
  writeHead(res, 200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  if ('flushHeaders' in res) res.flushHeaders();
  await new Promise<void>((resolve) => {
    pipeline(body, res, (err) => {
      res.off('close', onClose);
      const code = err === undefined || err === null ? undefined : abort.signal.aborted ? 'SP_CLIENT_GONE' : 'SP_AGENT_SESSION_LOST';
      if (code !== undefined) ctx.track.fail(code);
      ctx.audit.finish(record, { bytesOut, ...(code === undefined ? {} : { error: code }) });
      ctx.logger.info({ container, follow: params.follow === true, bytesOut, code }, 'logs served');
      resolve();
    });
  });
}
