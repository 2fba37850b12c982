/**
 * Links in a proxied pod's answers that point into the pod go through the proxy path
 * again, as the API server's pods/proxy and services/proxy do it (apimachinery
 * `util/proxy/transport.go`): the `Location` of a redirect, and the URL attributes of
 * HTML tags in a `text/html` body.
 *
 * A link is rewritten when it is path-absolute (`/x`, not `//host/x`), or absolute with
 * the host the client asked the proxy for (its `Host`/`:authority`) or the pod's own
 * loopback address at the proxied port (what an application that builds links from its
 * `Host` header writes, since the agent sends `Host: 127.0.0.1:PORT`). It becomes
 * `PREFIX/x` (`PREFIX` = `/api/v1/namespaces/NS/pods/NAME[:PORT]/proxy`), with its
 * query and fragment; a path that already starts with the prefix is left alone. Relative
 * links, other hosts and other schemes (`mailto:`, `javascript:`) are left alone.
 *
 * The HTML rewriter streams: it tokenises just enough HTML (tags and their attributes,
 * comments, raw-text elements such as `<script>`) to find the attributes the API server
 * rewrites, and passes every other byte through unchanged (the API server re-serialises
 * every tag; here only changed attribute values differ). It holds back at most one
 * incomplete tag, bounded by MAX_HELD_TAG; a longer tag is passed through unchanged.
 * A `gzip` body is decoded, rewritten and encoded again. Other encodings pass through
 * unchanged, as with the API server, and so does `deflate`, which the API server decodes as
 * raw deflate although HTTP's `deflate` is zlib-wrapped: servers send both, and a wrong
 * guess would break the page rather than leave its links alone. An attribute is judged
 * as a browser reads it (character references decoded, surrounding whitespace and tabs
 * and newlines removed: `rewriteAttributeLink`), and only the prefix is inserted.
 *
 * Invariant: nothing here logs or reports body bytes.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { constants as zlibConstants, createGunzip, createGzip } from 'node:zlib';

/** The longest single tag held back while waiting for its end (the rest of the body streams). */
export const MAX_HELD_TAG = 16 * 1024;

export interface LinkContext {
  /** `/api/v1/namespaces/NS/pods/NAME[:PORT]/proxy` (or `…/services/…/proxy`), as the client sent it. */
  readonly prefix: string;
  /** The proxied port on the pod's loopback. */
  readonly port: number;
  /** Whether the pod's port speaks TLS (an `https:` target). */
  readonly tls: boolean;
  /** The host the client asked the proxy for (`Host` or `:authority`), if any. */
  readonly requestHost: string | undefined;
}

const ABSOLUTE = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?\/\/([^/?#\\]*)(.*)$/s;

/** `link` rewritten to go through the proxy path again when it points into the pod; else unchanged. */
export function rewriteLink(link: string, ctx: LinkContext): string {
  const at = pathIntoPod(link, ctx);
  return at === undefined ? link : withPrefix(link.slice(at), ctx.prefix);
}

/**
 * Where the path of a link into the pod starts in `link` (0 for a path-absolute link),
 * or undefined when it does not point into the pod.
 */
function pathIntoPod(link: string, ctx: LinkContext): number | undefined {
  if (link.startsWith('/') && !link.startsWith('//')) return 0;
  const m = ABSOLUTE.exec(link);
  if (m === null) return undefined;
  const scheme = m[1]?.toLowerCase();
  const host = m[2]!.toLowerCase();
  const rest = m[3]!;
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') return undefined;
  // An empty path is relative to the API server too: left alone.
  if (!rest.startsWith('/')) return undefined;
  const sameHost = (ctx.requestHost !== undefined && host === ctx.requestHost.toLowerCase()) || isPodLoopback(host, scheme, ctx);
  return sameHost ? link.length - rest.length : undefined;
}

/**
 * An attribute value as written in the page (bytes as latin1 characters), rewritten like
 * `rewriteLink` judges the link a browser reads from it: character references decoded,
 * leading and trailing ASCII whitespace and every tab and newline removed. The prefix
 * goes before the raw text where the link's path starts; the rest of the value stays as
 * written (the prefix holds no character that needs a reference).
 */
export function rewriteAttributeLink(raw: string, ctx: LinkContext): string {
  if (raw.indexOf('&') < 0 && !/[\t\n\r\f ]/.test(raw)) return rewriteLink(raw, ctx);
  const { text, rawAt } = browserUrlText(raw);
  const at = pathIntoPod(text, ctx);
  if (at === undefined) return raw;
  const path = text.slice(at);
  // A path already under the prefix keeps it (an absolute link loses its scheme and host, as rewriteLink does).
  const under = withPrefix(path, ctx.prefix) === path;
  if (under && at === 0) return raw;
  return (under ? '' : ctx.prefix) + raw.slice(rawAt[at]);
}

/**
 * The URL text a browser reads from a raw attribute value, and for each of its
 * characters where it starts in `raw`. Character references: decimal and hexadecimal,
 * and the named ones that spell URL punctuation; any other stays as written (it cannot
 * turn a link into a path-absolute or same-host one).
 */
function browserUrlText(raw: string): { text: string; rawAt: number[] } {
  let text = '';
  const rawAt: number[] = [];
  let i = 0;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    if (c === 38) {
      const ref = CHAR_REF.exec(raw.slice(i, i + 40));
      const decoded = ref === null ? undefined : decodeReference(ref);
      if (decoded !== undefined) {
        text += decoded;
        for (let k = 0; k < decoded.length; k++) rawAt.push(i);
        i += ref![0].length;
        continue;
      }
    }
    text += raw[i];
    rawAt.push(i);
    i++;
  }
  // Browsers strip leading and trailing C0 controls and spaces, and remove tabs and newlines anywhere.
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) <= 32) start++;
  while (end > start && text.charCodeAt(end - 1) <= 32) end--;
  let out = '';
  const outAt: number[] = [];
  for (let k = start; k < end; k++) {
    const ch = text.charCodeAt(k);
    if (ch === 9 || ch === 10 || ch === 13) continue;
    out += text[k];
    outAt.push(rawAt[k]!);
  }
  outAt.push(raw.length);
  return { text: out, rawAt: outAt };
}

