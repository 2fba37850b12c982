import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import {
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  UNNAMED_CHANNEL_PROTOCOL,
  channelProtocol,
  decodeChannelMessage,
  encodeChannelMessage,
  encodeCloseSignal,
  negotiateChannelProtocol,
  parseOfferedProtocols,
} from '../../../src/kube-streams/ws-channel.ts';

const v5 = channelProtocol('v5.channel.k8s.io');
const v4 = channelProtocol('v4.channel.k8s.io');
const v4b64 = channelProtocol('v4.base64.channel.k8s.io');
const v1 = channelProtocol('channel.k8s.io');
const v1b64 = channelProtocol('base64.channel.k8s.io');

describe('channel.k8s.io protocol negotiation', () => {
  it('prefers v5, then v4, v4.base64, channel.k8s.io, base64.channel.k8s.io, whatever the offer order', () => {
    const table: Array<[string[], string | null]> = [
      [['v5.channel.k8s.io'], 'v5.channel.k8s.io'],
      [['channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'], 'v5.channel.k8s.io'],
      [['base64.channel.k8s.io', 'v4.base64.channel.k8s.io', 'v4.channel.k8s.io'], 'v4.channel.k8s.io'],
      [['base64.channel.k8s.io', 'v4.base64.channel.k8s.io'], 'v4.base64.channel.k8s.io'],
      [['base64.channel.k8s.io', 'channel.k8s.io'], 'channel.k8s.io'],
      [['base64.channel.k8s.io'], 'base64.channel.k8s.io'],
      [['v3.channel.k8s.io', 'v2.channel.k8s.io'], null],
      [['SPDY/3.1+portforward.k8s.io'], null],
    ];
    for (const [offered, expected] of table) {
      expect(negotiateChannelProtocol(offered)?.name ?? null, offered.join(',')).toBe(expected);
    }
  });

  it('treats no offer as the unnamed binary protocol with v1 semantics', () => {
    expect(negotiateChannelProtocol([])).toBe(UNNAMED_CHANNEL_PROTOCOL);
    expect(UNNAMED_CHANNEL_PROTOCOL).toMatchObject({ name: '', base64: false, closeSignal: false, statusJson: false });
  });

  it('offers only v4 and v4.base64 for legacy port-forward', () => {
    expect(negotiateChannelProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], PORT_FORWARD_CHANNEL_PROTOCOLS)?.name).toBe('v4.channel.k8s.io');
    expect(negotiateChannelProtocol(['v5.channel.k8s.io', 'channel.k8s.io'], PORT_FORWARD_CHANNEL_PROTOCOLS)).toBeNull();
  });

  it('splits Sec-WebSocket-Protocol headers on commas and across repeated lines', () => {
    expect(parseOfferedProtocols('v5.channel.k8s.io, v4.channel.k8s.io ,,')).toEqual(['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    expect(parseOfferedProtocols(['a', 'b, c'])).toEqual(['a', 'b', 'c']);
    expect(parseOfferedProtocols(undefined)).toEqual([]);
  });

  it('describes each protocol: framing, close signal, status format', () => {
    expect([v5, v4, v4b64, v1, v1b64].map((p) => [p.base64, p.closeSignal, p.statusJson])).toEqual([
      [false, true, true],
      [false, false, true],
      [true, false, true],
      [false, false, false],
      [true, false, false],
    ]);
  });
});

describe('channel.k8s.io framing', () => {
  it('frames binary messages as [channel][payload]', () => {
    expect(encodeChannelMessage(v5, 1, Buffer.from('hi'))).toEqual({ data: Buffer.from([1, 0x68, 0x69]), binary: true });
    expect(encodeChannelMessage(v4, 3, Buffer.alloc(0))).toEqual({ data: Buffer.from([3]), binary: true });
    expect(decodeChannelMessage(v4, Buffer.from([2, 0x61]))).toEqual({ kind: 'data', channel: 2, payload: Buffer.from('a') });
  });

  it("frames base64 messages as text: '0'+channel then base64", () => {
    const message = encodeChannelMessage(v4b64, 1, Buffer.from('hello'));
    expect(message.binary).toBe(false);
    expect(message.data.toString('latin1')).toBe('1aGVsbG8=');
    expect(encodeChannelMessage(v1b64, 3, Buffer.alloc(0)).data.toString('latin1')).toBe('3');
    expect(decodeChannelMessage(v4b64, Buffer.from('0aGVsbG8='))).toEqual({ kind: 'data', channel: 0, payload: Buffer.from('hello') });
    expect(decodeChannelMessage(v1b64, Buffer.from('4'))).toEqual({ kind: 'data', channel: 4, payload: Buffer.alloc(0) });
  });

  it('round-trips every byte value on every channel in every protocol', () => {
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const protocol of [v5, v4, v4b64, v1, v1b64]) {
      for (const channel of [0, 1, 2, 3, 4]) {
        const { data } = encodeChannelMessage(protocol, channel, payload);
        expect(decodeChannelMessage(protocol, data)).toEqual({ kind: 'data', channel, payload });
      }
    }
  });

  it('reads the v5 close signal [255, channel] and only in v5', () => {
    expect(encodeCloseSignal(0)).toEqual(Buffer.from([255, 0]));
    expect(decodeChannelMessage(v5, Buffer.from([255, 0]))).toEqual({ kind: 'close', channel: 0 });
    // In v4, 255 is just a channel number nobody opened.
    expect(decodeChannelMessage(v4, Buffer.from([255, 0]))).toEqual({ kind: 'data', channel: 255, payload: Buffer.from([0]) });
  });

  it('ignores empty messages', () => {
    for (const protocol of [v5, v4b64]) expect(decodeChannelMessage(protocol, Buffer.alloc(0))).toEqual({ kind: 'empty' });
  });

  it('refuses malformed close signals and invalid base64 with SP_FRAME_INVALID', () => {
    const bad: Array<[typeof v5, Buffer]> = [
      [v5, Buffer.from([255])],
      [v5, Buffer.from([255, 0, 1])],
      [v4b64, Buffer.from('0a=b')],
      [v4b64, Buffer.from('0abc')],
      [v4b64, Buffer.from('0ab!=')],
      [v4b64, Buffer.from('Xabcd')],
      [v1b64, Buffer.from([0x30, 0xff])],
    ];
    for (const [protocol, message] of bad) {
      expect(() => decodeChannelMessage(protocol, message)).toThrow();
      try {
        decodeChannelMessage(protocol, message);
      } catch (err) {
        expect(isShadowplaneError(err, 'SP_FRAME_INVALID')).toBe(true);
      }
    }
  });
});
