/**
 * Entry points for terminating kubectl's stream protocols on an upgraded HTTP/1.1
 * connection. The caller (the proxy for confidential pods, the test stand-in for
 * ordinary ones) hands over the request, socket and head from the server's 'upgrade'
 * event, after it decided to serve the request itself; it gets back a protocol-free
 * session (types.ts).
 *
 * Protocol selection:
 * - exec/attach: `Upgrade: websocket` → channel.k8s.io over WebSocket (v5 preferred, then
 *   v4, v4.base64, channel.k8s.io, base64.channel.k8s.io); `Upgrade: SPDY/3.1` → the
 *   remote command protocol the client lists first among v4, v3, v2, v1 in its repeated
 *   X-Stream-Protocol-Version headers (kubectl lists v5 first, which only WebSocket
 *   serves, so it gets v4, the kubelet's maximum).
 * - port-forward: SPDY `portforward.k8s.io`; WebSocket with subprotocol
 *   `SPDY/3.1+portforward.k8s.io` (the KEP-4006 tunnel); any other WebSocket → the legacy
 *   channel protocol with `?ports=`.
 *
 * Until the 101 is sent, every refusal reaches the client as a Status (rejectUpgrade) and
 * the promise rejects with the same ShadowplaneError. After the 101, failures end the
 * connection (and, where the protocol has a place for it, say why first).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ShadowplaneError, asShadowplaneError } from '../../errors.ts';
import { silentLogger } from '../../log.ts';
import {
  EXEC_CHANNEL_PROTOCOLS,
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  negotiateChannelProtocol,
  parseOfferedProtocols,
} from '../../kube-streams/ws-channel.ts';
import { serveExecSpdy, type SpdyRemoteCommandVersion } from './exec-spdy.ts';
import { serveExecWebSocket } from './exec-websocket.ts';
import { headerLines, rejectUpgrade, upgradeProtocol, writeSwitchingProtocols } from './http-upgrade.ts';
import { servePortForwardSpdy } from './portforward-spdy.ts';
import { TUNNEL_PROTOCOL, parseLegacyPorts, servePortForwardLegacy, servePortForwardTunnel } from './portforward-websocket.ts';
import { DEFAULT_TIMEOUTS, type SessionTimeouts } from './session-timing.ts';
import type { PortForwardSession, RemoteCommandOptions, RemoteCommandSession, UpgradeRequest } from './types.ts';
import { acceptWebSocket } from './ws-accept.ts';

export { rejectUpgrade };

export interface AcceptOptions {
  readonly logger?: Logger;
  /** How long the client may take to open its SPDY streams. @default 30 s */
  readonly streamTimeoutMs?: number;
  /** How long finishing waits for output to flush. @default 30 s */
  readonly flushTimeoutMs?: number;
  /** How long the client gets to close after the end sequence. @default 5 s */
  readonly closeGraceMs?: number;
  /** Upper bound for the WebSocket handshake. @default 10 s */
  readonly handshakeTimeoutMs?: number;
  /** Largest WebSocket message accepted from the client. @default 1 MiB */
  readonly maxPayload?: number;
  /** Forwarded connections open at once in one port-forward session (SPDY and tunnel). @default 2048 */
  readonly maxPortForwardConnections?: number;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** A browser or a load test behind one `kubectl port-forward` opens many connections at once. */
const DEFAULT_MAX_PORT_FORWARD_CONNECTIONS = 2048;

const SPDY_EXEC_VERSIONS: readonly SpdyRemoteCommandVersion[] = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const SPDY_PORT_FORWARD = 'portforward.k8s.io';
const PROTOCOL_HEADER = 'X-Stream-Protocol-Version';

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function parseBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new ShadowplaneError('SP_BAD_REQUEST', `query parameter ${name} is not a boolean`);
}

/**
 * The stdin/stdout/stderr/tty flags of an exec or attach query, with Go's ParseBool
 * semantics (1, t, T, TRUE, true, True and their false counterparts; anything else is
 * SP_BAD_REQUEST; absent is false; the first value of a repeated key counts). With a
 * TTY, stderr is merged into stdout and reported false, as the kubelet does. At least one
 * of stdin, stdout and stderr is required, as the API server requires.
 */
export function parseRemoteCommandOptions(query: URLSearchParams): RemoteCommandOptions {
  const tty = parseBool(query, 'tty');
  const options = {
    stdin: parseBool(query, 'stdin'),
    stdout: parseBool(query, 'stdout'),
    stderr: parseBool(query, 'stderr') && !tty,
    tty,
  };
  if (!options.stdin && !options.stdout && !parseBool(query, 'stderr')) {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'at least one of stdin, stdout and stderr is required');
  }
  return Object.freeze(options);
}

function timeoutsOf(opts: AcceptOptions): SessionTimeouts {
  return {
    streamTimeoutMs: opts.streamTimeoutMs ?? DEFAULT_TIMEOUTS.streamTimeoutMs,
    flushTimeoutMs: opts.flushTimeoutMs ?? DEFAULT_TIMEOUTS.flushTimeoutMs,
    closeGraceMs: opts.closeGraceMs ?? DEFAULT_TIMEOUTS.closeGraceMs,
  };
}

/** The client's X-Stream-Protocol-Version offers, one per header line (commas also split). */
function offeredStreamProtocols(req: UpgradeRequest): string[] {
  return headerLines(req, PROTOCOL_HEADER)
    .flatMap((line) => line.split(','))
    .map((value) => value.trim())
    .filter((value) => value.length > 0);
}

function refuse(socket: Duplex, error: ShadowplaneError): Promise<never> {
  rejectUpgrade(socket, error);
  return Promise.reject(error);
}

