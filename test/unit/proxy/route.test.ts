import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/config/manifest.ts';
import { route, type Route } from '../../../src/proxy/route.ts';

const userKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

const manifest = parseManifest({
  apiVersion: 'shadowplane.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'routing-test' },
  confidential: [
    { namespace: 'payments', pods: ['api-*', 'worker-?'] },
    { namespace: 'vault' },
  ],
  users: [{ name: 'alice', publicKey: userKey }],
  upstream: { server: 'https://127.0.0.1:6443', auth: 'forward-token' },
});

function r(url: string, headers: Record<string, string> = {}, method = 'GET'): Route {
  return route({ method, url, headers }, manifest);
}

const passthrough = { kind: 'passthrough' };
const conf = (op: string, namespace: string, name: string, extra: object = {}): unknown =>
  expect.objectContaining({ kind: 'confidential', op, namespace, name, ...extra });
const denied = (code: string): unknown => expect.objectContaining({ kind: 'deny', code });

describe('route', () => {
  const table: [string, string, unknown][] = [
    // ordinary API traffic passes through
    ['discovery', '/api', passthrough],
    ['group discovery', '/apis', passthrough],
    ['version', '/version', passthrough],
    ['openapi', '/openapi/v3/api/v1', passthrough],
    ['pod list in a confidential namespace', '/api/v1/namespaces/payments/pods?watch=true&resourceVersion=10', passthrough],
    ['pod get in a confidential namespace', '/api/v1/namespaces/payments/pods/api-0', passthrough],
    ['pod status', '/api/v1/namespaces/payments/pods/api-0/status', passthrough],
    ['pod eviction', '/api/v1/namespaces/payments/pods/api-0/eviction', passthrough],
    ['exec in a non-confidential namespace', '/api/v1/namespaces/default/pods/api-0/exec?command=ls', passthrough],
    ['exec in a confidential namespace, pod not matching the patterns', '/api/v1/namespaces/payments/pods/frontend-0/exec?command=ls', passthrough],
    ['worker-? does not match two characters', '/api/v1/namespaces/payments/pods/worker-10/exec', passthrough],
    ['services in a non-confidential namespace', '/api/v1/namespaces/default/services/web:80/proxy/', passthrough],
    ['deployments', '/apis/apps/v1/namespaces/payments/deployments', passthrough],
    ['kubelet stats through nodes/proxy', '/api/v1/nodes/node-1/proxy/stats/summary', passthrough],
    ['kubelet exec for another namespace', '/api/v1/nodes/node-1/proxy/exec/default/p/c?command=ls', passthrough],

    // confidential pod subresources are served by shadowplane
    ['exec', '/api/v1/namespaces/payments/pods/api-0/exec?command=sh&container=app&stdin=true', conf('exec', 'payments', 'api-0')],
    ['attach', '/api/v1/namespaces/payments/pods/api-0/attach?container=app', conf('attach', 'payments', 'api-0')],
    ['portforward', '/api/v1/namespaces/payments/pods/worker-1/portforward', conf('portforward', 'payments', 'worker-1')],
    ['log', '/api/v1/namespaces/payments/pods/api-0/log?follow=true', conf('log', 'payments', 'api-0')],
    ['every pod of a namespace listed without patterns', '/api/v1/namespaces/vault/pods/anything/exec', conf('exec', 'vault', 'anything')],
    ['pod proxy', '/api/v1/namespaces/payments/pods/api-0/proxy/metrics', conf('pod-proxy', 'payments', 'api-0', { subpath: '/metrics', port: undefined })],
    ['pod proxy with port', '/api/v1/namespaces/payments/pods/api-0:9090/proxy/metrics', conf('pod-proxy', 'payments', 'api-0', { port: '9090', subpath: '/metrics' })],
    ['pod proxy with scheme and port', '/api/v1/namespaces/payments/pods/https:api-0:8443/proxy/', conf('pod-proxy', 'payments', 'api-0', { scheme: 'https', port: '8443', subpath: '' })],
    ['service proxy in a confidential namespace', '/api/v1/namespaces/payments/services/web:http/proxy/a/b', conf('service-proxy', 'payments', 'web', { port: 'http', subpath: '/a/b' })],
    ['percent-encoded subresource', '/api/v1/namespaces/payments/pods/api-0/ex%65c?command=id', conf('exec', 'payments', 'api-0')],
    ['percent-encoded namespace', '/api/v1/namespaces/pay%6dents/pods/api-0/exec', conf('exec', 'payments', 'api-0')],
    ['trailing slash', '/api/v1/namespaces/payments/pods/api-0/exec/', conf('exec', 'payments', 'api-0')],
    ['POST exec (SPDY)', '/api/v1/namespaces/payments/pods/api-0/exec?command=id', conf('exec', 'payments', 'api-0')],

    // ambiguous spellings and side doors are refused
    ['doubled slash', '/api/v1/namespaces/payments//pods/api-0/exec', denied('SP_PATH_NOT_CANONICAL')],
    ['dot segment', '/api/v1/namespaces/payments/pods/x/../api-0/exec', denied('SP_PATH_NOT_CANONICAL')],
    ['encoded dot segment', '/api/v1/namespaces/payments/pods/%2e%2e/exec', denied('SP_PATH_NOT_CANONICAL')],
    ['encoded slash', '/api/v1/namespaces/payments/pods/api-0%2Fexec', denied('SP_PATH_NOT_CANONICAL')],
    ['invalid percent-encoding', '/api/v1/namespaces/payments/pods/api-0/%zz', denied('SP_PATH_NOT_CANONICAL')],
    ['kubelet exec through nodes/proxy', '/api/v1/nodes/node-1/proxy/exec/payments/api-0/app?command=id', denied('SP_CONFIDENTIAL_FORBIDDEN_ROUTE')],
    ['kubelet container logs through nodes/proxy', '/api/v1/nodes/node-1/proxy/containerLogs/vault/x/app', denied('SP_CONFIDENTIAL_FORBIDDEN_ROUTE')],
    ['kubelet port-forward through nodes/proxy', '/api/v1/nodes/node-1:10250/proxy/portForward/payments/api-0', denied('SP_CONFIDENTIAL_FORBIDDEN_ROUTE')],
    ['legacy proxy verb', '/api/v1/proxy/namespaces/payments/pods/api-0', denied('SP_CONFIDENTIAL_FORBIDDEN_ROUTE')],
    ['ephemeral containers', '/api/v1/namespaces/payments/pods/api-0/ephemeralcontainers', denied('SP_CONFIDENTIAL_FORBIDDEN_ROUTE')],
    ['exec with an extra segment', '/api/v1/namespaces/payments/pods/api-0/exec/more', denied('SP_BAD_REQUEST')],
    ['exec with a port', '/api/v1/namespaces/payments/pods/api-0:80/exec', denied('SP_BAD_REQUEST')],
    // Names no object can have are bounded here, before a log line, an audit record or a lookup holds them.
    ['a 60,000-character confidential pod name', `/api/v1/namespaces/payments/pods/api-${'x'.repeat(60_000)}/exec`, denied('SP_BAD_REQUEST')],
    ['a pod name with capitals', '/api/v1/namespaces/payments/pods/api-X/exec', denied('SP_BAD_REQUEST')],
    ['a 254-character pod name', `/api/v1/namespaces/vault/pods/${'a'.repeat(254)}/log`, denied('SP_BAD_REQUEST')],
    ['a 253-character pod name', `/api/v1/namespaces/vault/pods/${'a'.repeat(253)}/log`, conf('log', 'vault', 'a'.repeat(253))],
    ['a 64-character service name', `/api/v1/namespaces/vault/services/${'s'.repeat(64)}/proxy/`, denied('SP_BAD_REQUEST')],

    // shadowplane's own endpoints
    ['attestation endpoint', '/.well-known/shadowplane/attest', { kind: 'shadowplane', endpoint: 'attest' }],
    ['audit endpoint', '/.well-known/shadowplane/audit?namespace=payments', { kind: 'shadowplane', endpoint: 'audit' }],
    ['federation endpoint', '/.well-known/shadowplane/federate', { kind: 'shadowplane', endpoint: 'federate' }],
    ['unknown shadowplane endpoint', '/.well-known/shadowplane/secret', denied('SP_BAD_REQUEST')],
  ];

  it.each(table)('%s: %s', (_name, url, expected) => {
    expect(r(url)).toEqual(expected);
  });

  it.each(['impersonate-user', 'impersonate-group', 'impersonate-uid', 'impersonate-extra-scopes'])(
    'refuses a client-supplied %s header on every route',
    (header) => {
      expect(r('/api/v1/namespaces/default/pods', { [header]: 'system:admin' })).toEqual(denied('SP_IMPERSONATION_REFUSED'));
      expect(r('/api/v1/namespaces/payments/pods/api-0/exec', { [header]: 'x' })).toEqual(denied('SP_IMPERSONATION_REFUSED'));
    },
  );

  it('decides from the path alone, whatever the method', () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      expect(route({ method, url: '/api/v1/namespaces/payments/pods/api-0/exec', headers: {} }, manifest)).toEqual(conf('exec', 'payments', 'api-0'));
    }
  });
});

