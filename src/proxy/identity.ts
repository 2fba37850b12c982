/**
 * Who is calling: the manifest user whose public key the TLS client certificate carries.
 *
 * TLS 1.3 already proved that the client holds the private key (CertificateVerify); the
 * certificate itself is self-signed and means nothing beyond its public key. Anyone whose
 * key is not in the manifest is unauthenticated.
 */
import type { TLSSocket } from 'node:tls';
import type { Manifest, ManifestUser } from '../config/manifest.ts';
import { userByKey } from '../config/scope.ts';
import { spkiSha256Hex } from '../tls/certificates.ts';

export interface Caller {
  readonly user: ManifestUser;
}

const byConnection = new WeakMap<TLSSocket, Caller | null>();

/** The caller on this TLS connection, or undefined. Computed once per connection. */
export function callerOf(socket: TLSSocket, manifest: Manifest): Caller | undefined {
  const known = byConnection.get(socket);
  if (known !== undefined) return known ?? undefined;
  const cert = socket.getPeerX509Certificate();
  const user = cert === undefined ? undefined : userByKey(manifest, spkiSha256Hex(cert.publicKey));
  const caller = user === undefined ? null : { user };
  byConnection.set(socket, caller);
  return caller ?? undefined;
}
