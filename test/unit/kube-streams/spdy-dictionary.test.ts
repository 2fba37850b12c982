import { describe, expect, it } from 'vitest';
import { inflateSync, deflateSync } from 'node:zlib';
import { SPDY_DICTIONARY, SPDY_DICTIONARY_ADLER32, SPDY_DICTIONARY_LENGTH, adler32 } from '../../../src/kube-streams/spdy-dictionary.ts';

describe('SPDY/3 header dictionary', () => {
  it('is 1423 bytes with adler32 0xE3C6A7C2', () => {
    expect(SPDY_DICTIONARY.length).toBe(SPDY_DICTIONARY_LENGTH);
    expect(SPDY_DICTIONARY_LENGTH).toBe(1423);
    expect(adler32(SPDY_DICTIONARY)).toBe(0xe3c6a7c2);
    expect(SPDY_DICTIONARY_ADLER32).toBe(0xe3c6a7c2);
  });

  it('starts with the length-prefixed word "options" and ends with "enq=0."', () => {
    expect(Buffer.from(SPDY_DICTIONARY.subarray(0, 11))).toEqual(Buffer.from('\0\0\0\x07options', 'latin1'));
    expect(Buffer.from(SPDY_DICTIONARY.subarray(-6)).toString('latin1')).toBe('enq=0.');
  });

  it('computes adler32 like zlib does (checked against the trailer of a zlib stream)', () => {
    const data = Buffer.alloc(20_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    const zlibStream = deflateSync(data);
    expect(adler32(data)).toBe(zlibStream.readUInt32BE(zlibStream.length - 4));
    expect(adler32(new Uint8Array(0))).toBe(1);
  });

  it('is the dictionary node:zlib needs to inflate a stream primed with it', () => {
    const plain = Buffer.from('content-type: text/plain; charset=utf-8', 'latin1');
    const compressed = deflateSync(plain, { dictionary: SPDY_DICTIONARY });
    expect(compressed.readUInt32BE(2)).toBe(0xe3c6a7c2); // DICTID in the zlib header
    expect(inflateSync(compressed, { dictionary: SPDY_DICTIONARY })).toEqual(plain);
  });
});
