/**
 * Public keys read from PEM where only a public key (or a certificate) belongs: manifest
 * users and scrapers, the manifest owner's keys. Node's `createPublicKey` also takes a
 * private key and quietly derives its public half, so a private key given by mistake
 * would be accepted and then copied on, into a manifest ConfigMap or an injected pod
 * spec that the untrusted cluster stores. It is refused instead, and never echoed.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/** Why a PEM is not a public key: it holds a private key, or no key at all. */
export type NotAPublicKey = 'private' | 'invalid';

/** The public key of a PEM public key or certificate; why not, for anything else. */
export function publicKeyOfPem(pem: string): KeyObject | NotAPublicKey {
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem) || isPrivateKey(pem)) return 'private';
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return 'invalid';
  }
}

function isPrivateKey(pem: string): boolean {
  try {
    createPrivateKey({ key: pem, format: 'pem' });
    return true;
  } catch {
    return false;
  }
}

/** What to tell whoever gave a private key where its public half belongs. */
export const PRIVATE_KEY_REFUSED = 'holds a PRIVATE key: give only its public half (openssl pkey -pubout) and keep the private key where it was';
