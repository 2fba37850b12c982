/**
 * Completes a WebSocket upgrade with `ws` in noServer mode, after shadowplane has checked
 * the request and chosen the subprotocol itself.
 *
 * Why the checks happen here rather than in `ws`: when `ws` refuses a handshake it
 * writes its own plain-text 400 and never calls back, and kubectl then needs a Status.
 * So everything that can be refused is refused first, through rejectUpgrade.
 *
 * The subprotocol workaround (PROTOCOLS.md B): `ws` rejects `SPDY/3.1+portforward.k8s.io`
 * because `/` is not a token character. The offer was already parsed and the choice
 * made, so `ws` is handed a copy of the headers whose Sec-WebSocket-Protocol is a
 * harmless token, and `handleProtocols` answers the chosen name literally (ws writes it
 * out unvalidated). Only server-chosen constants are ever written back.
 *
 * `perMessageDeflate` is off (kubectl never negotiates it, and compression of untrusted
 * input is a memory risk); `maxPayload` bounds every message.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ShadowplaneError } from '../../errors.ts';
import { parseOfferedProtocols } from '../../kube-streams/ws-channel.ts';
import { rejectUpgrade } from './http-upgrade.ts';
import type { UpgradeRequest } from './types.ts';

export interface WebSocketAcceptOptions {
  /**
   * Picks the subprotocol from the offers (in the client's order). Return the name to
   * answer, '' to answer none, or null to refuse with SP_STREAM_PROTOCOL_UNSUPPORTED.
   */
  readonly selectProtocol: (offered: readonly string[]) => string | null;
  /** Largest message accepted from the client, in bytes. */
  readonly maxPayload: number;
  /** Upper bound for the handshake. @default 10 s */
  readonly timeoutMs?: number;
}

export interface AcceptedWebSocket {
  readonly ws: WebSocket;
  /** The answered subprotocol ('' for none). */
  readonly protocol: string;
}

const KEY = /^[+/0-9A-Za-z]{22}==$/;

function firstHeader(req: UpgradeRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Validates the WebSocket request, negotiates the subprotocol and completes the upgrade.
 * On refusal the client gets a Status (rejectUpgrade) and the promise rejects with it.
 */
export function acceptWebSocket(req: UpgradeRequest, socket: Duplex, head: Buffer, options: WebSocketAcceptOptions): Promise<AcceptedWebSocket> {
  const refuse = (error: ShadowplaneError): Promise<never> => {
    rejectUpgrade(socket, error);
    return Promise.reject(error);
  };
  if (req.method !== 'GET') return refuse(new ShadowplaneError('SP_BAD_REQUEST', 'a WebSocket upgrade must be a GET'));
  const key = firstHeader(req, 'sec-websocket-key');
  if (key === undefined || !KEY.test(key.trim())) return refuse(new ShadowplaneError('SP_BAD_REQUEST', 'missing or invalid Sec-WebSocket-Key'));
  if (firstHeader(req, 'sec-websocket-version')?.trim() !== '13') {
    return refuse(new ShadowplaneError('SP_BAD_REQUEST', 'unsupported WebSocket version'));
  }
  const offered = parseOfferedProtocols(req.headers['sec-websocket-protocol']);
  const chosen = options.selectProtocol(offered);
  if (chosen === null) return refuse(new ShadowplaneError('SP_STREAM_PROTOCOL_UNSUPPORTED'));

  // Snapshot of the request for ws: only what it reads, with a token-safe protocol offer.
  const headers: Record<string, string | string[] | undefined> = { ...req.headers, 'sec-websocket-key': key.trim() };
  delete headers['sec-websocket-extensions'];
  if (chosen === '') delete headers['sec-websocket-protocol'];
  else headers['sec-websocket-protocol'] = 'shadowplane-chosen';
  const wsRequest = { method: 'GET', url: req.url, headers, socket } as unknown as IncomingMessage;

  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: options.maxPayload,
    handleProtocols: () => chosen,
  });

  return new Promise<AcceptedWebSocket>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      socket.destroy();
      reject(new ShadowplaneError('SP_SESSION_TIMEOUT', 'WebSocket handshake did not complete'));
    }, options.timeoutMs ?? 10_000);
    timer.unref();
    socket.once('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new ShadowplaneError('SP_CLIENT_GONE', 'connection closed during the WebSocket handshake'));
    });
    server.handleUpgrade(wsRequest, socket, head, (ws) => {
      if (done) {
        ws.terminate();
        return;
      }
      done = true;
      clearTimeout(timer);
      resolve({ ws, protocol: chosen });
    });
  });
}