const CHAR_REF = /^&(?:#([0-9]{1,8});?|#[xX]([0-9a-fA-F]{1,7});?|([A-Za-z]{2,10});)/;
const NAMED_URL_REFERENCES: Readonly<Record<string, string>> = {
  sol: '/',
  colon: ':',
  period: '.',
  amp: '&',
  AMP: '&',
  num: '#',
  quest: '?',
  equals: '=',
  percnt: '%',
  commat: '@',
  bsol: '\\',
  lowbar: '_',
  Tab: '\t',
  NewLine: '\n',
};

function decodeReference(ref: RegExpExecArray): string | undefined {
  if (ref[3] !== undefined) return NAMED_URL_REFERENCES[ref[3]];
  const code = ref[1] !== undefined ? Number.parseInt(ref[1], 10) : Number.parseInt(ref[2]!, 16);
  // Only ASCII matters to the judgement; other characters stay as written.
  return code > 0 && code < 128 ? String.fromCharCode(code) : undefined;
}

/**
 * A cookie the pod sets, scoped to its proxy path: `Path` goes under the prefix (when the
 * pod names none, the directory of the pod's request path, as a browser defaults it) and
 * `Domain` is dropped. The browser then sends it back only through this proxy path, never
 * with the requests the proxy passes through to the API server on the same origin (with
 * `Path=/` it would go with every one of them). A `__Host-` cookie, which must have
 * `Path=/`, is thereby refused by browsers: it cannot be kept from the API server.
 */
export function scopeSetCookie(value: string, prefix: string, podPath: string): string | undefined {
  const parts = value.split(';');
  const kept: string[] = [parts[0]!];
  let path: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const attribute = parts[i]!;
    const eq = attribute.indexOf('=');
    const name = (eq < 0 ? attribute : attribute.slice(0, eq)).trim().toLowerCase();
    if (name === 'domain') continue;
    if (name === 'path') {
      // The last Path attribute counts (RFC 6265 §5.3).
      path = eq < 0 ? '' : attribute.slice(eq + 1).trim();
      continue;
    }
    kept.push(attribute);
  }
  const base = path !== undefined && path.startsWith('/') ? path : defaultCookiePath(podPath);
  // The request path is the client's text: a `;` in it must not become attributes.
  let scoped = withPrefix(base, prefix);
  if (!COOKIE_PATH.test(scoped)) scoped = `${prefix}/`;
  // A prefix that cannot be a cookie path: no cookie at all rather than an unscoped one.
  if (!COOKIE_PATH.test(scoped)) return undefined;
  kept.push(` Path=${scoped}`);
  return kept.join(';');
}

/** RFC 6265 path-value: any character but controls and `;`. */
const COOKIE_PATH = /^[\x20-\x3a\x3c-\x7e]*$/;

