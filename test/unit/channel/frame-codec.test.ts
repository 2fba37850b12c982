import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  FROM_AGENT_KINDS,
  FrameDecoder,
  FrameKind,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  TO_AGENT_KINDS,
  decodeResize,
  decodeStatus,
  encodeDataFrames,
  encodeFrame,
  encodeResize,
  encodeStatus,
  type Frame,
} from '../../../src/channel/frame-codec.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { codeOf } from '../../support/testing.ts';


/** Feeds bytes to a decoder in pieces of the given sizes (cycled). */
function decodeInPieces(bytes: Buffer, sizes: number[], allowed = FROM_AGENT_KINDS): Frame[] {
  const decoder = new FrameDecoder(allowed);
  const frames: Frame[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] as number);
    frames.push(...decoder.push(bytes.subarray(at, at + size)));
    at += size;
  }
  decoder.end();
  return frames.map((f) => ({ kind: f.kind, payload: Buffer.from(f.payload) }));
}

describe('frame codec', () => {
  it('round-trips frames however the bytes are cut', () => {
    const frames = [
      encodeFrame(FrameKind.stdout, Buffer.from('hello')),
      encodeFrame(FrameKind.stderr, Buffer.alloc(0)),
      encodeFrame(FrameKind.stdout, randomBytes(70_000)),
      encodeStatus({ exitCode: 3 }),
    ];
    const bytes = Buffer.concat(frames);
    for (const sizes of [[bytes.length], [1], [2, 3], [5], [4, 7, 1000], [65_536]]) {
      const decoded = decodeInPieces(bytes, sizes);
      expect(decoded.map((f) => f.kind)).toEqual([FrameKind.stdout, FrameKind.stderr, FrameKind.stdout, FrameKind.status]);
      expect(Buffer.concat(decoded.map((f) => f.payload))).toEqual(Buffer.concat(frames.map((f) => f.subarray(5))));
    }
  });

  it('splits a large data chunk into frames of at most the data limit', () => {
    const chunk = randomBytes(MAX_DATA_PAYLOAD * 2 + 17);
    const frames = encodeDataFrames(FrameKind.stdin, chunk);
    expect(frames.map((f) => f.length - 5)).toEqual([MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD, 17]);
    const decoded = decodeInPieces(Buffer.concat(frames), [9_999], TO_AGENT_KINDS);
    expect(Buffer.concat(decoded.map((f) => f.payload))).toEqual(chunk);
  });

  it('refuses a declared length over the limit before buffering the payload', () => {
    const header = Buffer.from([FrameKind.stdout, 0, 0, 0, 0]);
    header.writeUInt32BE(MAX_DATA_PAYLOAD + 1, 1);
    expect(codeOf(() => new FrameDecoder(FROM_AGENT_KINDS).push(header))).toBe('SP_FRAME_TOO_LARGE');
    const control = Buffer.from([FrameKind.status, 0, 0, 0, 0]);
    control.writeUInt32BE(MAX_CONTROL_PAYLOAD + 1, 1);
    expect(codeOf(() => new FrameDecoder(FROM_AGENT_KINDS).push(control))).toBe('SP_FRAME_TOO_LARGE');
    const huge = Buffer.from([FrameKind.stdin, 0xff, 0xff, 0xff, 0xff]);
    const decoder = new FrameDecoder(TO_AGENT_KINDS);
    expect(codeOf(() => decoder.push(huge.subarray(0, 3)))).toBeUndefined();
    expect(codeOf(() => decoder.push(huge.subarray(3)))).toBe('SP_FRAME_TOO_LARGE');
    expect(codeOf(() => encodeFrame(FrameKind.resize, Buffer.alloc(MAX_CONTROL_PAYLOAD + 1)))).toBe('SP_FRAME_TOO_LARGE');
  });

  it('refuses frame kinds of the other direction and a stdin end with payload', () => {
    expect(codeOf(() => new FrameDecoder(TO_AGENT_KINDS).push(encodeFrame(FrameKind.stdout, Buffer.from('x'))))).toBe('SP_FRAME_INVALID');
    expect(codeOf(() => new FrameDecoder(FROM_AGENT_KINDS).push(encodeFrame(FrameKind.stdin, Buffer.from('x'))))).toBe('SP_FRAME_INVALID');
    expect(codeOf(() => new FrameDecoder(TO_AGENT_KINDS).push(Buffer.from([0x7f, 0, 0, 0, 0])))).toBe('SP_FRAME_INVALID');
    expect(codeOf(() => new FrameDecoder(TO_AGENT_KINDS).push(Buffer.from([FrameKind.stdinEnd, 0, 0, 0, 1, 0])))).toBe('SP_FRAME_INVALID');
  });

  it('reports a stream that ends inside a frame', () => {
    const decoder = new FrameDecoder(FROM_AGENT_KINDS);
    decoder.push(encodeFrame(FrameKind.stdout, Buffer.from('abc')).subarray(0, 6));
    expect(codeOf(() => decoder.end())).toBe('SP_FRAME_INVALID');
  });

  it('decodes resize and status control frames and refuses malformed ones', () => {
    expect(decodeResize(encodeResize({ width: 120, height: 40 }).subarray(5))).toEqual({ width: 120, height: 40 });
    expect(decodeStatus(encodeStatus({ exitCode: 0 }).subarray(5))).toEqual({ exitCode: 0 });
    expect(decodeStatus(encodeStatus({ error: { code: 'SP_EXEC_START_FAILED' } }).subarray(5))).toEqual({ error: { code: 'SP_EXEC_START_FAILED' } });
    for (const bad of ['{"width":-1,"height":2}', '{"width":1.5,"height":2}', '{"width":70000,"height":2}', '[1,2]', 'null', '{', '{"Width":1,"Height":2}']) {
      expect(codeOf(() => decodeResize(Buffer.from(bad)))).toBe('SP_FRAME_INVALID');
    }
    for (const bad of ['{"exitCode":256}', '{"exitCode":-1}', '{"exitCode":"0"}', '{"error":{}}', '{"error":{"code":1}}', '{}', 'x']) {
      expect(codeOf(() => decodeStatus(Buffer.from(bad)))).toBe('SP_FRAME_INVALID');
    }
  });

  it('survives random bytes with a ShadowplaneError or frames, never anything else', () => {
    let frames = 0;
    let errors = 0;
    for (let round = 0; round < 2000; round++) {
      const decoder = new FrameDecoder(round % 2 === 0 ? TO_AGENT_KINDS : FROM_AGENT_KINDS);
      const noise = randomBytes(1 + (round % 300));
      // Bias the first byte toward valid kinds so that the length checks get exercised.
      if (round % 3 === 0) noise[0] = [1, 2, 3, 0x11, 0x12, 0x13][round % 6] as number;
      try {
        frames += decoder.push(noise).length;
        decoder.end();
      } catch (err) {
        expect(isShadowplaneError(err)).toBe(true);
        errors += 1;
      }
    }
    expect(errors).toBeGreaterThan(0);
    expect(frames + errors).toBeGreaterThan(0);
  });

  it('never buffers more than one frame beyond what it returned', () => {
    const decoder = new FrameDecoder(FROM_AGENT_KINDS);
    const one = encodeFrame(FrameKind.stdout, randomBytes(MAX_DATA_PAYLOAD));
    let returned = 0;
    for (let i = 0; i < 20; i++) {
      for (let at = 0; at < one.length; at += 4096) returned += decoder.push(one.subarray(at, at + 4096)).length;
    }
    expect(returned).toBe(20);
    decoder.end();
  });
});
