/**
 * Seeded fuzzing of every decoder that reads untrusted bytes. Each input is either
 * random or a mutation of a valid input (bit flips, byte changes, insertions, deletions,
 * truncation, length-field edits), fed in random chunks. The decoders must never throw
 * anything but a ShadowplaneError with a wire-protocol code, must respect their size
 * limits in what they emit, and must finish (all loops are bounded; the run is timed).
 */
import { duplexPair } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ShadowplaneError } from '../../../src/errors.ts';
import { TerminalSizeDecoder } from '../../../src/kube-streams/resize.ts';
import { SpdyConnection } from '../../../src/kube-streams/spdy-connection.ts';
import {
  SpdyFrameDecoder,
  SpdyFrameEncoder,
  encodeDataFrame,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from '../../../src/kube-streams/spdy-frame.ts';
import { parseHeaderBlock, serializeHeaderBlock } from '../../../src/kube-streams/spdy-headers.ts';
import { CHANNEL_PROTOCOLS, channelProtocol, decodeChannelMessage, encodeChannelMessage } from '../../../src/kube-streams/ws-channel.ts';
import { seededRandom as prng } from '../../support/testing.ts';

/** mulberry32: small, fast, deterministic. */

type Rand = ReturnType<typeof prng>;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);

function randomBytes(rand: Rand, max: number): Buffer {
  const out = Buffer.alloc(int(rand, max + 1));
  for (let i = 0; i < out.length; i++) out[i] = int(rand, 256);
  return out;
}

function mutate(rand: Rand, input: Buffer): Buffer {
  let out = Buffer.from(input);
  const edits = 1 + int(rand, 4);
  for (let e = 0; e < edits; e++) {
    const at = out.length === 0 ? 0 : int(rand, out.length);
    switch (int(rand, 6)) {
      case 0:
        if (out.length > 0) out[at] = out[at]! ^ (1 << int(rand, 8));
        break;
      case 1:
        if (out.length > 0) out[at] = int(rand, 256);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), randomBytes(rand, 8), out.subarray(at)]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(rand, 8))]);
        break;
      case 4:
        out = out.subarray(0, at);
        break;
      default:
        // Overwrite a 24-bit length field (offset 5 of a frame header) with a random length.
        if (out.length >= 8) out.writeUIntBE(int(rand, 0x1000000), 5, 3);
    }
  }
  return out;
}

function expectWireError(err: unknown): void {
  expect(err).toBeInstanceOf(ShadowplaneError);
  expect(['SP_FRAME_INVALID', 'SP_FRAME_TOO_LARGE']).toContain((err as ShadowplaneError).code);
}

function validSpdyStream(rand: Rand): Buffer {
  const encoder = new SpdyFrameEncoder();
  const frames: Buffer[] = [];
  let id = 1;
  for (let i = 0, n = 1 + int(rand, 8); i < n; i++) {
    switch (int(rand, 8)) {
      case 0:
        frames.push(encoder.synStream(id, [['streamtype', ['error', 'data', 'stdin'][int(rand, 3)]!], ['port', String(int(rand, 65536))], ['requestid', String(i)]], { fin: rand() < 0.3 }));
        id += 2;
        break;
      case 1:
        frames.push(encoder.synReply(id, [['x', 'y'.repeat(int(rand, 40))]]));
        break;
      case 2:
        frames.push(encodeDataFrame(1 + 2 * int(rand, 4), randomBytes(rand, 300), rand() < 0.3));
        break;
      case 3:
        frames.push(encodePing(int(rand, 1000)));
        break;
      case 4:
        frames.push(encodeRstStream(1 + int(rand, 9), 1 + int(rand, 11)));
        break;
      case 5:
        frames.push(encodeGoAway(int(rand, 9), int(rand, 3)));
        break;
      case 6:
        frames.push(encodeWindowUpdate(int(rand, 9), 1 + int(rand, 1000)));
        break;
      default:
        frames.push(encodeSettings([{ id: 7, value: int(rand, 1 << 20) }]), encoder.headers(id, [['a', 'b']]));
    }
  }
  return Buffer.concat(frames);
}

const LIMITS = { maxControlPayload: 4096, maxDataPayload: 8192 };

