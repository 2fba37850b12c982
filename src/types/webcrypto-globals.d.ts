/**
 * @types/node declares the WebCrypto globals as values only; their types live in the DOM
 * lib, which a Node program should not load. @peculiar/x509's declarations name these
 * types globally, so alias them to node:crypto's definitions.
 */
import type { webcrypto } from 'node:crypto';

declare global {
  type CryptoKey = webcrypto.CryptoKey;
  type CryptoKeyPair = webcrypto.CryptoKeyPair;
  type Crypto = webcrypto.Crypto;
}

export {};