/** RFC 6265 §5.1.4: the directory of a request path (here: of its part before any `;`). */
function defaultCookiePath(path: string): string {
  const plain = path.split(';', 1)[0]!;
  const last = plain.lastIndexOf('/');
  return !plain.startsWith('/') || last <= 0 ? '/' : plain.slice(0, last);
}

const REFERRER_POLICIES = new Set([
  'no-referrer',
  'no-referrer-when-downgrade',
  'same-origin',
  'origin',
  'strict-origin',
  'origin-when-cross-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
]);

/** Policies that send a page's path with requests to its own origin. */
const SAME_ORIGIN_PATH_POLICIES = new Set(['no-referrer-when-downgrade', 'same-origin', 'origin-when-cross-origin', 'strict-origin-when-cross-origin', 'unsafe-url']);

/**
 * The `Referrer-Policy` of a proxied pod's response: the pod's own (the last policy a
 * browser knows counts) when it sends the page's path within the origin, else
 * `same-origin`. Within the origin the page's URL goes with each request as `Referer`,
 * and the router refuses a request from a confidential page that would pass through to
 * the API server (route.ts); `same-origin` sends nothing to other origins, so replacing
 * `no-referrer`, `origin` or `strict-origin` tells no other site more.
 */
export function referrerPolicy(value: string | string[] | undefined): string {
  let last: string | undefined;
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (REFERRER_POLICIES.has(t)) last = t;
    }
  }
  return last !== undefined && SAME_ORIGIN_PATH_POLICIES.has(last) ? last : 'same-origin';
}

function withPrefix(path: string, prefix: string): string {
  if (path.startsWith(prefix)) {
    const next = path.charCodeAt(prefix.length);
    // `/`, `?`, `#` or the end: already through the proxy.
    if (Number.isNaN(next) || next === 47 || next === 63 || next === 35) return path;
  }
  return `${prefix}${path}`;
}

function isPodLoopback(host: string, scheme: string | undefined, ctx: LinkContext): boolean {
  if (scheme !== undefined && scheme !== (ctx.tls ? 'https' : 'http')) return false;
  const colon = host.lastIndexOf(':');
  const bracket = host.lastIndexOf(']');
  const hasPort = colon > bracket && colon !== -1;
  const name = hasPort ? host.slice(0, colon) : host;
  const port = hasPort ? Number(host.slice(colon + 1)) : ctx.tls ? 443 : 80;
  return (name === '127.0.0.1' || name === 'localhost' || name === '[::1]') && port === ctx.port;
}

/** Tags whose attributes hold URLs, and those attributes: the API server's list. */
const URL_ATTRIBUTES: ReadonlyMap<string, readonly string[]> = new Map([
  ['a', ['href']],
  ['applet', ['codebase']],
  ['area', ['href']],
  ['audio', ['src']],
  ['base', ['href']],
  ['blockquote', ['cite']],
  ['body', ['background']],
  ['button', ['formaction']],
  ['command', ['icon']],
  ['del', ['cite']],
  ['embed', ['src']],
  ['form', ['action']],
  ['frame', ['longdesc', 'src']],
  ['head', ['profile']],
  ['html', ['manifest']],
  ['iframe', ['longdesc', 'src']],
  ['img', ['longdesc', 'src', 'usemap']],
  ['input', ['src', 'usemap', 'formaction']],
  ['ins', ['cite']],
  ['link', ['href']],
  ['object', ['classid', 'codebase', 'data', 'usemap']],
  ['q', ['cite']],
  ['script', ['src']],
  ['source', ['src']],
  ['video', ['poster', 'src']],
]);

/** Elements whose content is text up to their end tag, never tags (as the HTML tokenizer treats them). */
const RAW_TEXT = new Set(['iframe', 'noembed', 'noframes', 'noscript', 'script', 'style', 'textarea', 'title', 'xmp']);

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * Where a scan of a start tag stopped: the offset from the tag's `<` to go on from, the
 * quote it is inside (0: none), and the last character before it that was not a blank.
 * Kept across chunks, so a tag that arrives in many small chunks is scanned once.
 */
interface TagScan {
  offset: number;
  quote: number;
  last: number;
}

/**
 * The end of the start tag at `s[start]` (`<` then a letter): the index after its `>`, or
 * -1 when `s` ends first, with `scan` updated to go on from there. A quote opens a value
 * only right after `=` (blanks aside), and a quoted value may hold `>`.
 */
