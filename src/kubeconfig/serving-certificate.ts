/**
 * What kubectl will check of the proxy's serving certificate once the kubeconfig pins it:
 * its validity period and that it names the host the user connects to. `verify` checks
 * both before it writes anything, so an attested proxy cannot yield a kubeconfig that
 * fails with "x509: certificate has expired" or "certificate is valid for X, not Y".
 *
 * The proxy makes its serving certificate when it starts and never renews it (its
 * `--serving-cert-validity`, default 720h): an expired one means the proxy must restart,
 * and every user verify again.
 */
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { ShadowplaneError } from '../errors.ts';

/** A certificate that expires sooner than this is accepted with a warning. */
export const EXPIRY_WARNING_MS = 7 * 86_400_000;

const MAX_NAMES_SHOWN = 8;

/**
 * Refuses a certificate outside its validity period at `now` (SP_ATTEST_CERT_EXPIRED),
 * and one that does not name `name` (SP_USAGE, with what to pass instead).
 *
 * `name` is what kubectl will verify: `--tls-server-name` when given, else the host of
 * `--server` (`via` says which). Names are matched as Go's crypto/x509 does for kubectl:
 * IP addresses against IP SANs, host names against DNS SANs with whole-label wildcards
 * only (`*.example.com`, not `f*.example.com`), never the
 * subject CN (which node:tls checkServerIdentity would still fall back to).
 */
export function checkServingCertificate(certificate: X509Certificate, name: string, via: '--server' | '--tls-server-name', now: Date): void {
  if (now.getTime() < certificate.validFromDate.getTime()) {
    throw new ShadowplaneError('SP_ATTEST_CERT_EXPIRED', `the proxy's serving certificate is not valid before ${certificate.validFromDate.toISOString()} and this machine's clock says ${now.toISOString()}: check the clock here (and the proxy's)`);
  }
  if (now.getTime() > certificate.validToDate.getTime()) {
    throw new ShadowplaneError(
      'SP_ATTEST_CERT_EXPIRED',
      `the proxy's serving certificate expired at ${certificate.validToDate.toISOString()}: the proxy makes a new one only when it starts, so ask its operator to restart it, then run verify again`,
    );
  }
  const host = name.replace(/^\[|\]$/g, '');
  const named = isIP(host) === 0 ? certificate.checkHost(host, { subject: 'never', partialWildcards: false }) : certificate.checkIP(host);
  if (named === undefined) {
    const names = (certificate.subjectAltName ?? '').split(', ').filter((n) => n !== '').map((n) => n.replace(/^(DNS|IP Address):/, ''));
    const shown = names.length === 0 ? 'no names' : `${names.slice(0, MAX_NAMES_SHOWN).join(', ')}${names.length > MAX_NAMES_SHOWN ? ', …' : ''}`;
    const instead = via === '--server' ? 'pass --tls-server-name NAME with one of its names' : 'pass one of its names to --tls-server-name';
    throw new ShadowplaneError(
      'SP_USAGE',
      `the proxy's serving certificate does not name ${host} (from ${via}), so kubectl would refuse it; it names ${shown}: ${instead}, or ask the proxy's operator to add ${host} with the proxy's --san (then restart it and verify again)`,
    );
  }
}

/** When the certificate stops being valid, and whether that is within EXPIRY_WARNING_MS of `now`. */
export function servingCertificateExpiry(certificate: X509Certificate, now: Date): { readonly notAfter: Date; readonly expiresSoon: boolean } {
  const notAfter = certificate.validToDate;
  return { notAfter, expiresSoon: notAfter.getTime() - now.getTime() < EXPIRY_WARNING_MS };
}
