/**
 * The HTTP/1.1 edges of an upgrade: reading the request's upgrade headers, answering
 * 101 for SPDY, and refusing an upgrade with a Status.
 *
 * A refused upgrade always ends the connection (`Connection: close`): after a non-101
 * answer the bytes that follow on the socket are not HTTP any more, and reusing the
 * connection is how CVE-2018-1002105 happened. kubectl 1.30+ falls back from WebSocket to
 * SPDY on any non-101 answer and then asks again on a fresh connection, so a refusal is
 * typically answered twice; both answers carry the same Status.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ShadowplaneError } from '../../errors.ts';
import { statusForError } from '../../kube-streams/status.ts';
import type { UpgradeRequest } from './types.ts';

/** How long a refused client gets to read the answer before the socket is destroyed. */
const REJECT_LINGER_MS = 5000;

function ignoreError(): void {}

/** Every value of a header in the order received, one entry per header line. */
export function headerLines(req: UpgradeRequest, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === lower) out.push(req.rawHeaders[i + 1]!);
  }
  return out;
}

/** The `Upgrade` protocol the client asked for, lowercased, or '' when there is none. */
export function upgradeProtocol(req: UpgradeRequest): string {
  const value = req.headers.upgrade;
  const first = Array.isArray(value) ? value[0] : value;
  return (first ?? '').trim().toLowerCase();
}

/**
 * Writes `101 Switching Protocols` with the given extra headers. Header values are
 * server-chosen constants (never echoed client input), so they cannot split the response.
 */
export function writeSwitchingProtocols(socket: Duplex, upgrade: string, extra: ReadonlyArray<readonly [string, string]>): void {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${upgrade}`];
  for (const [name, value] of extra) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}

/**
 * Answers an upgrade request with a non-101 HTTP/1.1 response whose body is the Status
 * for `error`, then closes the connection. Safe to call on a socket that is already gone.
 */
export function rejectUpgrade(socket: Duplex, error: ShadowplaneError): void {
  socket.on('error', ignoreError);
  if (socket.destroyed || socket.writableEnded) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(statusForError(error));
  const head = [
    `HTTP/1.1 ${error.http} ${STATUS_CODES[error.http] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
  ].join('\r\n');
  // Whatever the client still sends is not read as HTTP: discard it.
  socket.resume();
  socket.end(`${head}\r\n\r\n${body}`);
  const timer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