function startTagEnd(s: string, start: number, scan: TagScan): number {
  let p = start + scan.offset;
  let quote = scan.quote;
  let last = scan.last;
  const n = s.length;
  for (; p < n; p++) {
    const c = s.charCodeAt(p);
    if (quote !== 0) {
      if (c === quote) {
        quote = 0;
        last = c;
      }
      continue;
    }
    if (c === 62) return p + 1; // >
    if ((c === 34 || c === 39) && last === 61) quote = c;
    if (!isSpace(c)) last = c;
  }
  scan.offset = p - start;
  scan.quote = quote;
  scan.last = last;
  return -1;
}

/** The end of the name of the start tag at `s[start]` (its `<`): the first blank, `/` or `>` after it. */
function tagNameEnd(s: string, start: number): number {
  let p = start + 1;
  while (p < s.length && !isSpace(s.charCodeAt(p)) && s.charCodeAt(p) !== 47 && s.charCodeAt(p) !== 62) p++;
  return p;
}

/** The start tag `tag` (complete, `<…>`) with its URL attributes rewritten, and its lower-case name. */
function rewriteStartTag(tag: string, ctx: LinkContext): { text: string; name: string } {
  let p = tagNameEnd(tag, 0);
  const name = tag.slice(1, p).toLowerCase();
  const attributes = URL_ATTRIBUTES.get(name);
  if (attributes === undefined) return { text: tag, name };
  let out = '';
  let copied = 0;
  const end = tag.length - 1; // the `>`
  while (p < end) {
    const c = tag.charCodeAt(p);
    if (isSpace(c) || c === 47) {
      p++;
      continue;
    }
    const nameStart = p;
    p++;
    while (p < end && !isSpace(tag.charCodeAt(p)) && tag.charCodeAt(p) !== 47 && tag.charCodeAt(p) !== 61) p++;
    const attribute = tag.slice(nameStart, p).toLowerCase();
    let q = p;
    while (q < end && isSpace(tag.charCodeAt(q))) q++;
    if (tag.charCodeAt(q) !== 61) continue; // no value
    q++;
    while (q < end && isSpace(tag.charCodeAt(q))) q++;
    let valueStart: number;
    let valueEnd: number;
    const quote = tag.charCodeAt(q);
    if (quote === 34 || quote === 39) {
      valueStart = q + 1;
      valueEnd = tag.indexOf(quote === 34 ? '"' : "'", valueStart);
      if (valueEnd === -1) valueEnd = end;
      p = valueEnd + 1;
    } else {
      valueStart = q;
      valueEnd = q;
      while (valueEnd < end && !isSpace(tag.charCodeAt(valueEnd))) valueEnd++;
      p = valueEnd;
    }
    if (!attributes.includes(attribute)) continue;
    const value = tag.slice(valueStart, valueEnd);
    const rewritten = rewriteAttributeLink(value, ctx);
    if (rewritten === value) continue;
    out += tag.slice(copied, valueStart) + rewritten;
    copied = valueEnd;
  }
  return { text: copied === 0 ? tag : out + tag.slice(copied), name };
}

/**
 * Rewrites the links of an HTML body as it streams. Works on bytes as latin1 characters
 * (one per byte), so every byte it does not rewrite comes out as it went in, whatever the
 * document's character encoding; the markup it looks at is ASCII.
 *
 * Bounded work: every character is scanned a constant number of times. An incomplete
 * start tag is held (up to MAX_HELD_TAG) and only the chunks that follow are scanned,
 * from where the scan stopped; the other constructs hold a few characters at most. A
 * start tag longer than MAX_HELD_TAG is never rewritten, however it arrives.
 */
export class HtmlLinkRewriter extends Transform {
  readonly #ctx: LinkContext;
  /** Input not yet passed on: an incomplete construct at the end of the last chunk. */
  #held = '';
  /** Set while #held is an incomplete start tag: where its scan goes on. */
  #tag: TagScan | undefined;
  /** Set while a start tag too long to hold is passed on: its lower-case name. */
  #passing: string | undefined;
  /** Inside a construct that ends at one of these (`-->`, `>`), passing it through. */
  #until: readonly string[] | undefined;
  /** Inside a raw-text element: its lower-case name. */
  #raw: string | undefined;
  /** After `<plaintext>`: the rest is text. */
  #plaintext = false;

