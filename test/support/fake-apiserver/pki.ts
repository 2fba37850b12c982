/**
 * Throw-away PKI for the API server stand-in: a serving CA with a serving certificate
 * for 127.0.0.1/localhost, and a separate client CA that issues client certificates
 * the way kubeadm clusters do (CN = user name, O = groups).
 *
 * Everything is generated in memory at start (ECDSA P-256, short validity); nothing is
 * written to disk and nothing is reused between runs.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { basicConstraints, buildCertificate, dn, extKeyUsage, keyUsage, subjectAltName, subjectKeyIdentifier } from '../../../src/attestation/x509-build.ts';
import { toPem } from '../../../src/tls/certificates.ts';

const DAY_MS = 24 * 3600 * 1000;
const EKU = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' } as const;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A certificate authority that can sign leaf certificates. */
export interface CertificateAuthority {
  readonly certPem: string;
  /** Issues a leaf certificate (server or client usage). */
  issue(request: LeafRequest): Promise<KeyPairPem>;
}

export interface LeafRequest {
  readonly commonName: string;
  /** Organisations (Kubernetes groups for client certificates). */
  readonly organizations?: readonly string[];
  readonly usage: 'server' | 'client';
  /** Subject alternative names for server certificates. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Validity in days from now; default 2. */
  readonly validDays?: number;
}

function serial(): Buffer {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b;
}

function newKey(): { privateKey: KeyObject; spki: Buffer; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }), pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function subjectName(commonName: string, organizations: readonly string[] = []): Buffer {
  return dn([...organizations.map((o) => ['O', o] as const), ['CN', commonName] as const]);
}

/** A CA (ECDSA P-256, 7 days) that issues leaves under it. */
export function createCertificateAuthority(commonName: string): Promise<CertificateAuthority> {
  const ca = newKey();
  const caName = subjectName(commonName);
  const now = Date.now();
  const caDer = buildCertificate({
    serial: serial(),
    issuer: caName,
    subject: caName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 7 * DAY_MS),
    spki: ca.spki,
    extensions: [basicConstraints(true, 0), keyUsage(['keyCertSign', 'cRLSign', 'digitalSignature']), subjectKeyIdentifier(ca.spki)],
    signWith: { key: ca.privateKey, alg: 'ecdsa-sha256' },
  });
  return Promise.resolve({
    certPem: toPem(caDer, 'CERTIFICATE'),
    issue(request: LeafRequest): Promise<KeyPairPem> {
      const leaf = newKey();
      const sans = [...(request.dnsNames ?? []), ...(request.ipAddresses ?? [])];
      const der = buildCertificate({
        serial: serial(),
        issuer: caName,
        subject: subjectName(request.commonName, request.organizations),
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + (request.validDays ?? 2) * DAY_MS),
        spki: leaf.spki,
        extensions: [basicConstraints(false), keyUsage(['digitalSignature']), extKeyUsage([EKU[request.usage]]), ...(sans.length > 0 ? [subjectAltName(sans)] : [])],
        signWith: { key: ca.privateKey, alg: 'ecdsa-sha256' },
      });
      return Promise.resolve({ certPem: toPem(der, 'CERTIFICATE'), keyPem: leaf.pem });
    },
  });
}
