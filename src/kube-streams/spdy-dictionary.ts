/**
 * The SPDY/3 header compression dictionary (SPDY/3 draft §2.6.10.1).
 *
 * Every SPDY/3 header block is zlib-compressed with this preset dictionary; a peer that
 * uses any other dictionary produces blocks that fail with Z_NEED_DICT/Z_DATA_ERROR.
 * The dictionary is built here from its two parts (length-prefixed header names and
 * values, then a run of status codes, dates and common values) so that the table reads
 * as text rather than 1423 hex bytes. Its identity is pinned by size and adler32: the
 * module refuses to load if either is off, and zlib itself checks the same adler32
 * (the DICTID field) on every stream it inflates.
 */

const PREFIXED_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization',
  'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type',
  'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location',
  'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent',
  'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK',
  'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
] as const;

const TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** Size of the dictionary in bytes. */
export const SPDY_DICTIONARY_LENGTH = 1423;
/** adler32 of the dictionary: the DICTID a SPDY/3 zlib stream announces. */
export const SPDY_DICTIONARY_ADLER32 = 0xe3c6a7c2;

/** adler32 as zlib defines it (RFC 1950 §8.2). Used to pin dictionaries, not on hot paths. */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  // Reduce every 5552 bytes, the largest run that cannot overflow 32 bits.
  for (let start = 0; start < data.length; start += 5552) {
    const end = Math.min(start + 5552, data.length);
    for (let i = start; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function build(): Uint8Array {
  const out = new Uint8Array(SPDY_DICTIONARY_LENGTH);
  const view = new DataView(out.buffer);
  let offset = 0;
  const put = (text: string): void => {
    for (let i = 0; i < text.length; i++) out[offset + i] = text.charCodeAt(i);
    offset += text.length;
  };
  for (const word of PREFIXED_WORDS) {
    view.setUint32(offset, word.length);
    offset += 4;
    put(word);
  }
  put(TAIL);
  if (offset !== SPDY_DICTIONARY_LENGTH || adler32(out) !== SPDY_DICTIONARY_ADLER32) {
    throw new Error('SPDY/3 dictionary does not match its pinned size and adler32');
  }
  return out;
}

/** The SPDY/3 header dictionary. Treat as read-only: zlib contexts share it. */
export const SPDY_DICTIONARY: Uint8Array = build();
