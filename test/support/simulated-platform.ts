/**
 * A simulated platform whose CA keys the test keeps, so that the test can sign CRLs for
 * its chain.
 *
 * `shadowplane simulate init` (`simulateInit`) discards the ARK and ASK private keys on
 * purpose: nothing can then sign a CRL or another VCEK for a development platform. A
 * revocation test needs exactly that, so it makes the chain with `createSimulatedChain`
 * (which returns the keys) and writes the files `createSimulatedIssuer` reads, in the
 * layout `simulateInit` gives them (ark.pem, ask.pem, vcek.pem, vcek-key.pem,
 * simulated.json). An agent pointed at the directory (`attestation.simulatedDir`) issues
 * evidence from this chain. If that layout changes, the agent refuses the directory at
 * start and the test using it fails: it cannot silently test something else.
 *
 * The chain is AMD-shaped like every simulated one: the ARK may sign CRLs (keyUsage
 * cRLSign) and lists revoked ASKs; the ASK may only sign certificates, so no CRL can name
 * a VCEK (docs/attestation.md, revocation). Revoking this platform means revoking its ASK.
 *
 * Every simulated ARK of a product has the same name, and a verifier matches a CRL to its
 * issuer by name and then refuses one that issuer did not sign
 * (SP_ATTEST_COLLATERAL_INVALID). So a CRL of one simulated Milan platform refuses every
 * other simulated Milan platform: platforms that meet one verifier holding CRLs must be of
 * different products.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSimulatedChain, SIMULATED_DEFAULT_MEASUREMENT, type SimulatedChain } from '../../src/attestation/simulated.ts';
import type { SnpProduct } from '../../src/attestation/types.ts';
import { buildCrl } from '../../src/attestation/x509-build.ts';
import { derToPem, parseCertificate } from '../../src/attestation/x509.ts';

const HOUR = 3_600_000;

export interface KeptPlatform {
  /** The directory an agent's `attestation.simulatedDir` names. */
  readonly dir: string;
  /** The chain, with the ARK, ASK and VCEK private keys. */
  readonly chain: SimulatedChain;
  /** Serial of the ASK (the VCEK's issuer), lowercase hex: what the ARK's CRL lists to revoke this platform. */
  readonly askSerial: string;
  /** A manifest reference-values entry that accepts agents of this platform (simulated measurement, zero host data). */
  referenceEntry(name: string): Record<string, unknown>;
  /** A current CRL signed by this platform's ARK (thisUpdate an hour ago, nextUpdate in a day) listing `serials`, as PEM. */
  arkCrlPem(serials: readonly string[]): string;
}

/**
 * Makes a simulated platform of `product` in `dir` and keeps its CA keys. RSA-2048 ARK and
 * ASK: the same algorithms as AMD's RSA-4096 (RSASSA-PSS/SHA-384), faster to generate.
 */
export async function keptSimulatedPlatform(dir: string, product: SnpProduct): Promise<KeptPlatform> {
  const chain = await createSimulatedChain({ product, rsaBits: 2048 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'ark.pem'), derToPem(chain.ark.der));
  writeFileSync(join(dir, 'ask.pem'), derToPem(chain.ask.der));
  writeFileSync(join(dir, 'vcek.pem'), derToPem(chain.vcek.der));
  writeFileSync(join(dir, 'vcek-key.pem'), chain.vcek.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const meta = { version: 1, product: chain.product, signingKey: chain.signingKey, tcb: chain.tcb, hwId: chain.hwId.toString('hex'), arkSha256: chain.arkSha256 };
  writeFileSync(join(dir, 'simulated.json'), `${JSON.stringify(meta, null, 2)}\n`);
  const arkSubject = parseCertificate(chain.ark.der, 'simulated ARK').subject;
  return {
    dir,
    chain,
    askSerial: parseCertificate(chain.ask.der, 'simulated ASK').serial,
    referenceEntry: (name) => ({
      name,
      platform: 'simulated',
      simulatedRootSha256: chain.arkSha256,
      measurements: [SIMULATED_DEFAULT_MEASUREMENT],
      hostData: ['00'.repeat(32)],
    }),
    arkCrlPem(serials) {
      // CRL times have whole seconds.
      const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - HOUR);
      const der = buildCrl({
        issuer: arkSubject,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + 25 * HOUR),
        revoked: serials.map((serial) => ({ serial, date: thisUpdate })),
        signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' },
      });
      return derToPem(der, 'X509 CRL');
    },
  };
}
