/**
 * A small, strict DER (X.690) reader and writer: exactly what X.509 certificates, CRLs and
 * the RA-TLS extension need, nothing more.
 *
 * Why our own: the attestation path parses certificates that arrive from untrusted peers.
 * A codec of ~200 lines with hard limits (depth, element count, definite lengths only,
 * single-byte tags) is easy to fuzz and to reason about; it never allocates more than
 * the input it was handed. @peculiar/x509 2.x needs a global Reflect polyfill through its
 * DI container, and node-forge cannot handle ECDSA certificates (docs/attestation.md).
 *
 * Invariant: every reader function either returns a view strictly inside the input buffer
 * or throws a ShadowplaneError (`SP_ATTEST_EVIDENCE_MALFORMED` unless the caller passes a
 * different code). It never reads past the end and never recurses without a depth bound.
 */
import { ShadowplaneError, type ErrorCode } from '../errors.ts';

/** Universal tags used by shadowplane. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag numbers: `ctx(0, true)` is `[0]` constructed (EXPLICIT). */
export function ctx(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** One decoded element: a view into the buffer it came from. */
export interface DerElement {
  readonly tag: number;
  /** The whole TLV (header and content). */
  readonly raw: Buffer;
  /** The content octets only. */
  readonly content: Buffer;
}

/** Hard limits so that a hostile input cannot make the reader do unbounded work. */
const MAX_CHILDREN = 4096;
const MAX_LENGTH_OCTETS = 4;

function fail(code: ErrorCode, what: string, why: string): never {
  throw new ShadowplaneError(code, `${what}: ${why}`);
}

/**
 * Reads one TLV at `offset`. Rejects indefinite lengths, high tag numbers, lengths with
 * more than 4 octets and anything that runs past the buffer.
 */
export function readElement(buf: Buffer, offset: number, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): DerElement {
  if (offset + 2 > buf.length) fail(code, what, 'truncated DER header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) fail(code, what, 'DER high tag numbers are not supported');
  const first = buf[offset + 1]!;
  let length: number;
  let header = 2;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    if (n === 0) fail(code, what, 'indefinite DER length');
    if (n > MAX_LENGTH_OCTETS) fail(code, what, 'DER length too large');
    if (offset + 2 + n > buf.length) fail(code, what, 'truncated DER length');
    if (buf[offset + 2] === 0) fail(code, what, 'non-minimal DER length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (length < 0x80) fail(code, what, 'non-minimal DER length');
    header = 2 + n;
  }
  const end = offset + header + length;
  if (end > buf.length) fail(code, what, 'DER element runs past the end of its container');
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** Reads a buffer that must hold exactly one element (no trailing bytes). */
export function readOnly(buf: Buffer, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): DerElement {
  const el = readElement(buf, 0, what, code);
  if (el.raw.length !== buf.length) fail(code, what, 'trailing bytes after DER element');
  return el;
}

/** The children of a constructed element, in order. */
export function children(el: DerElement, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): DerElement[] {
  if ((el.tag & 0x20) === 0) fail(code, what, 'expected a constructed DER element');
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < el.content.length) {
    if (out.length >= MAX_CHILDREN) fail(code, what, 'too many DER elements');
    const child = readElement(el.content, offset, what, code);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** Checks the tag and returns the element, so that callers read like the ASN.1 module. */
export function expectTag(el: DerElement | undefined, tag: number, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): DerElement {
  if (el === undefined) fail(code, what, 'missing DER element');
  if (el.tag !== tag) fail(code, what, `expected DER tag 0x${tag.toString(16)}, found 0x${el.tag.toString(16)}`);
  return el;
}

/** Decodes an OBJECT IDENTIFIER's content to dotted form. */
export function decodeOid(content: Buffer, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): string {
  if (content.length === 0 || content.length > 128) fail(code, what, 'bad OID length');
  const arcs: bigint[] = [];
  let value = 0n;
  let started = false;
  for (const byte of content) {
    if (!started && byte === 0x80) fail(code, what, 'non-minimal OID arc');
    started = true;
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
      started = false;
    }
  }
  if (started) fail(code, what, 'truncated OID');
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Decodes a non-negative INTEGER to its magnitude bytes (no sign octet). */
export function decodeUnsigned(el: DerElement, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): Buffer {
  expectTag(el, TAG.INTEGER, what, code);
  const c = el.content;
  if (c.length === 0) fail(code, what, 'empty INTEGER');
  if ((c[0]! & 0x80) !== 0) fail(code, what, 'negative INTEGER');
  return c[0] === 0 && c.length > 1 ? c.subarray(1) : c;
}

/** Decodes a small non-negative INTEGER (at most 48 bits) to a number. */
export function decodeSmallInt(el: DerElement, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): number {
  const mag = decodeUnsigned(el, what, code);
  if (mag.length > 6) fail(code, what, 'INTEGER too large');
  let v = 0;
  for (const b of mag) v = v * 256 + b;
  return v;
}

/** Decodes UTCTime or GeneralizedTime (the forms RFC 5280 allows: Z-terminated, no fractions). */
export function decodeTime(el: DerElement, what: string, code: ErrorCode = 'SP_ATTEST_EVIDENCE_MALFORMED'): Date {
  const s = el.content.toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (el.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)) !== null) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (el.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)) !== null) {
    year = Number(m[1]);
  } else {
    fail(code, what, 'bad DER time');
  }
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime())) fail(code, what, 'bad DER time');
  return d;
}

// ---------------------------------------------------------------------------------------
// Writer

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(TAG.SET, Buffer.concat(items));
export const octets = (b: Buffer): Buffer => tlv(TAG.OCTET_STRING, b);
export const utf8 = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
export const ia5 = (s: string): Buffer => tlv(TAG.IA5_STRING, Buffer.from(s, 'latin1'));
export const bool = (v: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0]));
export const derNull = (): Buffer => tlv(TAG.NULL, Buffer.alloc(0));
/** BIT STRING with no unused bits. */
export const bitString = (b: Buffer): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), b]));
export const explicit = (n: number, inner: Buffer): Buffer => tlv(ctx(n, true), inner);

/** A non-negative INTEGER from a number, bigint or big-endian magnitude. */
export function uint(v: number | bigint | Buffer): Buffer {
  let mag: Buffer;
  if (Buffer.isBuffer(v)) {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    mag = v.subarray(i);
    if (mag.length === 0) mag = Buffer.from([0]);
  } else {
    let hex = BigInt(v).toString(16);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    mag = Buffer.from(hex, 'hex');
  }
  if ((mag[0]! & 0x80) !== 0) mag = Buffer.concat([Buffer.from([0]), mag]);
  return tlv(TAG.INTEGER, mag);
}

/** An OBJECT IDENTIFIER from dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new ShadowplaneError('SP_INTERNAL', 'OID needs two arcs');
  const out: number[] = [];
  const push = (value: bigint): void => {
    const groups: number[] = [Number(value & 0x7fn)];
    for (let v = value >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...groups);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(TAG.OID, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'latin1'));
}
