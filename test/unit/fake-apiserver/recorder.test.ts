import { describe, expect, it } from 'vitest';
import { ByteRecorder, streamContains } from '../../support/fake-apiserver/recorder.ts';

describe('ByteRecorder', () => {
  it('finds a needle split across chunks of one connection', () => {
    const r = new ByteRecorder();
    const tap = r.openConnection('h2');
    tap.record('received', Buffer.from('xxxx-sec'));
    tap.record('received', Buffer.from('r'));
    tap.record('received', Buffer.from('et-yyyy'));
    expect(r.contains('-secret-')).toBe(true);
    expect(r.contains(Buffer.from('secret'))).toBe(true);
  });

  it('finds a needle in the sent direction and reports both directions separately', () => {
    const r = new ByteRecorder();
    const tap = r.openConnection('http/1.1');
    tap.record('received', Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    tap.record('sent', Buffer.from('HTTP/1.1 200 OK\r\n\r\nhello'));
    expect(r.contains('hello')).toBe(true);
    expect(r.received().toString()).toBe('GET / HTTP/1.1\r\n\r\n');
    expect(r.sent().toString()).toContain('hello');
    expect(r.connections()).toHaveLength(1);
    expect(r.connections()[0]?.alpn).toBe('http/1.1');
  });

  it('does not invent a match by joining two connections or two directions', () => {
    const r = new ByteRecorder();
    const a = r.openConnection('h2');
    const b = r.openConnection('h2');
    a.record('received', Buffer.from('abc-sec'));
    b.record('received', Buffer.from('ret-def'));
    a.record('sent', Buffer.from('ret'));
    expect(r.contains('secret')).toBe(false);
    expect(r.contains('abc-sec')).toBe(true);
  });

  it('copies recorded chunks so later mutation of a writer buffer does not change the record', () => {
    const r = new ByteRecorder();
    const buf = Buffer.from('token-1');
    r.openConnection('').record('sent', buf);
    buf.fill(0x41);
    expect(r.contains('token-1')).toBe(true);
  });

  it('forgets everything on reset and keeps recording for open connections', () => {
    const r = new ByteRecorder();
    const tap = r.openConnection('h2');
    tap.record('received', Buffer.from('before'));
    r.reset();
    expect(r.contains('before')).toBe(false);
    expect(r.totalBytes).toBe(0);
    tap.record('received', Buffer.from('after'));
    expect(r.contains('after')).toBe(true);
  });

  it('records nothing while disabled', () => {
    const r = new ByteRecorder({ enabled: false });
    r.openConnection('h2').record('received', Buffer.from('quiet'));
    expect(r.contains('quiet')).toBe(false);
    r.enabled = true;
    r.openConnection('h2').record('received', Buffer.from('loud'));
    expect(r.contains('loud')).toBe(true);
  });

  it('stops at maxBytes and says it truncated', () => {
    const r = new ByteRecorder({ maxBytes: 10 });
    const tap = r.openConnection('h2');
    tap.record('received', Buffer.from('12345678'));
    expect(r.truncated).toBe(false);
    tap.record('received', Buffer.from('90ab'));
    expect(r.truncated).toBe(true);
    expect(r.totalBytes).toBe(8);
  });

  it('refuses an empty needle', () => {
    expect(() => new ByteRecorder().contains('')).toThrow(RangeError);
  });

  it('streamContains handles a needle spread over many one-byte chunks', () => {
    const needle = Buffer.from('needle-in-a-haystack');
    const chunks = [...Buffer.from('hay needle-in-a-haystack hay')].map((b) => Buffer.from([b]));
    expect(streamContains(chunks, needle)).toBe(true);
    expect(streamContains(chunks.slice(0, 10), needle)).toBe(false);
  });
});

describe('ByteRecorder views', () => {
  it('searches the wire and payload views separately or together', () => {
    const r = new ByteRecorder();
    r.openConnection('h2').record('received', Buffer.from('framed-bytes'));
    r.openPayload('GET /x').record('received', Buffer.from('decoded-header: value'));
    expect(r.contains('decoded-header', 'wire')).toBe(false);
    expect(r.contains('decoded-header', 'payload')).toBe(true);
    expect(r.contains('decoded-header')).toBe(true);
    expect(r.contains('framed-bytes', 'payload')).toBe(false);
    expect(r.connections().map((c) => c.view)).toEqual(['wire']);
    expect(r.payloads().map((c) => c.label)).toEqual(['GET /x']);
    expect(r.received().toString()).toBe('framed-bytes');
  });
});