/** Feeds `input` in random chunks; returns how many frames came out and whether it failed. */
function feedDecoder(rand: Rand, input: Buffer): { frames: number; failed: boolean } {
  let frames = 0;
  const decoder = new SpdyFrameDecoder((frame) => {
    frames++;
    if (frame.type === 'data') expect(frame.data.length).toBeLessThanOrEqual(LIMITS.maxDataPayload);
    if ('headers' in frame) expect(frame.headers.size).toBeLessThanOrEqual(128);
  }, LIMITS);
  let offset = 0;
  try {
    while (offset < input.length) {
      const size = 1 + int(rand, 64);
      decoder.push(input.subarray(offset, offset + size));
      offset += size;
    }
  } catch (err) {
    expectWireError(err);
    return { frames, failed: true };
  }
  return { frames, failed: false };
}

describe('fuzzing the wire decoders (seeded, bounded)', () => {
  it('SPDY frame decoder: random and mutated frame streams raise only wire errors', () => {
    const started = Date.now();
    const rand = prng(0x5eed1);
    for (let i = 0; i < 1500; i++) feedDecoder(rand, randomBytes(rand, 512));
    let failed = 0;
    let frames = 0;
    for (let i = 0; i < 3000; i++) {
      const outcome = feedDecoder(rand, mutate(rand, validSpdyStream(rand)));
      if (outcome.failed) failed++;
      frames += outcome.frames;
    }
    // The mutations must exercise both paths: inputs that still decode, and ones that fail.
    expect(failed).toBeGreaterThan(300);
    expect(failed).toBeLessThan(2900);
    expect(frames).toBeGreaterThan(3000);
    // Random bytes behind a valid SPDY control header reach the header-block parser.
    for (let i = 0; i < 1000; i++) {
      const head = Buffer.from('8003000100000000', 'hex');
      const body = randomBytes(rand, 200);
      head.writeUIntBE(body.length, 5, 3);
      feedDecoder(rand, Buffer.concat([head, body]));
    }
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('header block parser: mutated blocks raise only wire errors', () => {
    const rand = prng(0x5eed2);
    for (let i = 0; i < 3000; i++) {
      const block = serializeHeaderBlock(Array.from({ length: int(rand, 5) }, (_, j): [string, string] => [`h${j}`, 'v'.repeat(int(rand, 20))]));
      try {
        parseHeaderBlock(mutate(rand, block));
      } catch (err) {
        expectWireError(err);
      }
    }
  });

  it('channel.k8s.io decoder: random and mutated messages in every protocol raise only wire errors', () => {
    const rand = prng(0x5eed3);
    for (const name of CHANNEL_PROTOCOLS) {
      const protocol = channelProtocol(name);
      for (let i = 0; i < 1500; i++) {
        const message = rand() < 0.5 ? randomBytes(rand, 64) : mutate(rand, encodeChannelMessage(protocol, int(rand, 5), randomBytes(rand, 48)).data);
        try {
          const decoded = decodeChannelMessage(protocol, message);
          if (decoded.kind === 'data') expect(decoded.channel).toBeLessThan(256);
        } catch (err) {
          expectWireError(err);
        }
      }
    }
  });

  it('resize decoder: random and mutated JSON raise only wire errors', () => {
    const rand = prng(0x5eed4);
    for (let i = 0; i < 3000; i++) {
      const valid = Buffer.from(`{"Width":${int(rand, 70000)},"Height":${int(rand, 300)}}\n`);
      const input = rand() < 0.3 ? randomBytes(rand, 64) : mutate(rand, valid);
      const decoder = new TerminalSizeDecoder(256);
      try {
        for (let offset = 0; offset < input.length; offset += 7) {
          for (const size of decoder.push(input.subarray(offset, offset + 7))) {
            expect(size.width).toBeLessThanOrEqual(0xffff);
            expect(size.height).toBeLessThanOrEqual(0xffff);
          }
        }
      } catch (err) {
        expectWireError(err);
      }
    }
  });

  it('SPDY server connection: mutated client traffic ends the connection cleanly, never with an uncaught error', async () => {
    const rand = prng(0x5eed5);
    for (let i = 0; i < 200; i++) {
      const [server, client] = duplexPair();
      const connection = new SpdyConnection(server, { role: 'server', limits: LIMITS, onStream: (stream) => stream.resume() });
      client.resume();
      client.write(mutate(rand, validSpdyStream(rand)));
      await new Promise((resolve) => setImmediate(resolve));
      if (connection.signal.aborted) expect(connection.signal.reason).toBeInstanceOf(ShadowplaneError);
      connection.destroy();
      client.destroy();
    }
  });
});
