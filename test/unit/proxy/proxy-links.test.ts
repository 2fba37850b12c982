import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HtmlLinkRewriter, type LinkContext, MAX_HELD_TAG, htmlRewritePipeline, rewriteAttributeLink, rewriteLink, rewrittenHeaders, rewritesHtml } from '../../../src/proxy/confidential/proxy-links.ts';
import { seededRandom } from '../../support/testing.ts';

const prefix = '/api/v1/namespaces/ns/pods/p:8080/proxy';
/** A sink that hands each chunk to `into.push`. */
function collect(into: { push(c: Buffer): unknown }): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      into.push(chunk);
      callback();
    },
  });
}

const ctx: LinkContext = { prefix, port: 8080, tls: false, requestHost: 'proxy.example:8443' };

/** The body through the rewriter, cut into the given chunk sizes (cycled). */
async function rewrite(html: string | Buffer, sizes: readonly number[] = [1 << 20], context = ctx): Promise<Buffer> {
  const input = Buffer.isBuffer(html) ? html : Buffer.from(html);
  const chunks: Buffer[] = [];
  for (let at = 0, k = 0; at < input.length; k++) {
    const size = sizes[k % sizes.length]!;
    chunks.push(input.subarray(at, at + size));
    at += size;
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new HtmlLinkRewriter(context), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

describe('links into the pod', () => {
  it('sends path-absolute links and links to the pod or the proxy host back through the proxy, and leaves others alone', () => {
    expect(rewriteLink('/login?next=/', ctx)).toBe(`${prefix}/login?next=/`);
    expect(rewriteLink('/a#frag', ctx)).toBe(`${prefix}/a#frag`);
    expect(rewriteLink('http://127.0.0.1:8080/a?b', ctx)).toBe(`${prefix}/a?b`);
    expect(rewriteLink('http://localhost:8080/a', ctx)).toBe(`${prefix}/a`);
    expect(rewriteLink('//127.0.0.1:8080/a', ctx)).toBe(`${prefix}/a`);
    expect(rewriteLink('https://proxy.example:8443/debug/', ctx)).toBe(`${prefix}/debug/`);
    expect(rewriteLink('HTTPS://PROXY.EXAMPLE:8443/x', ctx)).toBe(`${prefix}/x`);
    // Already through the proxy; only a whole prefix counts.
    expect(rewriteLink(`${prefix}/a`, ctx)).toBe(`${prefix}/a`);
    expect(rewriteLink(prefix, ctx)).toBe(prefix);
    expect(rewriteLink(`${prefix}x/a`, ctx)).toBe(`${prefix}${prefix}x/a`);
    // Left alone: other ports, hosts and schemes, relative links, an empty path.
    for (const link of ['http://127.0.0.1:9090/a', 'https://example.com/a', '//example.com/a', 'relative/path', '../up', '?q=1', '#top', 'mailto:a@b', 'javascript:void(0)', 'http://127.0.0.1:8080', '']) {
      expect(rewriteLink(link, ctx), link).toBe(link);
    }
  });

  it('matches an https target by its own scheme and default port, never the other one', () => {
    const tls = { ...ctx, port: 8443, tls: true, requestHost: undefined };
    expect(rewriteLink('https://127.0.0.1:8443/a', tls)).toBe(`${prefix}/a`);
    expect(rewriteLink('https://localhost/a', { ...tls, port: 443 })).toBe(`${prefix}/a`);
    expect(rewriteLink('http://127.0.0.1:8443/a', tls)).toBe('http://127.0.0.1:8443/a');
    expect(rewriteLink('https://127.0.0.1:8443/a', { ...ctx, port: 8443 })).toBe('https://127.0.0.1:8443/a');
    expect(rewriteLink('http://[::1]:8080/a', ctx)).toBe(`${prefix}/a`);
    expect(rewriteLink('http://localhost/a', { ...ctx, port: 80 })).toBe(`${prefix}/a`);
  });
});

describe('attribute values as a browser reads them', () => {
  it.each([
    ['&#47;x?a=1&amp;b=2', `${prefix}&#47;x?a=1&amp;b=2`],
    ['&#x2F;x', `${prefix}&#x2F;x`],
    ['&#47x', `${prefix}&#47x`],
    ['&sol;x', `${prefix}&sol;x`],
    ['  /x  ', `${prefix}/x  `],
    ['/\tx', `${prefix}/\tx`],
    ['http&colon;//proxy.example:8443/in', `${prefix}/in`],
    ['http&#58;&#47;&#47;127.0.0.1:8080&#47;in?q', `${prefix}&#47;in?q`],
    [`&#47;api/v1/namespaces/ns/pods/p:8080/proxy/x`, `&#47;api/v1/namespaces/ns/pods/p:8080/proxy/x`],
    [`http://proxy.example:8443${prefix}/y`, `${prefix}/y`],
  ])('rewrites %s to %s', (raw, rewritten) => {
    expect(rewriteAttributeLink(raw, ctx)).toBe(rewritten);
  });

  it.each(['&#47;&#47;other.example/x', 'http&colon;//other.example/x', 'javascript&colon;alert(1)', 'relative&#47;x', '&unknown;/x', '&#0;/x', '&#x263A;/x', '&'])('leaves %s alone', (raw) => {
    expect(rewriteAttributeLink(raw, ctx)).toBe(raw);
  });
});

describe('HTML link rewriting', () => {
  const page = [
    '<!DOCTYPE html>\n<html manifest="/app.appcache"><head>',
    '<link rel=stylesheet href=/static/site.css>',
    "<script src='/static/app.js'></script>",
    '<script>if (a < b) document.write("<a href=\\"/not-a-tag\\">")</script>',
    '<style>body { background: url(/img/bg.png) } </style>',
    '</head><body background="/img/body.png">',
    '<!-- <a href="/commented-out"> -->',
    '<a class="x" HREF = "/debug/pprof/" title="a > b">pprof</a>',
    '<a href="relative">r</a> <a href="https://example.com/x">e</a> <a href="http://127.0.0.1:8080/abs?x=1&amp;y=2">abs</a>',
    '<img src="/i.png" srcset="/i2.png 2x" usemap="/map" alt="/alt">',
    '<form action="/submit" method=post><input type=image src="/btn.png" formaction=/go></form>',
    '<textarea><a href="/in-textarea"></textarea>',
    '<p data-href="/not-a-url-attribute">1 < 2 and 3 > 2</p>',
    '<iframe src="/frame"></iframe><video poster="/p.jpg" src="/v.mp4"></video>',
    '</body></html>\n',
  ].join('');
  const expected = page
    .replace('manifest="/app.appcache"', `manifest="${prefix}/app.appcache"`)
    .replace('href=/static/site.css', `href=${prefix}/static/site.css`)
    .replace("src='/static/app.js'", `src='${prefix}/static/app.js'`)
    .replace('background="/img/body.png"', `background="${prefix}/img/body.png"`)
    .replace('HREF = "/debug/pprof/"', `HREF = "${prefix}/debug/pprof/"`)
    .replace('href="http://127.0.0.1:8080/abs?x=1&amp;y=2"', `href="${prefix}/abs?x=1&amp;y=2"`)
    .replace('src="/i.png"', `src="${prefix}/i.png"`)
    .replace('usemap="/map"', `usemap="${prefix}/map"`)
    .replace('action="/submit"', `action="${prefix}/submit"`)
    .replace('src="/btn.png"', `src="${prefix}/btn.png"`)
    .replace('formaction=/go', `formaction=${prefix}/go`)
    .replace('<iframe src="/frame">', `<iframe src="${prefix}/frame">`)
    .replace('poster="/p.jpg" src="/v.mp4"', `poster="${prefix}/p.jpg" src="${prefix}/v.mp4"`);

  it('rewrites the URL attributes the API server rewrites and changes no other byte', async () => {
    expect((await rewrite(page)).toString()).toBe(expected);
    // Untouched: script and style text, comments, textarea content, other attributes.
    for (const kept of ['"/not-a-tag\\"', 'url(/img/bg.png)', '"/commented-out"', '"/in-textarea"', 'srcset="/i2.png 2x"', 'alt="/alt"', 'data-href="/not-a-url-attribute"']) {
      expect(expected).toContain(kept);
    }
  });

  it('gives the same bytes however the body is cut into chunks', async () => {
    const random = seededRandom(7);
    for (const sizes of [[1], [2], [3], [7], [13, 1, 5], [64]]) expect((await rewrite(page, sizes)).toString(), String(sizes)).toBe(expected);
    for (let run = 0; run < 50; run++) {
      const sizes = Array.from({ length: 8 }, () => 1 + Math.floor(random() * 40));
      expect((await rewrite(page, sizes)).toString(), String(sizes)).toBe(expected);
    }
  });

  it('passes every byte of non-ASCII and binary-looking content through', async () => {
    const body = Buffer.concat([Buffer.from('<p>grüße ☃ '), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from('<a href="/ü">x</a>')]);
    const out = await rewrite(body, [3]);
    expect(out.equals(Buffer.concat([Buffer.from('<p>grüße ☃ '), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from(`<a href="${prefix}/ü">x</a>`)]))).toBe(true);
  });

  it('passes unfinished and hostile markup through without holding more than one bounded tag', async () => {
    for (const odd of ['<', '<a href="/x"', '<!--', '<!-- never closed <a href="/x">', '<script>never closed <a href="/x">', '< a href="/x">', '<1>', '</a', '<!-->', '<!--->', '<?xml x?>', 'a<b']) {
      const out = (await rewrite(odd, [1])).toString();
      expect(out, odd).toBe(odd);
    }
    // An attribute value that never ends: streamed through once past the bound.
    const huge = `<a title="${'x'.repeat(MAX_HELD_TAG + 10)} <a href="/x">`;
    const rewriter = new HtmlLinkRewriter(ctx);
    const out: Buffer[] = [];
    rewriter.on('data', (c: Buffer) => out.push(c));
    for (let at = 0; at < huge.length; at += 4096) rewriter.write(Buffer.from(huge.slice(at, at + 4096)));
    // Before the end, nearly everything has already been passed on.
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(out).length).toBeGreaterThan(MAX_HELD_TAG);
    rewriter.end();
    await new Promise((r) => rewriter.once('end', r));
    expect(Buffer.concat(out).toString()).toBe(huge);
  });

  it('decides constructs cut anywhere as it would whole: comment ends, raw text after a self-closed script, quoted >', async () => {
    const cases: [string, string][] = [
      ['<!--><a href=/x>', `<!--><a href=${prefix}/x>`],
      ['<!---><a href=/x>', `<!---><a href=${prefix}/x>`],
      ['<!-- a --!><a href=/x>', `<!-- a --!><a href=${prefix}/x>`],
      ['<script/><a href="/in-script"></script><a href=/x>', `<script/><a href="/in-script"></script><a href=${prefix}/x>`],
      ['<script src=/a/><a href="/in-script"></script>', `<script src=${prefix}/a/><a href="/in-script"></script>`],
      ['<a title="x > y" href="/q">', `<a title="x > y" href="${prefix}/q">`],
      ["<a title='x > y' href='/q'>", `<a title='x > y' href='${prefix}/q'>`],
      ['<a x=a"b href="/q">', `<a x=a"b href="${prefix}/q">`],
      ['<STYLE>a{}</STYLE ><A HREF=/q>', `<STYLE>a{}</STYLE ><A HREF=${prefix}/q>`],
    ];
    for (const [input, output] of cases) {
      for (const sizes of [[1 << 20], [1], [2], [3], [5]]) expect((await rewrite(input, sizes)).toString(), `${input} ${String(sizes)}`).toBe(output);
    }
    expect((await rewrite(['<!--', '><a href=/x>'].join(''), [4])).toString()).toBe(`<!--><a href=${prefix}/x>`);
  });

  it('holds an incomplete start tag only up to the bound, and treats an oversized script tag\'s content as script', async () => {
    const long = `<script data-x="${'y'.repeat(MAX_HELD_TAG)}"><a href="/in-script"></script><a href="/after">`;
    const out = (await rewrite(long, [1, 7, 4096])).toString();
    expect(out).toBe(long.replace('href="/after"', `href="${prefix}/after"`));
    // A long tag that completes within the bound, in one-byte chunks, is rewritten.
    const attr = `<a title="${'> '.repeat(MAX_HELD_TAG / 4)}" href="/z">`;
    expect((await rewrite(attr, [1])).toString()).toBe(attr.replace('href="/z"', `href="${prefix}/z"`));
  });

  it('never rewrites a start tag longer than the bound, however the body is cut', async () => {
    const big = 'a'.repeat(MAX_HELD_TAG + 10);
    for (const input of [
      `<a href=/x title="${big}">`,
      `<a title="${big} > <a href=/y> "><a href=/z>`,
      `<script0 data="${big}"><a href=/w>`,
      `<script data="${big}"><a href=/in-script></script><a href=/after>`,
    ]) {
      const whole = (await rewrite(input)).toString();
      for (const sizes of [[1], [7], [4096], [MAX_HELD_TAG - 3, 5]]) expect((await rewrite(input, sizes)).toString(), `${input.slice(0, 20)} ${String(sizes)}`).toBe(whole);
      expect(whole.startsWith(input.slice(0, input.indexOf('"') + 1))).toBe(true);
    }
    expect((await rewrite(`<a title="${big} > <a href=/y> "><a href=/z>`)).toString()).toBe(`<a title="${big} > <a href=/y> "><a href=${prefix}/z>`);
    expect((await rewrite(`<script data="${big}"><a href=/in-script></script><a href=/after>`, [1])).toString()).toBe(`<script data="${big}"><a href=/in-script></script><a href=${prefix}/after>`);
  });

  it('decodes and encodes gzip again, and leaves other encodings and other types alone', async () => {
    const compressed = gzipSync(page);
    const out: Buffer[] = [];
    const transforms = htmlRewritePipeline('gzip', ctx);
    expect(transforms.length).toBeGreaterThan(1);
    await pipeline([Readable.from([compressed.subarray(0, 10), compressed.subarray(10)]), ...transforms, collect(out)]);
    expect(gunzipSync(Buffer.concat(out)).toString()).toBe(expected);
    // A body that inflates past the budget is cut off, not rewritten to the end.
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, '<p>'));
    let inflated = 0;
    await expect(
      pipeline([Readable.from([bomb]), ...htmlRewritePipeline('gzip', ctx, 1024 * 1024), collect({ push: (c: Buffer) => (inflated += c.length) })]),
    ).rejects.toThrow();
    expect(inflated).toBeLessThan(1024 * 1024);
    expect(rewritesHtml('GET', 200, { 'content-type': 'text/html; charset=utf-8' })).toBe(true);
    expect(rewritesHtml('GET', 200, { 'content-type': 'TEXT/HTML', 'content-encoding': 'gzip' })).toBe(true);
    expect(rewritesHtml('GET', 200, { 'content-type': 'text/html', 'content-encoding': 'br' })).toBe(false);
    expect(rewritesHtml('GET', 200, { 'content-type': 'text/html', 'content-encoding': 'deflate' })).toBe(false);
    expect(rewritesHtml('GET', 200, { 'content-type': 'application/xhtml+xml' })).toBe(false);
    expect(rewritesHtml('GET', 200, { 'content-type': 'text/plain' })).toBe(false);
    expect(rewritesHtml('HEAD', 200, { 'content-type': 'text/html' })).toBe(false);
    expect(rewritesHtml('GET', 304, { 'content-type': 'text/html' })).toBe(false);
    expect(rewritesHtml('GET', 206, { 'content-type': 'text/html' })).toBe(false);
    expect(rewritesHtml('GET', 200, { 'content-type': 'text/html', 'content-length': '0' })).toBe(false);
    const headers: Record<string, string> = { etag: '"v1"', 'content-length': '12' };
    rewrittenHeaders(headers);
    expect(headers).toEqual({ etag: 'W/"v1"' });
    const weak: Record<string, string> = { etag: 'W/"v1"' };
    rewrittenHeaders(weak);
    expect(weak.etag).toBe('W/"v1"');
    // A gzip body that ends early: rewritten as far as it goes, no error.
    const cut = gzipSync(page).subarray(0, 200);
    const parts: Buffer[] = [];
    await pipeline([Readable.from([cut]), ...htmlRewritePipeline('gzip', ctx), collect(parts)]);
    expect(expected.startsWith(gunzipSync(Buffer.concat(parts)).toString().slice(0, 50))).toBe(true);
  });
});
