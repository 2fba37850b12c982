import { createDeflate, createInflate, constants as zc } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { SPDY_DICTIONARY } from '../../../src/kube-streams/spdy-dictionary.ts';
import {
  FLAG_FIN,
  SpdyFrameDecoder,
  SpdyFrameEncoder,
  encodeDataFrame,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  type SpdyFrame,
  type SpdyFrameLimits,
} from '../../../src/kube-streams/spdy-frame.ts';
import { serializeHeaderBlock } from '../../../src/kube-streams/spdy-headers.ts';

/** Decodes `bytes` fed in the given piece sizes (cycled), merging data pieces per frame. */
function decode(bytes: Buffer, pieceSizes: readonly number[] = [bytes.length || 1], limits?: Partial<SpdyFrameLimits>): SpdyFrame[] {
  const frames: SpdyFrame[] = [];
  let pendingData: Buffer[] = [];
  const decoder = new SpdyFrameDecoder((frame) => {
    if (frame.type !== 'data') {
      frames.push(frame);
      return;
    }
    pendingData.push(Buffer.from(frame.data));
    if (frame.endOfFrame) {
      frames.push({ ...frame, data: Buffer.concat(pendingData) });
      pendingData = [];
    }
  }, limits);
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = Math.max(1, pieceSizes[i++ % pieceSizes.length]!);
    decoder.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  expect(decoder.idle).toBe(true);
  return frames;
}

function controlFrame(type: number, flags: number, payload: Buffer, version = 3): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | version, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([head, payload]);
}

function expectCode(fn: () => unknown, code: 'SP_FRAME_INVALID' | 'SP_FRAME_TOO_LARGE'): void {
  try {
    fn();
  } catch (err) {
    expect(isShadowplaneError(err, code), String(err)).toBe(true);
    return;
  }
  expect.fail(`expected ${code}`);
}

