import { describe, expect, it } from 'vitest';
import { proxyPortOf, proxyTlsOf, splitProxyUrl } from '../../../src/proxy/confidential/pod-proxy.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

describe('pods/proxy paths', () => {
  it.each([
    ['/api/v1/namespaces/ns/pods/p:8080/proxy', '/api/v1/namespaces/ns/pods/p:8080/proxy', '/', ''],
    ['/api/v1/namespaces/ns/pods/p:8080/proxy/', '/api/v1/namespaces/ns/pods/p:8080/proxy', '/', ''],
    ['/api/v1/namespaces/ns/pods/p/proxy/a/b/?x=1&y=%2F', '/api/v1/namespaces/ns/pods/p/proxy', '/a/b/', '?x=1&y=%2F'],
    ['/api/v1/namespaces/ns/services/http:web:80/proxy/metrics', '/api/v1/namespaces/ns/services/http:web:80/proxy', '/metrics', ''],
    ['/api/v1/namespaces/ns/pods/p/proxy/a%20b?q', '/api/v1/namespaces/ns/pods/p/proxy', '/a%20b', '?q'],
  ])('splits %s into the prefix, the pod path (as sent) and the query', (url, prefix, path, query) => {
    expect(splitProxyUrl(url)).toEqual({ prefix, path, query });
  });

  it('takes port 80 (443 for https) when none is named, and only numeric ports of http and https targets', () => {
    expect(proxyPortOf(undefined, undefined)).toBe(80);
    expect(proxyPortOf(undefined, 'https')).toBe(443);
    expect(proxyPortOf('8080', undefined)).toBe(8080);
    expect(proxyPortOf('8080', 'http')).toBe(8080);
    expect(proxyPortOf('8443', 'https')).toBe(8443);
    expect([proxyTlsOf(undefined), proxyTlsOf('http'), proxyTlsOf('https')]).toEqual([false, false, true]);
    for (const [port, scheme] of [['http', undefined], ['0', undefined], ['65536', undefined], ['8080', 'ftp'], ['8080', 'HTTPS'], [undefined, 'tcp']] as const) {
      let code = '';
      try {
        proxyPortOf(port, scheme);
      } catch (err) {
        if (isShadowplaneError(err)) code = err.code;
      }
      expect(code, `${scheme}:${port}`).toBe('SP_BAD_REQUEST');
    }
  });
});
