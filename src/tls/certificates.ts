/**
 * Plain (non-attested) X.509 certificates: the proxy's in-memory serving certificate
 * and users' client certificates.
 *
 * @peculiar/x509 builds the certificates because node-forge's PKI only handles RSA and
 * these keys are ECDSA; node:crypto makes and holds the keys. Private keys are returned
 * as PEM strings in memory; whether one ever touches a disk is the caller's decision (the
 * proxy's never does).
 */
import 'reflect-metadata';
import { createHash, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export type Curve = 'P-256' | 'P-384';

export interface KeyAndCertificate {
  readonly keyPem: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  /** Hex SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
  readonly spkiSha256: string;
}

export interface SelfSignedOptions {
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Validity from `now`, in milliseconds. */
  readonly validityMs: number;
  readonly usage: 'server' | 'client';
  /** Default P-256. */
  readonly curve?: Curve;
  readonly extensions?: readonly x509.Extension[];
  readonly now?: Date;
}

const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

/** Creates a fresh ECDSA key and a self-signed certificate for it. */
export async function createSelfSigned(opts: SelfSignedOptions): Promise<KeyAndCertificate> {
  const curve = opts.curve ?? 'P-256';
  const alg = { name: 'ECDSA', namedCurve: curve, hash: curve === 'P-256' ? 'SHA-256' : 'SHA-384' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = opts.now ?? new Date();
  const names = [`CN=${escapeDn(opts.commonName)}`, ...(opts.organizations ?? []).map((o) => `O=${escapeDn(o)}`)];
  const sans: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([opts.usage === 'server' ? EKU_SERVER : EKU_CLIENT], false),
    ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans, false)] : []),
    ...(opts.extensions ?? []),
  ];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    name: names.join(', '),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + opts.validityMs),
    signingAlgorithm: alg,
    keys,
    extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const certDer = Buffer.from(cert.rawData);
  return {
    keyPem: toPem(pkcs8, 'PRIVATE KEY'),
    certPem: toPem(certDer, 'CERTIFICATE'),
    certDer,
    spkiSha256: spkiSha256Hex(new X509Certificate(certDer).publicKey),
  };
}

/** Hex SHA-256 of a public key's DER SubjectPublicKeyInfo. */
export function spkiSha256Hex(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}