/** Compresses header blocks with node:zlib's streaming deflate: an independent zlib sharing one context. */
async function nodeZlibBlocks(blocks: Buffer[]): Promise<Buffer[]> {
  const deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  const out: Buffer[] = [];
  let current: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => current.push(chunk));
  for (const block of blocks) {
    deflate.write(block);
    await new Promise<void>((resolve) => deflate.flush(zc.Z_SYNC_FLUSH, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    out.push(Buffer.concat(current));
    current = [];
  }
  deflate.destroy();
  return out;
}

describe('SPDY/3.1 frame encoding', () => {
  it('encodes control frames with the documented bytes', () => {
    expect(encodePing(1).toString('hex')).toBe('800300060000000400000001');
    expect(encodeRstStream(5, 5).toString('hex')).toBe('80030003000000080000000500000005');
    expect(encodeGoAway(7, 0).toString('hex')).toBe('80030007000000080000000700000000');
    expect(encodeWindowUpdate(3, 65536).toString('hex')).toBe('80030009000000080000000300010000');
    expect(encodeSettings([{ id: 7, value: 65536 }]).toString('hex')).toBe('800300040000000c000000010000000700010000');
  });

  it('encodes a data frame as stream id, flags, 24-bit length, payload', () => {
    expect(encodeDataFrame(3, Buffer.from('hi'), true).toString('hex')).toBe('00000003010000026869');
    expect(encodeDataFrame(0x7fffffff, Buffer.alloc(0), false).toString('hex')).toBe('7fffffff00000000');
  });

  it('round-trips SYN_STREAM and SYN_REPLY through one compression context per direction', () => {
    const encoder = new SpdyFrameEncoder();
    const headers: Array<[string, string]> = [['streamtype', 'data'], ['port', '8080'], ['requestid', '0']];
    const bytes = Buffer.concat([
      encoder.synStream(1, headers),
      encoder.synStream(3, [['streamtype', 'error'], ['port', '8080'], ['requestid', '1']], { fin: true }),
      encoder.synReply(1),
    ]);
    const frames = decode(bytes);
    expect(frames).toHaveLength(3);
    expect(frames[0]).toMatchObject({ type: 'syn_stream', streamId: 1, fin: false, unidirectional: false, associatedId: 0 });
    expect(frames[0]!.type === 'syn_stream' && Object.fromEntries(frames[0].headers)).toEqual({ streamtype: 'data', port: '8080', requestid: '0' });
    expect(frames[1]).toMatchObject({ type: 'syn_stream', streamId: 3, fin: true });
    expect(frames[2]).toMatchObject({ type: 'syn_reply', streamId: 1, fin: false });
  });

  it('shares the zlib context between blocks: a later block cannot be inflated alone', () => {
    const encoder = new SpdyFrameEncoder();
    const headers: Array<[string, string]> = [['streamtype', 'stdout'], ['x-long-header', 'x'.repeat(200)]];
    const first = encoder.synStream(1, headers);
    const second = encoder.synStream(3, headers);
    // The second block refers back to the first: much smaller, and meaningless on its own.
    expect(second.length).toBeLessThan(first.length / 2);
    expect(decode(Buffer.concat([first, second]))).toHaveLength(2);
    expectCode(() => decode(second), 'SP_FRAME_INVALID');
  });

  it('decodes header blocks compressed by node:zlib across several frames sharing one context', async () => {
    const blocks = [
      serializeHeaderBlock([['streamtype', 'error']]),
      serializeHeaderBlock([['streamtype', 'stdin']]),
      serializeHeaderBlock([['streamtype', 'stdout']]),
      serializeHeaderBlock([['streamtype', 'stderr'], ['multi', 'a\0b']]),
    ];
    const compressed = await nodeZlibBlocks(blocks);
    const frames = compressed.map((block, i) => {
      const payload = Buffer.alloc(10 + block.length);
      payload.writeUInt32BE(1 + 2 * i, 0);
      block.copy(payload, 10);
      return controlFrame(1, 0, payload);
    });
    for (const pieces of [[1], [3, 7], [1000]]) {
      const decoded = decode(Buffer.concat(frames), pieces);
      expect(decoded.map((f) => f.type === 'syn_stream' && f.headers.get('streamtype'))).toEqual(['error', 'stdin', 'stdout', 'stderr']);
      expect(decoded[3]!.type === 'syn_stream' && decoded[3].headers.get('multi')).toBe('a\0b');
    }
  });

  it('produces header blocks that node:zlib inflates with one context', async () => {
    const encoder = new SpdyFrameEncoder();
    const frames = [encoder.synReply(1), encoder.synReply(3, [['a', 'b']]), encoder.headers(5, [['c', 'dd']])];
    const inflate = createInflate({ dictionary: SPDY_DICTIONARY });
    const got: Buffer[] = [];
    for (const frame of frames) {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): void => void chunks.push(c);
      inflate.on('data', onData);
      inflate.write(frame.subarray(12));
      await new Promise<void>((resolve) => inflate.flush(zc.Z_SYNC_FLUSH, () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
      inflate.off('data', onData);
      got.push(Buffer.concat(chunks));
    }
    inflate.destroy();
    expect(got[0]).toEqual(serializeHeaderBlock([]));
    expect(got[1]).toEqual(serializeHeaderBlock([['a', 'b']]));
    expect(got[2]).toEqual(serializeHeaderBlock([['c', 'dd']]));
  });

  it('decodes the same frames whatever the chunking, and delivers data in pieces without buffering', () => {
    const encoder = new SpdyFrameEncoder();
    const payload = Buffer.alloc(100_000, 7);
    const bytes = Buffer.concat([
      encoder.synStream(1, [['streamtype', 'stdin']]),
      encodeDataFrame(1, payload, false),
      encodePing(9),
      encodeDataFrame(1, Buffer.alloc(0), true),
      encodeRstStream(1, 5),
      encodeGoAway(1, 0),
      encodeWindowUpdate(0, 1000),
      encodeSettings([{ id: 4, value: 100 }]),
    ]);
    const reference = decode(bytes);
    expect(reference.map((f) => f.type)).toEqual(['syn_stream', 'data', 'ping', 'data', 'rst_stream', 'goaway', 'window_update', 'settings']);
    expect(reference[1]).toMatchObject({ type: 'data', streamId: 1, fin: false });
    expect(reference[1]!.type === 'data' && reference[1].data.equals(payload)).toBe(true);
    expect(reference[3]).toMatchObject({ type: 'data', streamId: 1, fin: true, data: Buffer.alloc(0) });
    for (const pieces of [[1], [2, 5, 11], [8], [4096], [65_537, 3]]) {
      expect(decode(bytes, pieces)).toEqual(reference);
    }
    const pieces: number[] = [];
    const decoder = new SpdyFrameDecoder((f) => {
      if (f.type === 'data') pieces.push(f.data.length);
    });
    const data = encodeDataFrame(3, payload, true);
    for (let i = 0; i < data.length; i += 16_384) decoder.push(data.subarray(i, i + 16_384));
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(payload.length);
  });

  it('skips control frames of unknown types', () => {
    const frames = decode(Buffer.concat([controlFrame(5, 0, Buffer.alloc(3)), controlFrame(0x7777, 0, Buffer.alloc(0)), encodePing(1)]));
    expect(frames).toEqual([
      { type: 'unknown', controlType: 5, length: 3 },
      { type: 'unknown', controlType: 0x7777, length: 0 },
      { type: 'ping', id: 1 },
    ]);
  });

  it('refuses oversized frames by their length field, before buffering them', () => {
    let called = false;
    const decoder = new SpdyFrameDecoder(() => (called = true), { maxControlPayload: 100, maxDataPayload: 1000 });
    const hugeControl = Buffer.from('80030001000fffff', 'hex');
    expectCode(() => decoder.push(hugeControl), 'SP_FRAME_TOO_LARGE');
    expect(called).toBe(false);
    expectCode(() => decode(Buffer.from('0000000100000400', 'hex'), [8], { maxDataPayload: 1000 }), 'SP_FRAME_TOO_LARGE');
  });

  it('refuses a header block that inflates beyond the limit (a zlib bomb)', () => {
    const encoder = new SpdyFrameEncoder();
    const bomb = encoder.synStream(1, [['x', 'a'.repeat(16_000)], ['y', 'b'.repeat(16_000)], ['z', 'c'.repeat(16_000)], ['w', 'd'.repeat(16_000)], ['v', 'e'.repeat(16_000)]]);
    expect(bomb.length).toBeLessThan(2000);
    expectCode(() => decode(bomb), 'SP_FRAME_TOO_LARGE');
  });

  it('refuses malformed frames with SP_FRAME_INVALID', () => {
    const block = (entries: Array<[string, string]>): Buffer => new SpdyFrameEncoder().synReply(1, entries).subarray(12);
    const cases: Array<[string, Buffer]> = [
      ['SPDY/2', controlFrame(6, 0, Buffer.alloc(4), 2)],
      ['PING of 5 bytes', controlFrame(6, 0, Buffer.alloc(5))],
      ['RST_STREAM of 4 bytes', controlFrame(3, 0, Buffer.alloc(4))],
      ['RST_STREAM status 0', controlFrame(3, 0, Buffer.from('0000000100000000', 'hex'))],
      ['SYN_STREAM shorter than 10', controlFrame(1, 0, Buffer.alloc(9))],
      ['SYN_STREAM for stream 0', controlFrame(1, 0, Buffer.concat([Buffer.alloc(10), block([['a', 'b']])]))],
      ['SETTINGS count mismatch', controlFrame(4, 0, Buffer.from('00000002000000010000000a', 'hex'))],
      ['data for stream 0', Buffer.from('0000000001000000', 'hex')],
      ['garbage header block', controlFrame(2, 0, Buffer.concat([Buffer.from('00000001', 'hex'), Buffer.from('not zlib at all')]))],
    ];
    for (const [name, bytes] of cases) {
      expect(() => decode(bytes), name).toThrow();
      expectCode(() => decode(bytes), 'SP_FRAME_INVALID');
    }
  });

  it('refuses header blocks with uppercase, duplicate or empty names, or trailing bytes', async () => {
    const rawBlock = (parts: Array<[string, string]>, trailing = Buffer.alloc(0)): Buffer => {
      const pieces: Buffer[] = [Buffer.alloc(4)];
      pieces[0]!.writeUInt32BE(parts.length);
      for (const [n, v] of parts) {
        const nl = Buffer.alloc(4);
        nl.writeUInt32BE(Buffer.byteLength(n));
        const vl = Buffer.alloc(4);
        vl.writeUInt32BE(Buffer.byteLength(v));
        pieces.push(nl, Buffer.from(n), vl, Buffer.from(v));
      }
      pieces.push(trailing);
      return Buffer.concat(pieces);
    };
    const plains = [rawBlock([['Upper', 'x']]), rawBlock([['a', '1'], ['a', '2']]), rawBlock([['', 'x']]), rawBlock([['a', 'b']], Buffer.from('zz'))];
    for (const plain of plains) {
      const [compressed] = await nodeZlibBlocks([plain]);
      const payload = Buffer.concat([Buffer.from('00000001', 'hex'), compressed!]);
      expectCode(() => decode(controlFrame(2, 0, payload)), 'SP_FRAME_INVALID');
    }
  });

  it('stays failed after the first error', () => {
    const decoder = new SpdyFrameDecoder(() => undefined);
    expectCode(() => decoder.push(Buffer.from('8002000600000004', 'hex')), 'SP_FRAME_INVALID');
    expectCode(() => decoder.push(encodePing(1)), 'SP_FRAME_INVALID');
  });

  it('marks FIN only on the last piece of a data frame', () => {
    const fins: boolean[] = [];
    const decoder = new SpdyFrameDecoder((f) => {
      if (f.type === 'data') fins.push(f.fin);
    });
    const frame = encodeDataFrame(1, Buffer.alloc(10, 1), true);
    expect(frame[4]).toBe(FLAG_FIN);
    decoder.push(frame.subarray(0, 12));
    decoder.push(frame.subarray(12));
    expect(fins).toEqual([false, true]);
  });
});

describe('frames captured from real kubectl (Go zlib on the other side)', () => {
  // kubectl 1.27 `exec -i p1 -- cat` over SPDY: the first bytes it sent after the 101,
  // one SYN_STREAM per stream, each header block continuing the previous zlib context.
  const EXEC_1_27 =
    '80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a6800000000ffff' +
    '800300010000001700000003000000000000c22e555c92929907000000ffff' +
    '800300010000001900000005000000000000c22ac5565c92925f5a02000000ffff' +
    '800300010000001500000007000000000000c229975a5404000000ffff';
  // kubectl 1.33 `port-forward` (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), one local
  // connection: error stream, its immediate empty DATA+FIN, then the data stream.
  const PORT_FORWARD_1_33 =
    '800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c60616061c0c0c0c0590489c64c50f2663400000000ffff' +
    '0000000101000000' +
    '800300010000001800000003000000000000c2aa19540e2512d60b000000ffff';

  it('decodes kubectl 1.27 exec stream creation: error, stdin, stdout, stderr on ids 1, 3, 5, 7', () => {
    for (const pieces of [[1], [5], [1000]]) {
      const frames = decode(Buffer.from(EXEC_1_27, 'hex'), pieces);
      expect(frames.map((f) => f.type === 'syn_stream' && [f.streamId, Object.fromEntries(f.headers)])).toEqual([
        [1, { streamtype: 'error' }],
        [3, { streamtype: 'stdin' }],
        [5, { streamtype: 'stdout' }],
        [7, { streamtype: 'stderr' }],
      ]);
    }
  });

  it('decodes kubectl 1.33 port-forward stream pairs with port and requestid', () => {
    const frames = decode(Buffer.from(PORT_FORWARD_1_33, 'hex'), [3]);
    expect(frames[0]).toMatchObject({ type: 'syn_stream', streamId: 1 });
    expect(frames[0]!.type === 'syn_stream' && Object.fromEntries(frames[0].headers)).toEqual({ streamtype: 'error', port: '8080', requestid: '0' });
    expect(frames[1]).toEqual({ type: 'data', streamId: 1, data: Buffer.alloc(0), endOfFrame: true, fin: true });
    expect(frames[2]!.type === 'syn_stream' && Object.fromEntries(frames[2].headers)).toEqual({ streamtype: 'data', port: '8080', requestid: '0' });
  });
});
