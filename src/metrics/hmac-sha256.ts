/**
 * HMAC-SHA-256 for many short messages under one key, in plain TypeScript.
 *
 * Why not node:crypto: a scrape can carry tens of thousands of distinct label values to
 * hash, and `createHmac` costs about 1.7 µs per call in object setup alone. HMAC's
 * inner and outer key blocks are the same for every message, so their compression
 * ("midstate") is computed once; a value of up to 55 bytes then costs two SHA-256
 * compressions. The output is checked against `createHmac` in the unit tests over
 * random keys and messages, including multi-block and non-ASCII ones.
 *
 * This is FIPS 180-4 SHA-256 and RFC 2104 HMAC; nothing here is secret-dependent in
 * timing beyond message length, which the caller already knows.
 */
import { createHash } from 'node:crypto';

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const HEX_CODES = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** One SHA-256 compression of `w[0..15]` (big-endian words) into `state`. `w` is clobbered. */
function compressWords(state: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + s1 + ch + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (s0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

function loadBlock(w: Int32Array, bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
}

export class HmacSha256 {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #state = new Int32Array(8);
  readonly #w = new Int32Array(64);
  #buf = new Uint8Array(256);

  constructor(key: Uint8Array) {
    const k = key.byteLength > 64 ? new Uint8Array(createHash('sha256').update(key).digest()) : key;
    const block = new Uint8Array(64);
    for (let i = 0; i < 64; i++) block[i] = (i < k.byteLength ? k[i]! : 0) ^ 0x36;
    this.#inner.set(IV);
    loadBlock(this.#w, block, 0);
    compressWords(this.#inner, this.#w);
    for (let i = 0; i < 64; i++) block[i] = (i < k.byteLength ? k[i]! : 0) ^ 0x5c;
    this.#outer.set(IV);
    loadBlock(this.#w, block, 0);
    compressWords(this.#outer, this.#w);
    block.fill(0);
  }

  /**
   * The first `hexChars` (≤ 64) lower-case hex characters of HMAC(key, `bytes[start,
   * end)`), written as ASCII into `out` at `at` (no string made).
   */
  hexInto(bytes: Uint8Array, start: number, end: number, hexChars: number, out: Uint8Array, at: number): void {
    const len = end - start;
    if (this.#buf.length < len + 72) this.#buf = new Uint8Array(len + 72);
    const buf = this.#buf;
    for (let i = 0; i < len; i++) buf[i] = bytes[start + i]!;
    this.#digest(len);
    const state = this.#state;
    for (let i = 0; i < hexChars; i++) out[at + i] = HEX_CODES[(state[i >> 3]! >>> (28 - (i & 7) * 4)) & 15]!;
  }

  /** HMAC of the `len` message bytes at the start of `#buf` (which has room for the padding), into `#state`. */
  #digest(len: number): void {
    const buf = this.#buf;
    // Pad: 0x80, zeros, 64-bit big-endian bit length of (key block + message).
    const total = len + 9;
    const padded = (total + 63) & ~63;
    buf.fill(0, len, padded);
    buf[len] = 0x80;
    const bits = (64 + len) * 8;
    buf[padded - 1] = bits & 0xff;
    buf[padded - 2] = (bits >>> 8) & 0xff;
    buf[padded - 3] = (bits >>> 16) & 0xff;
    buf[padded - 4] = (bits >>> 24) & 0xff;
    buf[padded - 5] = Math.floor(bits / 0x100000000) & 0xff;
    const state = this.#state;
    const w = this.#w;
    state.set(this.#inner);
    for (let off = 0; off < padded; off += 64) {
      loadBlock(w, buf, off);
      compressWords(state, w);
    }
    // Outer: the 32-byte inner digest, 0x80, zeros, bit length of 64 + 32 bytes.
    for (let i = 0; i < 8; i++) w[i] = state[i]!;
    w[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = (64 + 32) * 8;
    state.set(this.#outer);
    compressWords(state, w);
  }
}
