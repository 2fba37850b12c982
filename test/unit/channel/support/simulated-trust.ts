/**
 * A simulated attestation setup for channel tests: an issuer whose evidence chains to a
 * fresh simulated root, and reference values that accept exactly that root and the
 * default measurement. (Verifiers must still be told to allow simulated evidence.)
 */
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createSimulatedChain,
  parseReferenceValues,
  signSimulatedReport,
  type EvidenceIssuer,
  type ReferenceValues,
} from '../../../../src/attestation/index.ts';

export async function simulatedTrust(): Promise<{ issuer: EvidenceIssuer; reference: ReferenceValues }> {
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
  const reference = parseReferenceValues({ version: 1, entries: [{ platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [SIMULATED_DEFAULT_MEASUREMENT] }] }, 'test');
  return { issuer, reference };
}
