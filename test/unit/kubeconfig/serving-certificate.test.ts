import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ShadowplaneError } from '../../../src/errors.ts';
import { checkServingCertificate, servingCertificateExpiry } from '../../../src/kubeconfig/serving-certificate.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';

const HOUR = 3_600_000;
const issued = new Date('2026-06-01T00:00:00Z');

async function serving(names: { dns?: string[]; ip?: string[] }, validityMs = 720 * HOUR, commonName = 'shadowplane-proxy'): Promise<X509Certificate> {
  const c = await createSelfSigned({ commonName, dnsNames: names.dns ?? [], ipAddresses: names.ip ?? [], validityMs, usage: 'server', now: issued });
  return new X509Certificate(c.certPem);
}

const at = (ms: number): Date => new Date(issued.getTime() + ms);

/** The error `check` throws (none: undefined), to assert on its code and message. */
function thrown(check: () => void): ShadowplaneError | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    if (err instanceof ShadowplaneError) return err;
    throw err;
  }
}

describe("the proxy's serving certificate as kubectl will check it", () => {
  it('refuses a certificate that has expired, and one not valid yet, with SP_ATTEST_CERT_EXPIRED', async () => {
    const cert = await serving({ ip: ['127.0.0.1'] }, 20_000);
    const expired = thrown(() => checkServingCertificate(cert, '127.0.0.1', '--server', at(60_000)));
    expect(expired?.code).toBe('SP_ATTEST_CERT_EXPIRED');
    expect(expired?.message).toContain(`expired at ${cert.validToDate.toISOString()}`);
    expect(expired?.message).toContain('restart');
    const early = thrown(() => checkServingCertificate(cert, '127.0.0.1', '--server', at(-2 * HOUR)));
    expect(early?.code).toBe('SP_ATTEST_CERT_EXPIRED');
    expect(early?.message).toContain('clock');
    expect(thrown(() => checkServingCertificate(cert, '127.0.0.1', '--server', at(10_000)))).toBeUndefined();
  });

  it.each([
    ['127.0.0.1', '--server', true],
    ['127.0.0.2', '--server', false],
    ['[::1]', '--server', true],
    ['localhost', '--server', true],
    ['api.svc.example', '--tls-server-name', true],
    ['a.b.svc.example', '--tls-server-name', false],
    ['other.example', '--tls-server-name', false],
  ] as const)('checks that it names %s (%s): %s', async (name, via, accepted) => {
    const cert = await serving({ dns: ['localhost', '*.svc.example'], ip: ['127.0.0.1', '::1'] });
    const err = thrown(() => checkServingCertificate(cert, name, via, at(HOUR)));
    if (accepted) {
      expect(err).toBeUndefined();
    } else {
      expect(err?.code).toBe('SP_USAGE');
      expect(err?.message).toMatch(new RegExp(`does not name \\S+ \\(from ${via}\\).*--tls-server-name.*--san`));
    }
  });

  it('never accepts a partial-label wildcard (f*.example), as Go (kubectl) never does', async () => {
    const cert = await serving({ dns: ['f*.svc.example'] });
    expect(thrown(() => checkServingCertificate(cert, 'foo.svc.example', '--tls-server-name', at(HOUR)))?.code).toBe('SP_USAGE');
  });

  it('never accepts a name only in the subject CN, as Go (kubectl) never does', async () => {
    const cert = await serving({ ip: ['127.0.0.1'] }, 720 * HOUR, 'proxy.example');
    expect(thrown(() => checkServingCertificate(cert, 'proxy.example', '--tls-server-name', at(HOUR)))?.code).toBe('SP_USAGE');
  });

  it('says when it expires, and whether that is within 7 days', async () => {
    const cert = await serving({ ip: ['127.0.0.1'] }, 720 * HOUR);
    expect(servingCertificateExpiry(cert, at(HOUR))).toEqual({ notAfter: cert.validToDate, expiresSoon: false });
    expect(servingCertificateExpiry(cert, at(720 * HOUR - 6 * 24 * HOUR)).expiresSoon).toBe(true);
  });
});