  constructor(ctx: LinkContext) {
    super();
    this.#ctx = ctx;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let text = chunk.toString('latin1');
    let out = '';
    const scan = this.#tag;
    if (scan !== undefined) {
      // Only the new text is scanned, from where the tag's scan stopped.
      const end = startTagEnd(text, -scan.offset, scan);
      if (end === -1) {
        if (this.#passing !== undefined) {
          this.#emit(text);
        } else {
          this.#held += text;
          if (this.#held.length > MAX_HELD_TAG) this.#emit(this.#passTag());
        }
        callback();
        return;
      }
      if (this.#passing !== undefined) {
        out = text.slice(0, end);
        this.#enter(this.#passing);
      } else {
        out = this.#completeTag(this.#held + text.slice(0, end));
      }
      this.#held = '';
      this.#tag = undefined;
      this.#passing = undefined;
      text = text.slice(end);
    }
    this.#emit(out + this.#scan(this.#held + text, false));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#tag !== undefined) {
      this.#tag = undefined;
      this.#passing = undefined;
      const held = this.#held;
      this.#held = '';
      this.#emit(held);
    } else {
      this.#emit(this.#scan(this.#held, true));
    }
    callback();
  }

  #emit(text: string): void {
    if (text.length > 0) this.push(Buffer.from(text, 'latin1'));
  }

  /**
   * A complete start tag: rewritten, or passed on unchanged when longer than
   * MAX_HELD_TAG (so that whether a tag is rewritten never depends on how the body was
   * cut into chunks); raw text follows the elements that have it.
   */
  #completeTag(tag: string): string {
    if (tag.length > MAX_HELD_TAG) {
      this.#enter(tag.slice(1, tagNameEnd(tag, 0)).toLowerCase());
      return tag;
    }
    const { text, name } = rewriteStartTag(tag, this.#ctx);
    this.#enter(name);
    return text;
  }

  #enter(name: string): void {
    // `<script/>` starts raw text too: the self-closing flag means nothing on such elements.
    if (name === 'plaintext') this.#plaintext = true;
    else if (RAW_TEXT.has(name)) this.#raw = name;
  }

  /** The held tag grew past MAX_HELD_TAG: passed on as it is; its scan goes on (quotes and all) to its end. */
  #passTag(): string {
    const held = this.#held;
    this.#held = '';
    this.#passing = held.slice(1, tagNameEnd(held, 0)).toLowerCase();
    return held;
  }

  /** Passes on what can be decided in `s`, keeping the undecided tail in #held (none when `final`). */
  #scan(s: string, final: boolean): string {
    let out = '';
    let i = 0;
    this.#held = '';
    const hold = (from: number): string => {
      if (final) return out + s.slice(from);
      this.#held = s.slice(from);
      return out;
    };
    while (i < s.length) {
      if (this.#plaintext) return out + s.slice(i);
      const until = this.#until;
      if (until !== undefined) {
        let j = -1;
        let length = 0;
        let longest = 0;
        for (const t of until) {
          const k = s.indexOf(t, i);
          if (k !== -1 && (j === -1 || k < j)) {
            j = k;
            length = t.length;
          }
          longest = Math.max(longest, t.length);
        }
        if (j === -1) {
          // Keep what could be the start of a terminator.
          const keep = Math.max(i, s.length - (longest - 1));
          out += s.slice(i, keep);
          return hold(keep);
        }
        out += s.slice(i, j + length);
        i = j + length;
        this.#until = undefined;
        continue;
      }
      if (this.#raw !== undefined) {
        const name = this.#raw;
        let j = s.indexOf('</', i);
        while (j !== -1) {
          const after = j + 2 + name.length;
          if (after >= s.length) break; // cannot decide yet
          if (s.slice(j + 2, after).toLowerCase() === name && (isSpace(s.charCodeAt(after)) || s.charCodeAt(after) === 47 || s.charCodeAt(after) === 62)) break;
          j = s.indexOf('</', j + 2);
        }
        if (j === -1) {
          const keep = s.endsWith('<') ? s.length - 1 : s.length;
          out += s.slice(i, Math.max(i, keep));
          return hold(Math.max(i, keep));
        }
        out += s.slice(i, j);
        i = j;
        if (j + 2 + name.length >= s.length) return hold(j);
        this.#raw = undefined;
        continue;
      }
      const lt = s.indexOf('<', i);
      if (lt === -1) return out + s.slice(i);
      out += s.slice(i, lt);
      i = lt;
      if (i + 1 >= s.length) return hold(i);
      const c = s.charCodeAt(i + 1);
      if (c === 33) {
        // `<!--` comment (also `<!-->` and `<!--->`), else `<!DOCTYPE …>` and other declarations.
        if (i + 6 > s.length && !final) return hold(i);
        if (s.startsWith('<!--', i)) {
          if (s.startsWith('>', i + 4) || s.startsWith('->', i + 4)) {
            const end = s.indexOf('>', i + 4) + 1;
            out += s.slice(i, end);
            i = end;
            continue;
          }
          out += '<!--';
          i += 4;
          this.#until = COMMENT_ENDS;
        } else {
          this.#until = TAG_END;
        }
        continue;
      }
      if (c === 47 || c === 63) {
        // An end tag, or `<?…>`: through the next `>`.
        this.#until = TAG_END;
        continue;
      }
      if (!isAlpha(c)) {
        out += '<';
        i++;
        continue;
      }
      const scan: TagScan = { offset: 1, quote: 0, last: 0 };
      const end = startTagEnd(s, i, scan);
      if (end === -1) {
        if (final) return out + s.slice(i);
        out = hold(i);
        this.#tag = scan;
        if (this.#held.length > MAX_HELD_TAG) out += this.#passTag();
        return out;
      }
      out += this.#completeTag(s.slice(i, end));
      i = end;
    }
    return out;
  }
}

