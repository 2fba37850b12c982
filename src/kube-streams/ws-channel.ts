/**
 * channel.k8s.io framing over WebSocket: the exec/attach protocols v5, v4, v4.base64 and
 * the original channel.k8s.io / base64.channel.k8s.io, plus the legacy port-forward.
 *
 * - Binary protocols: one message = `[channel byte][payload]`.
 * - Base64 protocols: one text message = `'0'+channel` then the payload in standard
 *   base64.
 * - v5 adds a half-close signal: a message `[0xFF, channel]` (kubectl sends `[255, 0]`
 *   when stdin reaches EOF). No other protocol has one.
 * - An empty message carries nothing and is ignored, as the kubelet does.
 *
 * Pure: messages in, values out. Encoding copies the payload once, behind the channel
 * byte, because a WebSocket message cannot be written as two buffers.
 */
import { ShadowplaneError } from '../errors.ts';

export const CHANNEL_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;

export type ChannelProtocolName = (typeof CHANNEL_PROTOCOLS)[number];

export interface ChannelProtocol {
  /** The subprotocol as negotiated; '' when the client offered none (binary, v1 semantics). */
  readonly name: ChannelProtocolName | '';
  /** Text frames with base64 payloads instead of binary frames. */
  readonly base64: boolean;
  /** Understands the `[0xFF, channel]` half-close signal (v5). */
  readonly closeSignal: boolean;
  /** Error channel carries Status JSON (v4, v5) rather than plain text (v1). */
  readonly statusJson: boolean;
}

const PROTOCOLS: Readonly<Record<ChannelProtocolName, ChannelProtocol>> = {
  'v5.channel.k8s.io': { name: 'v5.channel.k8s.io', base64: false, closeSignal: true, statusJson: true },
  'v4.channel.k8s.io': { name: 'v4.channel.k8s.io', base64: false, closeSignal: false, statusJson: true },
  'v4.base64.channel.k8s.io': { name: 'v4.base64.channel.k8s.io', base64: true, closeSignal: false, statusJson: true },
  'channel.k8s.io': { name: 'channel.k8s.io', base64: false, closeSignal: false, statusJson: false },
  'base64.channel.k8s.io': { name: 'base64.channel.k8s.io', base64: true, closeSignal: false, statusJson: false },
};

/** Binary framing with v1 semantics, used when the client offers no subprotocol at all. */
export const UNNAMED_CHANNEL_PROTOCOL: ChannelProtocol = Object.freeze({ name: '', base64: false, closeSignal: false, statusJson: false });

/** Exec/attach: every protocol, best first. */
export const EXEC_CHANNEL_PROTOCOLS: readonly ChannelProtocolName[] = CHANNEL_PROTOCOLS;
/** Legacy WebSocket port-forward: the kubelet serves v4 binary and base64 only. */
export const PORT_FORWARD_CHANNEL_PROTOCOLS: readonly ChannelProtocolName[] = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];

export const CLOSE_SIGNAL = 0xff;

/** Splits a Sec-WebSocket-Protocol header (possibly repeated) into its offered names. */
export function parseOfferedProtocols(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return [];
  const lines = typeof header === 'string' ? [header] : header;
  const out: string[] = [];
  for (const line of lines) {
    for (const part of line.split(',')) {
      const name = part.trim();
      if (name.length > 0) out.push(name);
    }
  }
  return out;
}

/**
 * Picks the protocol for a session: the best of `supported` (in its order) that the client
 * offered. No offer at all means the unnamed binary protocol; offers with nothing in
 * common mean null (answer SP_STREAM_PROTOCOL_UNSUPPORTED).
 */
export function negotiateChannelProtocol(
  offered: readonly string[],
  supported: readonly ChannelProtocolName[] = EXEC_CHANNEL_PROTOCOLS,
): ChannelProtocol | null {
  if (offered.length === 0) return UNNAMED_CHANNEL_PROTOCOL;
  for (const name of supported) {
    if (offered.includes(name)) return PROTOCOLS[name];
  }
  return null;
}

export function channelProtocol(name: ChannelProtocolName): ChannelProtocol {
  return PROTOCOLS[name];
}

export interface EncodedMessage {
  readonly data: Buffer;
  readonly binary: boolean;
}

/** One outgoing message carrying `payload` on `channel`. */
export function encodeChannelMessage(protocol: ChannelProtocol, channel: number, payload: Uint8Array): EncodedMessage {
  if (!Number.isInteger(channel) || channel < 0 || channel > 254) throw new ShadowplaneError('SP_INTERNAL', 'channel out of range');
  if (protocol.base64) {
    if (channel > 9) throw new ShadowplaneError('SP_INTERNAL', 'channel out of range for base64 framing');
    const encodedLength = 4 * Math.ceil(payload.length / 3);
    const data = Buffer.allocUnsafe(1 + encodedLength);
    data[0] = 0x30 + channel;
    const view = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    data.write(view.toString('base64'), 1, 'latin1');
    return { data, binary: false };
  }
  const data = Buffer.allocUnsafe(1 + payload.length);
  data[0] = channel;
  data.set(payload, 1);
  return { data, binary: true };
}

/** The v5 half-close signal for `channel`. */
export function encodeCloseSignal(channel: number): Buffer {
  return Buffer.from([CLOSE_SIGNAL, channel]);
}

export type DecodedMessage =
  | { readonly kind: 'data'; readonly channel: number; readonly payload: Buffer }
  | { readonly kind: 'close'; readonly channel: number }
  | { readonly kind: 'empty' };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes one incoming message. The binary payload is a view of `message` (no copy).
 * Throws SP_FRAME_INVALID for bad base64 or a malformed close signal.
 */
export function decodeChannelMessage(protocol: ChannelProtocol, message: Buffer): DecodedMessage {
  if (message.length === 0) return { kind: 'empty' };
  const first = message[0]!;
  if (protocol.closeSignal && first === CLOSE_SIGNAL) {
    if (message.length !== 2) throw new ShadowplaneError('SP_FRAME_INVALID', 'close signal must name exactly one channel');
    return { kind: 'close', channel: message[1]! };
  }
  if (!protocol.base64) return { kind: 'data', channel: first, payload: message.subarray(1) };
  const channel = first - 0x30;
  if (channel < 0 || channel > 9) throw new ShadowplaneError('SP_FRAME_INVALID', 'base64 message has no channel digit');
  const text = message.toString('latin1', 1);
  if (!BASE64.test(text)) throw new ShadowplaneError('SP_FRAME_INVALID', 'payload is not valid base64');
  return { kind: 'data', channel, payload: Buffer.from(text, 'base64') };
}
