import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AMD_ROOTS } from '../../../src/attestation/roots/amd.ts';
import { INTEL_SGX_ROOT_CA } from '../../../src/attestation/roots/intel.ts';
import { amdTrustAnchors } from '../../../src/attestation/snp/verify.ts';
import { intelTrustAnchors } from '../../../src/attestation/tdx/verify.ts';
import { SNP_PRODUCTS } from '../../../src/attestation/types.ts';
import { isSignedBy, parseCertificate, pemToDer } from '../../../src/attestation/x509.ts';
import { fixture } from './support.ts';

describe('shipped trust anchors', () => {
  it('ships, for Milan, Genoa and Turin, a self-signed RSA-4096 ARK that signs both the ASK and the ASVK with RSASSA-PSS/SHA-384', () => {
    for (const product of SNP_PRODUCTS) {
      const [ark, ask, asvk] = [AMD_ROOTS[product].ark, AMD_ROOTS[product].ask, AMD_ROOTS[product].asvk].map((pem) => parseCertificate(pemToDer(pem)[0]!, product));
      expect(ark!.subjectName).toBe(`ARK-${product}`);
      expect(ark!.publicKey.asymmetricKeyDetails?.modulusLength).toBe(4096);
      expect(isSignedBy(ark!, ark!)).toBe(true);
      expect(isSignedBy(ask!, ark!)).toBe(true);
      expect(isSignedBy(asvk!, ark!)).toBe(true);
      expect(ask!.subjectName).toBe(`SEV-${product}`);
      expect(asvk!.subjectName).toBe(`SEV-VLEK-${product}`);
      for (const c of [ark!, ask!, asvk!]) expect(c.signatureAlgorithm).toEqual({ kind: 'rsa-pss', hash: 'sha384', saltLength: 48 });
    }
    expect(amdTrustAnchors().anchors.map((a) => a.label)).toEqual(['AMD ARK-Milan', 'AMD ARK-Genoa', 'AMD ARK-Turin']);
  });

  it('ships byte for byte the roots of the shared test data', () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const [milanAsk, milanArk] = pemToDer(fixture('sev-snp/ask_ark_milan.pem').toString('latin1'));
    expect(sha(pemToDer(AMD_ROOTS.Milan.ask)[0]!)).toBe(sha(milanAsk!));
    expect(sha(pemToDer(AMD_ROOTS.Milan.ark)[0]!)).toBe(sha(milanArk!));
    const [turinAsk] = pemToDer(fixture('sev-snp/ask_ark_turin_vcek.pem').toString('latin1'));
    expect(sha(pemToDer(AMD_ROOTS.Turin.ask)[0]!)).toBe(sha(turinAsk!));
    expect(sha(pemToDer(INTEL_SGX_ROOT_CA)[0]!)).toBe(sha(pemToDer(fixture('tdx/intel_sgx_root_ca.pem').toString('latin1'))[0]!));
  });

  it('ships the Intel SGX Root CA, self-signed with ECDSA/SHA256', () => {
    const [root] = intelTrustAnchors();
    expect(root!.cert.subjectName).toBe('Intel SGX Root CA');
    expect(isSignedBy(root!.cert, root!.cert)).toBe(true);
    expect(root!.cert.signatureAlgorithm).toEqual({ kind: 'ecdsa', hash: 'sha256' });
  });
});
