import { createSelfSigned, type KeyAndCertificate } from '../../src/tls/certificates.ts';
import { createPublicKey } from 'node:crypto';

export interface TestUser extends KeyAndCertificate {
  readonly name: string;
  readonly publicKeyPem: string;
}

/** A user key and client certificate, as `shadowplane keygen` makes them. */
export async function makeTestUser(name: string): Promise<TestUser> {
  const creds = await createSelfSigned({ commonName: name, validityMs: 24 * 3600_000, usage: 'client' });
  const publicKeyPem = createPublicKey(creds.certPem).export({ type: 'spki', format: 'pem' }).toString();
  return { ...creds, name, publicKeyPem };
}
