import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import { MANIFEST_SIGNATURE_TYPE, manifestSigner, readManifestSignature, signManifest, verifyManifestSignature } from '../../../src/config/manifest-signature.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

const manifest = { digestHex: 'ab'.repeat(32), name: 'payments' };
const ed = generateKeyPairSync('ed25519');
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (k: { publicKey: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer } }) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isShadowplaneError(err)) return `${err.code}: ${err.detail ?? ''}`;
    throw err;
  }
  throw new Error('accepted');
}

describe('owner-signed manifests', () => {
  it.each([
    ['Ed25519', ed],
    ['P-256', p256],
    ['P-384', p384],
  ])('accepts a %s signature of the manifest the proxy binds, naming signer and serial', async (_name, keys) => {
    const jws = await signManifest(manifest, keys.privateKey, { serial: 7 });
    expect(jws.length).toBeLessThanOrEqual(1024);
    const signer = manifestSigner(pem(keys), 7);
    const ok = await verifyManifestSignature(jws, manifest.digestHex, [manifestSigner(pem(generateKeyPairSync('ed25519'))), signer]);
    expect(ok.serial).toBe(7);
    expect(ok.signer).toBe(signer);
    expect(readManifestSignature(jws)).toEqual({ sha256: manifest.digestHex, name: 'payments', serial: 7, notAfter: undefined });
  });

  it('refuses a signature for another manifest, under another key, below the minimum serial, or expired', async () => {
    const jws = await signManifest(manifest, ed.privateKey, { serial: 3, notAfter: new Date('2030-01-01T00:00:00Z') });
    const signer = manifestSigner(pem(ed));
    expect(await refusal(verifyManifestSignature(jws, 'cd'.repeat(32), [signer]))).toMatch(/^SP_ATTEST_MANIFEST_MISMATCH: the manifest signature by owner key [0-9a-f]{16}… is for another manifest$/);
    expect(await refusal(verifyManifestSignature(jws, manifest.digestHex, [manifestSigner(pem(p256)), manifestSigner(pem(generateKeyPairSync('ed25519')))]))).toBe(
      'SP_ATTEST_MANIFEST_MISMATCH: the manifest signature is not valid under any pinned owner key',
    );
    expect(await refusal(verifyManifestSignature(jws, manifest.digestHex, [manifestSigner(pem(ed), 4)]))).toMatch(/serial 3 is below the minimum 4/);
    expect(await refusal(verifyManifestSignature(jws, manifest.digestHex, [signer], new Date('2030-01-01T00:00:01Z')))).toBe(
      'SP_ATTEST_MANIFEST_MISMATCH: the manifest signature expired at 2030-01-01T00:00:00.000Z',
    );
    expect((await verifyManifestSignature(jws, manifest.digestHex, [signer], new Date('2029-12-31T23:59:59Z'))).serial).toBe(3);
  });

  it('refuses a tampered payload, a foreign type, an unsigned or HMAC token, and oversized or malformed input, without quoting it', async () => {
    const signer = manifestSigner(pem(ed));
    const jws = await signManifest(manifest, ed.privateKey, { serial: 1 });
    const [h, , s] = jws.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sha256: manifest.digestHex, name: 'payments', serial: 99 })).toString('base64url')}.${s}`;
    expect(await refusal(verifyManifestSignature(forged, manifest.digestHex, [signer]))).toBe('SP_ATTEST_MANIFEST_MISMATCH: the manifest signature is not valid under any pinned owner key');
    const otherType = await new CompactSign(Buffer.from(JSON.stringify({ sha256: manifest.digestHex, name: 'x', serial: 1 }))).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).sign(ed.privateKey);
    expect(await refusal(verifyManifestSignature(otherType, manifest.digestHex, [signer]))).toMatch(/not of the shadowplane manifest type/);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: MANIFEST_SIGNATURE_TYPE })).toString('base64url')}.${jws.split('.')[1]}.`;
    expect(await refusal(verifyManifestSignature(none, manifest.digestHex, [signer]))).toMatch(/^SP_ATTEST_MANIFEST_MISMATCH: the manifest signature is not a compact JWS$/);
    const hmac = await new CompactSign(Buffer.from(JSON.stringify({ sha256: manifest.digestHex, name: 'x', serial: 1 })))
      .setProtectedHeader({ alg: 'HS256', typ: MANIFEST_SIGNATURE_TYPE })
      .sign(new TextEncoder().encode(pem(ed)));
    expect(await refusal(verifyManifestSignature(hmac, manifest.digestHex, [signer]))).toBe('SP_ATTEST_MANIFEST_MISMATCH: the manifest signature is not valid under any pinned owner key');
    const secret = 'canary-secret-value';
    for (const bad of ['x'.repeat(1025), `${secret}.${secret}.${secret}`, `a.b`, '']) {
      const why = await refusal(verifyManifestSignature(bad, manifest.digestHex, [signer]));
      expect(why).toMatch(/^SP_ATTEST_MANIFEST_MISMATCH: /);
      expect(why).not.toContain(secret);
    }
  });

  it('refuses owner keys of other kinds', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => manifestSigner(pem(rsa))).toThrow(/Ed25519, ECDSA P-256 or ECDSA P-384/);
    expect(() => manifestSigner('not a key')).toThrow(/not a PEM public key/);
    expect(() => manifestSigner(pem(ed), -1)).toThrow(/minimumSerial/);
    const pkcs8 = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(createPrivateKey(pkcs8).asymmetricKeyType).toBe('ed25519');
    // A private key is refused, not turned into its public half (and not quoted).
    const refusal = (() => {
      try {
        manifestSigner(pkcs8);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(refusal).toMatch(/holds a PRIVATE key/);
    expect(refusal).not.toContain(pkcs8.split('\n')[1]!);
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    expect(() => manifestSigner(sec1)).toThrow(/holds a PRIVATE key/);
  });
});