const COMMENT_ENDS: readonly string[] = ['-->', '--!>'];
const TAG_END: readonly string[] = ['>'];

/**
 * The client's `Accept-Encoding` as sent to the pod: only the codings whose HTML the
 * rewriter can read (`gzip`, `x-gzip`, `identity`, with their weights), so that a pod
 * never answers an HTML page in brotli, zstd or deflate whose links would then stay
 * unrewritten (and, followed, be refused: route.ts). Undefined: send none.
 */
export function rewritableEncodings(value: OutgoingHttpHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const kept: string[] = [];
  for (const part of (Array.isArray(value) ? value.join(',') : String(value)).split(',')) {
    const coding = part.split(';', 1)[0]!.trim().toLowerCase();
    if (coding === 'gzip' || coding === 'x-gzip' || coding === 'identity') kept.push(part.trim());
  }
  return kept.length > 0 ? kept.join(', ') : 'identity';
}

/**
 * Whether a response with these headers, to this method, has an HTML body whose links are
 * rewritten: not for HEAD, 1xx, 204, 206 (a byte range may start inside a tag) or 304, not
 * for an empty body, and only for no encoding or gzip.
 */
export function rewritesHtml(method: string, status: number, headers: OutgoingHttpHeaders): boolean {
  if (method === 'HEAD' || status === 204 || status === 206 || status === 304 || (status >= 100 && status < 200)) return false;
  if (headers['content-length'] === '0' || headers['content-length'] === 0) return false;
  const type = headers['content-type'];
  if (typeof type !== 'string' || type.split(';', 1)[0]!.trim().toLowerCase() !== 'text/html') return false;
  const encoding = headers['content-encoding'];
  return encoding === undefined || encoding === '' || encoding === 'identity' || encoding === 'gzip';
}

/**
 * The response headers once the body is rewritten: its length is no longer known, and a
 * strong entity tag, which promises these exact bytes, becomes a weak one.
 */
export function rewrittenHeaders(headers: OutgoingHttpHeaders): void {
  delete headers['content-length'];
  const etag = headers.etag;
  if (typeof etag === 'string' && etag.startsWith('"')) headers.etag = `W/${etag}`;
}

/**
 * The transforms from the pod's body to the client's: decode gzip, rewrite links, encode
 * as it came. A gzip body that ends early is rewritten as far as it goes (not an error
 * after the headers were sent).
 */
export function htmlRewritePipeline(encoding: OutgoingHttpHeaders[string], ctx: LinkContext, maxInflated = MAX_INFLATED_HTML): Transform[] {
  const rewriter = new HtmlLinkRewriter(ctx);
  return encoding === 'gzip' ? [createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH }), new ByteBudget(maxInflated), rewriter, createGzip()] : [rewriter];
}

/**
 * The most HTML a gzip body may inflate to: a few hundred KiB of gzip can inflate to
 * hundreds of MiB, each byte of which costs the proxy's event loop a scan and a
 * recompression. Past it the response is cut off (the headers are out; the client sees a
 * broken response). A plain body costs only what the pod sends.
 */
export const MAX_INFLATED_HTML = 64 * 1024 * 1024;

/** Passes bytes through and fails once more than `max` went by. */
class ByteBudget extends Transform {
  readonly #max: number;
  #seen = 0;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#max) callback(new Error('inflated HTML over the limit'));
    else callback(null, chunk);
  }
}
