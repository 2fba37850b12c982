import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../../src/config/manifest.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { isScraper, isScraperRoute, mayReadMetrics, scraperOf, upstreamAuthOf } from '../../../src/proxy/confidential/scrapers.ts';
import { route } from '../../../src/proxy/route.ts';
import { createSelfSigned, type KeyAndCertificate } from '../../../src/tls/certificates.ts';

const TOKEN = 'scrape-token-0123456789';
let userCert: KeyAndCertificate;
let scraperCert: KeyAndCertificate;
let strangerCert: KeyAndCertificate;
let manifest: Manifest;

const pem = (c: KeyAndCertificate): string => createPublicKey(c.certPem).export({ type: 'spki', format: 'pem' }).toString();

function doc(scrapers: unknown[], auth: 'impersonate' | 'forward-token' = 'impersonate'): Record<string, unknown> {
  return {
    apiVersion: 'shadowplane.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'scrapers' },
    confidential: [{ namespace: 'payments', pods: ['api-*'] }, { namespace: 'vault' }],
    users: [{ name: 'alice', publicKey: pem(userCert), permissions: [{ namespaces: ['payments'], verbs: ['metrics'] }] }],
    scrapers,
    upstream: auth === 'impersonate' ? { server: 'https://10.0.0.1:6443', auth, credential: { source: 'in-cluster' } } : { server: 'https://10.0.0.1:6443', auth },
  };
}

function socketWith(cert: KeyAndCertificate | undefined): TLSSocket {
  const x509 = cert === undefined ? undefined : new X509Certificate(cert.certPem);
  return { getPeerX509Certificate: () => x509 } as unknown as TLSSocket;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isShadowplaneError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an error');
}

beforeAll(async () => {
  const make = (commonName: string): Promise<KeyAndCertificate> => createSelfSigned({ commonName, validityMs: 3_600_000, usage: 'client' });
  [userCert, scraperCert, strangerCert] = await Promise.all([make('alice'), make('prom'), make('stranger')]);
  manifest = parseManifest(
    doc([
      { name: 'prom', publicKey: pem(scraperCert), namespaces: ['payments'] },
      { name: 'prom-token', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), namespaces: ['*'] },
    ]),
  );
});

describe('scrapers in the manifest', () => {
  it('reads certificate and token scrapers', () => {
    expect(manifest.scrapers.map((s) => s.name)).toEqual(['prom', 'prom-token']);
    expect(manifest.scrapers[0]!.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.scrapers[1]!.tokenSha256?.length).toBe(32);
  });

  it('defaults to no scrapers', () => {
    const d = doc([]);
    delete d.scrapers;
    expect(parseManifest(d).scrapers).toEqual([]);
  });

  it.each([
    ['neither credential', [{ name: 'x', namespaces: ['payments'] }], 'scrapers[0].publicKey: exactly one of publicKey and tokenSha256'],
    ['both credentials', [{ name: 'x', publicKey: 'k', tokenSha256: 'a'.repeat(64), namespaces: ['payments'] }], 'scrapers[0].publicKey: exactly one'],
    ['a token in clear instead of its digest', [{ name: 'x', tokenSha256: TOKEN, namespaces: ['payments'] }], 'scrapers[0].tokenSha256: must be the SHA-256'],
    ['a namespace that is not confidential', [{ name: 'x', tokenSha256: 'a'.repeat(64), namespaces: ['default'] }], 'scrapers[0].namespaces[0]: namespace "default" is not listed under confidential'],
    ['no namespace', [{ name: 'x', tokenSha256: 'a'.repeat(64), namespaces: [] }], 'scrapers[0].namespaces: must not be empty'],
    ['an unknown field', [{ name: 'x', tokenSha256: 'a'.repeat(64), namespaces: ['payments'], verbs: ['exec'] }], 'scrapers[0]: unknown field "verbs"'],
    ['a duplicate name', [{ name: 'x', tokenSha256: 'a'.repeat(64), namespaces: ['payments'] }, { name: 'x', tokenSha256: 'b'.repeat(64), namespaces: ['payments'] }], 'scrapers[1].name: duplicates scrapers[0].name'],
    ['a duplicate token', [{ name: 'x', tokenSha256: 'a'.repeat(64), namespaces: ['payments'] }, { name: 'y', tokenSha256: 'a'.repeat(64), namespaces: ['payments'] }], 'scrapers[1].tokenSha256: duplicates'],
  ])('refuses %s, naming the field', (_label, scrapers, message) => {
    expect(errorOf(() => parseManifest(doc(scrapers)))).toContain(`SP_MANIFEST_INVALID`);
    expect(errorOf(() => parseManifest(doc(scrapers)))).toContain(message);
  });

  it('refuses a scraper that uses a user\'s key', () => {
    expect(errorOf(() => parseManifest(doc([{ name: 'x', publicKey: pem(userCert), namespaces: ['payments'] }])))).toContain('scrapers[0].publicKey: is also the key of a user');
  });
});

