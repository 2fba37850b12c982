/**
 * exec and attach on a confidential pod: kubectl's remote-command protocol (WebSocket or
 * SPDY, terminated here) bridged to the agent's command operation.
 *
 * Contract after the 101: this function never throws; every outcome ends the session the
 * way kubectl needs (exit code or error Status on the error channel, then a normal close).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ErrorCode, isShadowplaneError, ShadowplaneError } from '../../errors.ts';
import { acceptRemoteCommand, parseRemoteCommandOptions } from '../streams/upgrade.ts';
import type { CommandResult } from '../streams/types.ts';
import { containerOf } from './container.ts';
import type { OperationContext } from './service.ts';
import { asUpgradeRequest } from '../request.ts';

const MAX_ARGS = 4096;

export async function serveCommand(ctx: OperationContext, op: 'exec' | 'attach', req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const options = parseRemoteCommandOptions(ctx.query);
  const command = ctx.query.getAll('command');
  if (op === 'exec' && (command.length === 0 || command.length > MAX_ARGS)) {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'exec needs 1 to 4096 command arguments');
  }
  const container = await containerOf(ctx);
  const session = await acceptRemoteCommand(asUpgradeRequest(req), socket, head, options, ctx.accept);
  ctx.track.session(op);
  const record = ctx.audit.begin({ user: ctx.caller.user.name, namespace: ctx.route.namespace, pod: ctx.route.name, container, operation: op, protocol: session.protocol });
  ctx.logger.info({ container, protocol: session.protocol, tty: options.tty, stdin: options.stdin }, `${op} started`);

  let result: CommandResult;
  try {
    const params = { container, ...options };
    result =
      op === 'exec'
        ? await ctx.connection.exec({ ...params, command }, session, { signal: session.aborted })
        : await ctx.connection.attach(params, session, { signal: session.aborted });
  } catch (err) {
    result = { kind: 'error', error: err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_AGENT_SESSION_LOST', undefined, { cause: err }) };
  }
  // Read before finishing: a client that leaves once it has the outcome did not cause it.
  const clientLeft = session.aborted.aborted;
  if (!clientLeft) await session.finish(result).catch(() => undefined);

  const exitCode = result.kind === 'exit' ? result.code : undefined;
  // A client that left first (Ctrl-C, a killed kubectl) cancelled the agent's operation:
  // whatever the cancel made of it, that is the client's doing, not an agent failure. How
  // it left is the abort's reason: a protocol error it committed keeps its own code.
  const error = clientLeft ? clientDeparture(session.aborted.reason) : result.kind === 'error' ? result.error.code : undefined;
  if (error !== undefined) ctx.track.fail(error);
  ctx.audit.finish(record, { bytesIn: session.counters.bytesIn, bytesOut: session.counters.bytesOut, ...(exitCode === undefined ? {} : { exitCode }), ...(error === undefined ? {} : { error }) });
  ctx.logger.info({ container, exitCode, code: error, bytesIn: session.counters.bytesIn, bytesOut: session.counters.bytesOut }, `${op} ended`);
}

/** Why a client's session ended before its outcome: the terminator's error, or SP_CLIENT_GONE. */
function clientDeparture(reason: unknown): ErrorCode {
  return isShadowplaneError(reason) ? reason.code : 'SP_CLIENT_GONE';
}