describe('requests from the pages of confidential pods', () => {
  it('refuses one that would pass through to the API server, and only that', () => {
    const page = 'http://127.0.0.1:8001/api/v1/namespaces/payments/pods/api-0:8080/proxy/app/page?x=1';
    const service = 'http://localhost:8001/api/v1/namespaces/vault/services/https:ui:443/proxy/';
    for (const referer of [page, service]) {
      expect(r('/internal/report?customer=alice', { referer })).toMatchObject({ kind: 'deny', code: 'SP_CONFIDENTIAL_FORBIDDEN_ROUTE' });
      expect(r('/api/v1/namespaces/default/pods', { referer })).toMatchObject({ kind: 'deny', code: 'SP_CONFIDENTIAL_FORBIDDEN_ROUTE' });
      // Requests the proxy serves itself are routed as ever.
      expect(r('/api/v1/namespaces/payments/pods/api-0:8080/proxy/app/next', { referer }).kind).toBe('confidential');
    }
    for (const referer of ['http://127.0.0.1:8001/api/v1/namespaces/default/pods/web/proxy/', 'http://127.0.0.1:8001/api/v1/namespaces/payments/pods/other/proxy/', 'not a url', 'http://127.0.0.1:8001/api/v1/namespaces/payments/pods/api-0/log']) {
      expect(r('/internal/report', { referer }).kind, referer).toBe('passthrough');
    }
  });
});