describe('scraper authentication', () => {
  it('finds a scraper by its client certificate\'s key', () => {
    expect(scraperOf(manifest, socketWith(scraperCert), {})?.scraper.name).toBe('prom');
  });

  it('finds a scraper by its bearer token, and only by the exact token', () => {
    expect(scraperOf(manifest, socketWith(undefined), { authorization: `Bearer ${TOKEN}` })?.scraper.name).toBe('prom-token');
    expect(scraperOf(manifest, socketWith(strangerCert), { authorization: `Bearer ${TOKEN}` })?.scraper.name).toBe('prom-token');
    for (const authorization of [`Bearer ${TOKEN}x`, `bearer ${TOKEN}`, TOKEN, `Bearer ${TOKEN.slice(1)}`, 'Bearer ', `Basic ${TOKEN}`]) {
      expect(scraperOf(manifest, socketWith(undefined), { authorization }), authorization).toBeUndefined();
    }
    expect(scraperOf(manifest, socketWith(strangerCert), {})).toBeUndefined();
  });

  it('lets scrapers ask only for the metrics endpoints, with GET', () => {
    const at = (url: string, method = 'GET'): boolean => isScraperRoute(route({ method, url, headers: {} }, manifest), method);
    expect(at('/api/v1/namespaces/payments/pods/api-0/proxy/metrics')).toBe(true);
    expect(at('/api/v1/namespaces/payments/pods/api-0:9102/proxy/metrics')).toBe(true);
    expect(at('/.well-known/shadowplane/federate')).toBe(true);
    expect(at('/.well-known/shadowplane/metrics')).toBe(true);
    for (const url of ['/api/v1/namespaces/payments/pods', '/api/v1/namespaces/payments/pods/api-0/proxy/metrics/x', '/api/v1/namespaces/payments/pods/api-0/proxy/', '/api/v1/namespaces/payments/pods/api-0/log', '/api/v1/namespaces/payments/services/api/proxy/metrics', '/api/v1/namespaces/default/pods/web/proxy/metrics', '/.well-known/shadowplane/audit', '/api']) {
      expect(at(url), url).toBe(false);
    }
    expect(at('/api/v1/namespaces/payments/pods/api-0/proxy/metrics', 'POST')).toBe(false);
  });

  it('scopes scrapers to their namespaces ("*": every confidential namespace) and users to the metrics verb', () => {
    const prom = scraperOf(manifest, socketWith(scraperCert), {})!;
    const token = scraperOf(manifest, socketWith(undefined), { authorization: `Bearer ${TOKEN}` })!;
    expect(isScraper(prom)).toBe(true);
    expect(mayReadMetrics(manifest, prom, 'payments')).toBe(true);
    expect(mayReadMetrics(manifest, prom, 'vault')).toBe(false);
    expect(mayReadMetrics(manifest, token, 'vault')).toBe(true);
    expect(mayReadMetrics(manifest, token, 'default')).toBe(false);
    expect(mayReadMetrics(manifest, { user: manifest.users[0]! }, 'payments')).toBe(true);
    expect(mayReadMetrics(manifest, { user: manifest.users[0]! }, 'vault')).toBe(false);
  });

  it('never sends a scraper\'s token to the API server, even in forward-token mode', () => {
    const m = parseManifest(doc([{ name: 'prom-token', tokenSha256: createHash('sha256').update(TOKEN).digest('hex'), namespaces: ['*'] }], 'forward-token'));
    const scraper = scraperOf(m, socketWith(undefined), { authorization: `Bearer ${TOKEN}` })!;
    expect(upstreamAuthOf(m, { authorization: `Bearer ${TOKEN}` }, scraper)).toEqual({});
    expect(upstreamAuthOf(m, { authorization: 'Bearer user-token' }, { user: m.users[0]! })).toEqual({ authorization: 'Bearer user-token' });
    expect(upstreamAuthOf(manifest, { authorization: 'Bearer user-token' }, { user: manifest.users[0]! })).toEqual({});
  });
});
