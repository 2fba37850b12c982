/**
 * Owner-signed manifests: how agents can trust a manifest they were not built with.
 *
 * Why: an agent must only obey a proxy bound to a manifest its owner wrote. Pinning the
 * manifest's digest in the agents' configuration does that, but the configuration is
 * part of the pod policy whose digest (SEV-SNP HOST_DATA, TDX MRCONFIGID) the manifest
 * should pin in turn, and a content hash cannot contain itself (docs/deploy.md, the
 * pinning cycle). A key breaks the cycle: the agents pin the owner's public key, which
 * does not change when the manifest does, the owner signs each manifest, and the
 * manifest is then free to pin the agents' policy digest.
 *
 * The signature is a JWS in compact serialization (RFC 7515) with `typ`
 * `shadowplane-manifest+jws`, algorithm EdDSA (Ed25519), ES256 or ES384, over the JSON
 * payload `{"sha256": <manifest digest, 64 hex>, "name": <metadata.name>, "serial": N,
 * "notAfter": <ISO 8601, optional>}`. The proxy carries it in its RA-TLS claims; an agent
 * checks it against its pinned keys, the digest the proxy's evidence binds, a minimum
 * serial (to retire older manifests without new keys) and `notAfter`.
 *
 * Input is bounded before it is parsed (MAX_SIGNATURE_CHARS, the RA-TLS claim value
 * limit), and error details never quote the signature or its payload.
 */
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';
import { PRIVATE_KEY_REFUSED, publicKeyOfPem } from './public-key.ts';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import { ShadowplaneError } from '../errors.ts';

export const MANIFEST_SIGNATURE_TYPE = 'shadowplane-manifest+jws';
/** An RA-TLS claim value holds at most 1,024 characters (src/attestation/binding.ts). */
export const MAX_SIGNATURE_CHARS = 1024;
const MAX_PAYLOAD_BYTES = 512;
const MAX_SERIAL = 2 ** 31 - 1;

export interface ManifestSignaturePayload {
  readonly sha256: string;
  readonly name: string;
  readonly serial: number;
  readonly notAfter: string | undefined;
}

/** A key the agents accept manifest signatures from. */
export interface ManifestSigner {
  readonly publicKey: KeyObject;
  /** SHA-256 of the key's SPKI DER (hex): how logs and errors name it. */
  readonly keySha256: string;
  /** Signatures with a lower serial are refused. Default 0. */
  readonly minimumSerial: number;
}

function algorithmOf(key: KeyObject): 'EdDSA' | 'ES256' | 'ES384' {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
  }
  throw new ShadowplaneError('SP_CONFIG_INVALID', 'a manifest owner key must be Ed25519, ECDSA P-256 or ECDSA P-384');
}

/** SHA-256 (hex) of the SPKI DER of `key`, or of a private key's public half. */
export function spkiSha256(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** A signer from a PEM public key (as the agent configuration holds it). */
export function manifestSigner(publicKeyPem: string, minimumSerial = 0): ManifestSigner {
  const publicKey = publicKeyOfPem(publicKeyPem);
  if (publicKey === 'private') throw new ShadowplaneError('SP_CONFIG_INVALID', `a manifest owner key ${PRIVATE_KEY_REFUSED}`);
  if (publicKey === 'invalid') throw new ShadowplaneError('SP_CONFIG_INVALID', 'a manifest owner key is not a PEM public key');
  algorithmOf(publicKey);
  if (!Number.isInteger(minimumSerial) || minimumSerial < 0 || minimumSerial > MAX_SERIAL) throw new ShadowplaneError('SP_CONFIG_INVALID', 'minimumSerial must be 0..2147483647');
  return { publicKey, keySha256: spkiSha256(publicKey), minimumSerial };
}

/** Signs `manifest` with the owner's private key. */
export async function signManifest(
  manifest: { readonly digestHex: string; readonly name: string },
  privateKey: KeyObject,
  opts: { readonly serial: number; readonly notAfter?: Date },
): Promise<string> {
  if (privateKey.type !== 'private') throw new ShadowplaneError('SP_CONFIG_INVALID', 'the owner key must be a private key');
  const alg = algorithmOf(privateKey);
  if (!Number.isInteger(opts.serial) || opts.serial < 0 || opts.serial > MAX_SERIAL) throw new ShadowplaneError('SP_USAGE', '--serial must be 0..2147483647');
  const payload = { sha256: manifest.digestHex, name: manifest.name, serial: opts.serial, ...(opts.notAfter === undefined ? {} : { notAfter: opts.notAfter.toISOString() }) };
  const jws = await new CompactSign(Buffer.from(JSON.stringify(payload), 'utf8')).setProtectedHeader({ alg, typ: MANIFEST_SIGNATURE_TYPE }).sign(privateKey);
  if (jws.length > MAX_SIGNATURE_CHARS) throw new ShadowplaneError('SP_INTERNAL', 'the manifest signature is longer than a claim may be');
  return jws;
}

function refused(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_ATTEST_MANIFEST_MISMATCH', detail);
}

/**
 * The payload of a signature, read without verifying it: for the proxy to check at start
 * that the file it was given is for the manifest it loaded. Never a trust decision.
 */
export function readManifestSignature(jws: string): ManifestSignaturePayload {
  const parts = shape(jws);
  return payloadOf(Buffer.from(parts[1], 'base64url'));
}

function shape(jws: string): [string, string, string] {
  if (typeof jws !== 'string' || jws.length > MAX_SIGNATURE_CHARS) throw refused('the manifest signature is malformed or too long');
  const parts = jws.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) throw refused('the manifest signature is not a compact JWS');
  return parts as [string, string, string];
}

