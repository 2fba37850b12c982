/**
 * Plain (non-attested) X.509 certificates: the proxy's in-memory serving certificate
 * and users' client certificates.
 *
 * Built with the project's small DER writer over node:crypto (src/attestation/x509-build.ts),
 * the same one the RA-TLS certificates use: node-forge's PKI only handles RSA and these
 * keys are ECDSA. Private keys are returned as PEM strings in memory; whether one ever
 * touches a disk is the caller's decision (the proxy's never does).
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { basicConstraints, buildCertificate, dn, extKeyUsage, keyUsage, subjectAltName, type ExtensionSpec } from '../attestation/x509-build.ts';

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
  readonly extensions?: readonly ExtensionSpec[];
  readonly now?: Date;
}

const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

/** Creates a fresh ECDSA key and a self-signed certificate for it. */
export function createSelfSigned(opts: SelfSignedOptions): Promise<KeyAndCertificate> {
  const curve = opts.curve ?? 'P-256';
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = opts.now ?? new Date();
  const name = dn([['CN', opts.commonName], ...(opts.organizations ?? []).map((o) => ['O', o] as const)]);
  const sans = [...(opts.dnsNames ?? []), ...(opts.ipAddresses ?? [])];
  const certDer = buildCertificate({
    serial: randomBytes(16),
    issuer: name,
    subject: name,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + opts.validityMs),
    spki,
    extensions: [
      basicConstraints(false),
      keyUsage(['digitalSignature']),
      extKeyUsage([opts.usage === 'server' ? EKU_SERVER : EKU_CLIENT]),
      ...(sans.length > 0 ? [subjectAltName(sans)] : []),
      ...(opts.extensions ?? []),
    ],
    signWith: { key: privateKey, alg: curve === 'P-256' ? 'ecdsa-sha256' : 'ecdsa-sha384' },
  });
  return Promise.resolve({
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem(certDer, 'CERTIFICATE'),
    certDer,
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
  });
}

/** Hex SHA-256 of a public key's DER SubjectPublicKeyInfo. */
export function spkiSha256Hex(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

