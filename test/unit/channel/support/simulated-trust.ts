/**
 * A simulated attestation setup for channel tests: an issuer whose evidence chains to a
 * fresh simulated root, and reference values that accept exactly that root and the
 * default measurement, and the chain itself (its ARK key signs CRLs in revocation tests).
 * (Verifiers must still be told to allow simulated evidence.)
 */
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createSimulatedChain,
  parseReferenceValues,
  signSimulatedReport,
  type EvidenceIssuer,
  type ReferenceValues,
  type SimulatedChain,
} from '../../../../src/attestation/index.ts';

export async function simulatedTrust(): Promise<{ issuer: EvidenceIssuer; reference: ReferenceValues; chain: SimulatedChain }> {
  const chain = await createSimulatedChain({ rsaBits: 2048 });
  const issuer: EvidenceIssuer = {
    platform: 'simulated',
    issue: (reportData: Buffer) =>
      Promise.resolve({
        platform: 'simulated',
        report: signSimulatedReport({ product: chain.product, reportData, measurement: Buffer.from(SIMULATED_DEFAULT_MEASUREMENT, 'hex'), tcb: chain.tcb, chipId: chain.hwId, signingKey: 'vcek' }, chain.vcek.key),
        certificates: [chain.vcek.der, chain.ask.der, chain.ark.der],
      }),
  };
  // Simulated reports carry zero host data: that is the value this identity pins.
  const reference = parseReferenceValues(
    { version: 1, entries: [{ platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [SIMULATED_DEFAULT_MEASUREMENT], hostData: ['00'.repeat(32)] }] },
    'test',
  );
  return { issuer, reference, chain };
}