function payloadOf(bytes: Uint8Array): ManifestSignaturePayload {
  if (bytes.byteLength > MAX_PAYLOAD_BYTES) throw refused('the manifest signature payload is too large');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw refused('the manifest signature payload is not JSON');
  }
  const v = value as Record<string, unknown>;
  const keys = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v) : undefined;
  if (
    keys === undefined ||
    keys.some((k) => !['sha256', 'name', 'serial', 'notAfter'].includes(k)) ||
    typeof v.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.sha256) ||
    typeof v.name !== 'string' ||
    v.name.length > 253 ||
    typeof v.serial !== 'number' ||
    !Number.isInteger(v.serial) ||
    v.serial < 0 ||
    v.serial > MAX_SERIAL ||
    (v.notAfter !== undefined && (typeof v.notAfter !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(v.notAfter) || Number.isNaN(Date.parse(v.notAfter))))
  ) {
    throw refused('the manifest signature payload is not a shadowplane manifest signature');
  }
  return { sha256: v.sha256, name: v.name, serial: v.serial, notAfter: v.notAfter };
}

/**
 * Checks that `jws` is a valid signature, by one of `signers`, of the manifest with digest
 * `digestHex` (what the proxy's evidence binds), at or above that signer's minimum serial
 * and not expired at `now`. Returns the signer, the serial and the signature's expiry
 * (epoch ms, when it has one), which ends the trust of a session it admitted.
 *
 * @throws ShadowplaneError SP_ATTEST_MANIFEST_MISMATCH with a fixed reason.
 */
export async function verifyManifestSignature(jws: string, digestHex: string, signers: readonly ManifestSigner[], now: Date = new Date()): Promise<{ signer: ManifestSigner; serial: number; notAfterMs: number | undefined }> {
  shape(jws);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw refused('the manifest signature header is malformed');
  }
  if (header.typ !== MANIFEST_SIGNATURE_TYPE || header.crit !== undefined) throw refused('the manifest signature is not of the shadowplane manifest type');
  for (const signer of signers) {
    const alg = algorithmOf(signer.publicKey);
    if (header.alg !== alg) continue;
    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(jws, signer.publicKey, { algorithms: [alg] }));
    } catch {
      continue;
    }
    const payload = payloadOf(payloadBytes);
    if (payload.sha256 !== digestHex.toLowerCase()) throw refused(`the manifest signature by owner key ${signer.keySha256.slice(0, 16)}… is for another manifest`);
    if (payload.serial < signer.minimumSerial) throw refused(`the manifest's serial ${payload.serial} is below the minimum ${signer.minimumSerial} for owner key ${signer.keySha256.slice(0, 16)}…`);
    if (payload.notAfter !== undefined && now.getTime() > Date.parse(payload.notAfter)) throw refused(`the manifest signature expired at ${payload.notAfter}`);
    return { signer, serial: payload.serial, notAfterMs: payload.notAfter === undefined ? undefined : Date.parse(payload.notAfter) };
  }
  throw refused('the manifest signature is not valid under any pinned owner key');
}
