/**
 * pods/log of a confidential pod, served from the agent's log store inside the pod's TEE.
 * Answered like the API server does: 200 text/plain, headers flushed at once, every chunk
 * written as it arrives (so `logs -f` sees lines promptly), the body ends when the log
 * does. Refusals before the first byte are Status errors.
 */
import { parseLogsQuery } from '../../channel/protocol.ts';
import { isShadowplaneError, ShadowplaneError } from '../../errors.ts';
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
    // Not pipeline(): a broken channel stream must not tear the response down. The API
    // server copies the kubelet's log stream and ignores a copy error (apiserver
    // responsewriters.StreamObject: `io.Copy(writer, out)`), so the body then simply ends
    // and `kubectl logs -f` exits 0; a reset would show kubectl's raw HTTP/2 error instead.
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      res.off('close', onClose);
      const code = err === undefined ? undefined : abort.signal.aborted ? 'SP_CLIENT_GONE' : isShadowplaneError(err) ? err.code : 'SP_AGENT_SESSION_LOST';
      if (code !== undefined) ctx.track.fail(code);
      ctx.audit.finish(record, { bytesOut, ...(code === undefined ? {} : { error: code }) });
      ctx.logger.info({ container, follow: params.follow === true, bytesOut, code }, 'logs served');
      resolve();
    };
    // A response error is followed by its 'close', handled below.
    res.on('error', () => undefined);
    body.pipe(res);
    body.once('end', () => finish());
    body.once('error', (err: Error) => {
      body.unpipe(res);
      if (!abort.signal.aborted && !res.writableEnded && !res.destroyed) res.end();
      finish(err);
    });
    res.once('close', () => {
      if (done) return;
      // The client went away (or the response broke): stop the agent's side.
      abort.abort();
      body.destroy();
      finish(new ShadowplaneError('SP_CLIENT_GONE'));
    });
  });
}