/**
 * Accepts an exec or attach upgrade and resolves with the session once the client's
 * streams are open. See the module comment for protocol selection and failure handling.
 */
export async function acceptRemoteCommand(
  req: UpgradeRequest,
  socket: Duplex,
  head: Buffer,
  options: RemoteCommandOptions,
  opts: AcceptOptions = {},
): Promise<RemoteCommandSession> {
  const logger = opts.logger ?? silentLogger();
  const timeouts = timeoutsOf(opts);
  const upgrade = upgradeProtocol(req);

  if (upgrade === 'websocket') {
    const protocol = negotiateChannelProtocol(parseOfferedProtocols(req.headers['sec-websocket-protocol']), EXEC_CHANNEL_PROTOCOLS);
    if (protocol === null) return refuse(socket, new ShadowplaneError('SP_STREAM_PROTOCOL_UNSUPPORTED'));
    const { ws } = await acceptWebSocket(req, socket, head, {
      maxPayload: opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      timeoutMs: opts.handshakeTimeoutMs,
      selectProtocol: () => protocol.name,
    });
    logger.debug({ protocol: protocol.name || 'channel.k8s.io' }, 'exec session over websocket');
    return serveExecWebSocket({ ws, socket, protocol, options, timeouts, logger });
  }

  if (upgrade === 'spdy/3.1') {
    const offered = offeredStreamProtocols(req);
    let version: SpdyRemoteCommandVersion;
    if (offered.length === 0) {
      // Clients that predate negotiation speak v1 and expect no version header back.
      version = 'channel.k8s.io';
    } else {
      const match = offered.find((p): p is SpdyRemoteCommandVersion => (SPDY_EXEC_VERSIONS as readonly string[]).includes(p));
      if (match === undefined) return refuse(socket, new ShadowplaneError('SP_STREAM_PROTOCOL_UNSUPPORTED'));
      version = match;
    }
    writeSwitchingProtocols(socket, 'SPDY/3.1', offered.length === 0 ? [] : [[PROTOCOL_HEADER, version]]);
    if (head.length > 0) socket.unshift(head);
    logger.debug({ protocol: version }, 'exec session over spdy');
    return serveExecSpdy({ socket, version, options, timeouts, logger });
  }

  return refuse(socket, new ShadowplaneError('SP_UPGRADE_REQUIRED'));
}

/**
 * Accepts a port-forward upgrade (SPDY, WebSocket tunnel, or legacy WebSocket) and
 * resolves with the session; forwarded connections then arrive on `connections()`.
 */
export async function acceptPortForward(req: UpgradeRequest, socket: Duplex, head: Buffer, opts: AcceptOptions = {}): Promise<PortForwardSession> {
  const logger = opts.logger ?? silentLogger();
  const timeouts = timeoutsOf(opts);
  const upgrade = upgradeProtocol(req);

  if (upgrade === 'spdy/3.1') {
    const offered = offeredStreamProtocols(req);
    if (offered.length > 0 && !offered.includes(SPDY_PORT_FORWARD)) {
      return refuse(socket, new ShadowplaneError('SP_STREAM_PROTOCOL_UNSUPPORTED'));
    }
    writeSwitchingProtocols(socket, 'SPDY/3.1', offered.length === 0 ? [] : [[PROTOCOL_HEADER, SPDY_PORT_FORWARD]]);
    if (head.length > 0) socket.unshift(head);
    logger.debug({ protocol: SPDY_PORT_FORWARD }, 'port-forward session over spdy');
    return servePortForwardSpdy({ socket, protocol: 'spdy/portforward.k8s.io', timeouts, logger, maxConnections: opts.maxPortForwardConnections ?? DEFAULT_MAX_PORT_FORWARD_CONNECTIONS });
  }

  if (upgrade === 'websocket') {
    const offered = parseOfferedProtocols(req.headers['sec-websocket-protocol']);
    const wsOptions = { maxPayload: opts.maxPayload ?? DEFAULT_MAX_PAYLOAD, timeoutMs: opts.handshakeTimeoutMs };
    if (offered.includes(TUNNEL_PROTOCOL)) {
      const { ws } = await acceptWebSocket(req, socket, head, { ...wsOptions, selectProtocol: () => TUNNEL_PROTOCOL });
      logger.debug({ protocol: TUNNEL_PROTOCOL }, 'port-forward session over the websocket tunnel');
      return servePortForwardTunnel({ ws, socket, timeouts, logger, maxConnections: opts.maxPortForwardConnections ?? DEFAULT_MAX_PORT_FORWARD_CONNECTIONS });
    }
    const protocol = negotiateChannelProtocol(offered, PORT_FORWARD_CHANNEL_PROTOCOLS);
    if (protocol === null) return refuse(socket, new ShadowplaneError('SP_STREAM_PROTOCOL_UNSUPPORTED'));
    let ports: number[];
    try {
      ports = parseLegacyPorts(new URL(req.url, 'http://request.invalid').searchParams);
    } catch (err) {
      return refuse(socket, asShadowplaneError(err, 'SP_BAD_REQUEST'));
    }
    const { ws } = await acceptWebSocket(req, socket, head, { ...wsOptions, selectProtocol: () => protocol.name });
    logger.debug({ protocol: protocol.name || 'channel.k8s.io', ports: ports.length }, 'legacy websocket port-forward session');
    return servePortForwardLegacy({ ws, socket, timeouts, logger, protocol, ports });
  }

  return refuse(socket, new ShadowplaneError('SP_UPGRADE_REQUIRED'));
}
