import { describe, expect, it } from 'vitest';
import { referrerPolicy, rewritableEncodings, scopeSetCookie } from '../../../src/proxy/confidential/proxy-links.ts';
import { forwardableResponseHeaders, forwardableUpgradeRawHeaders, relayableResponseRawHeaders, relayedResponseHead } from '../../../src/proxy/headers.ts';
import { isRelayableStatus } from '../../../src/proxy/respond.ts';

const prefix = '/api/v1/namespaces/ns/pods/p:8080/proxy';

describe('cookies and referrers of a proxied pod', () => {
  it.each([
    ['sid=1; Path=/; Domain=example.com; HttpOnly', '/login', `sid=1; HttpOnly; Path=${prefix}/`],
    ['sid=1', '/app/login', `sid=1; Path=${prefix}/app`],
    ['sid=1', '/', `sid=1; Path=${prefix}/`],
    ['sid=1; path=/a; PATH=/b; Secure', '/', `sid=1; Secure; Path=${prefix}/b`],
    ['sid=1; Path=relative', '/x/y', `sid=1; Path=${prefix}/x`],
    [`sid=1; Path=${prefix}/already`, '/', `sid=1; Path=${prefix}/already`],
    ['sid=1;Domain=.evil;Max-Age=5', '/', `sid=1;Max-Age=5; Path=${prefix}/`],
  ])('scopes %s (asked for %s) under the proxy prefix', (cookie, path, scoped) => {
    expect(scopeSetCookie(cookie, prefix, path)).toBe(scoped);
  });

  it('keeps a pod\'s Referrer-Policy that sends the page\'s path within the origin, else asks for same-origin', () => {
    expect(referrerPolicy(undefined)).toBe('same-origin');
    expect(referrerPolicy('unknown-future-policy')).toBe('same-origin');
    expect(referrerPolicy('unsafe-url')).toBe('unsafe-url');
    expect(referrerPolicy('strict-origin-when-cross-origin')).toBe('strict-origin-when-cross-origin');
    // These would hide the page from the router's check (route.ts), and same-origin tells other sites no more.
    expect(referrerPolicy('No-Referrer, unknown-future-policy')).toBe('same-origin');
    expect(referrerPolicy(['unsafe-url', 'strict-origin'])).toBe('same-origin');
    expect(referrerPolicy('origin')).toBe('same-origin');
  });

  it('never lets the request path add cookie attributes, and drops a cookie it cannot scope', () => {
    // The client chose the path: `;` in it must not end the Path attribute.
    expect(scopeSetCookie('sid=1; HttpOnly', prefix, '/x;Path=/;Domain=127.0.0.1;/page')).toBe(`sid=1; HttpOnly; Path=${prefix}/`);
    expect(scopeSetCookie('sid=1; HttpOnly', prefix, '/dir/x;Path=/;/page')).toBe(`sid=1; HttpOnly; Path=${prefix}/dir`);
    expect(scopeSetCookie('sid=1', prefix, '/a;b/c')).toBe(`sid=1; Path=${prefix}/`);
    expect(scopeSetCookie('sid=1; Path=/a\u0001b', prefix, '/')).toBe(`sid=1; Path=${prefix}/`);
    expect(scopeSetCookie('sid=1', '/api/v1/namespaces/ns/pods/p;x/proxy', '/')).toBeUndefined();
  });
});

describe('headers on an upgrade path', () => {
  it('does not send the pod or the API server what the client\'s Connection header lists', () => {
    const raw = ['Host', 'h', 'Connection', 'Upgrade, X-Hop', 'Upgrade', 'websocket', 'X-Hop', 'secret', 'X-Keep', '1', 'Keep-Alive', '5', 'Impersonate-User', 'x'];
    expect(forwardableUpgradeRawHeaders(raw, { keepAuthorization: false })).toEqual([['X-Keep', '1']]);
  });

  it('relays a 101 with its Connection and Upgrade, and no other hop-by-hop or listed header', () => {
    const raw = ['Upgrade', 'websocket', 'Connection', 'Upgrade, X-Private', 'X-Private', 'p', 'Keep-Alive', 'timeout=5', 'Proxy-Authenticate', 'Basic', 'Sec-WebSocket-Accept', 'abc'];
    expect(relayableResponseRawHeaders(raw, { switching: true })).toEqual([
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade, X-Private'],
      ['Sec-WebSocket-Accept', 'abc'],
    ]);
    const head = relayedResponseHead(400, 'Bad\r\nInjected: 1', ['Location', '/login', 'Content-Length', '3', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1'], {
      switching: false,
      mapValue: (name, value) => (name === 'location' ? `${prefix}${value}` : name === 'set-cookie' ? undefined : value),
      extra: [['Referrer-Policy', 'strict-origin']],
    });
    expect(head).toBe(`HTTP/1.1 400 BadInjected: 1\r\nLocation: ${prefix}/login\r\nReferrer-Policy: strict-origin\r\nConnection: close\r\n\r\n`);
  });

  it('keeps the Upgrade header of a 426, and of no other answer that does not switch', () => {
    const raw = ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Content-Length', '0'];
    expect(relayableResponseRawHeaders(raw, { switching: false, status: 426 })).toEqual([['Upgrade', 'websocket']]);
    expect(relayableResponseRawHeaders(raw, { switching: false, status: 400 })).toEqual([]);
    expect(forwardableResponseHeaders({ upgrade: 'websocket', connection: 'Upgrade' }, { keepUpgrade: true })).toEqual({ upgrade: 'websocket' });
    expect(forwardableResponseHeaders({ upgrade: 'websocket', connection: 'Upgrade' })).toEqual({});
  });

  it('relays only final statuses any client can be given', () => {
    expect([200, 204, 418, 599].every(isRelayableStatus)).toBe(true);
    expect([undefined, 0, 99, 101, 199, 600, 999, 200.5, '200'].some(isRelayableStatus)).toBe(false);
  });
});

describe('encodings asked of a pod', () => {
  it('keeps only the codings whose HTML the rewriter reads', () => {
    expect(rewritableEncodings('gzip, deflate, br, zstd')).toBe('gzip');
    expect(rewritableEncodings('br;q=1.0, gzip;q=0.8, *;q=0.1')).toBe('gzip;q=0.8');
    expect(rewritableEncodings(['deflate', 'x-gzip'])).toBe('x-gzip');
    expect(rewritableEncodings('br')).toBe('identity');
    expect(rewritableEncodings('identity;q=1, gzip;q=0')).toBe('identity;q=1, gzip;q=0');
    expect(rewritableEncodings(undefined)).toBeUndefined();
  });
});
