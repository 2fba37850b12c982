/**
 * Throw-away PKI for the API server stand-in: a serving CA with a serving certificate
 * for 127.0.0.1/localhost, and a separate client CA that issues client certificates
 * the way kubeadm clusters do (CN = user name, O = groups).
 *
 * Everything is generated in memory at start (ECDSA P-256, short validity); nothing is
 * written to disk and nothing is reused between runs.
 */
import 'reflect-metadata';
import { webcrypto, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;

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

function serial(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function subjectName(commonName: string, organizations: readonly string[] = []): x509.JsonName {
  const name: x509.JsonName = organizations.map((o) => ({ O: [o] }));
  name.push({ CN: [commonName] });
  return name;
}

/** Creates a fresh self-signed CA whose certificates Go's TLS stack accepts. */
export async function createCertificateAuthority(commonName: string): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subjectName(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 7 * DAY_MS),
    signingAlgorithm: SIGN_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const caName = caCert.subject;

  return {
    certPem: caCert.toString('pem') + '\n',
    async issue(request: LeafRequest): Promise<KeyPairPem> {
      const leafKeys = await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']);
      const sans: x509.JsonGeneralName[] = [
        ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ];
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([request.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
      ];
      if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: subjectName(request.commonName, request.organizations),
        issuer: caName,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + (request.validDays ?? 2) * DAY_MS),
        signingAlgorithm: SIGN_ALG,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        extensions,
      });
      return { certPem: leaf.toString('pem') + '\n', keyPem: await privateKeyPem(leafKeys.privateKey) };
    },
  };
}
