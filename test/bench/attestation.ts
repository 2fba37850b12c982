/**
 * Attestation verification timings: per SEV-SNP report and per TDX quote, cold (first call
 * in the process: roots parsed, nothing cached) and warm, and RA-TLS certificates uncached
 * and cached. Prints a table; not a test. Run: `npx node test/bench/attestation.ts`.
 *
 * Baseline in the same run: one ECDSA P-384 signature verification with node:crypto, so
 * that numbers from different machines can be compared.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createAttestedCredentials,
  createSimulatedChain,
  createVerificationCache,
  parseReferenceValues,
  signSimulatedReport,
  verifyAttestedCertificateSync,
  type AttestedCertificateResult,
} from '../../src/attestation/index.ts';
import { verifySnpCrypto } from '../../src/attestation/snp/verify.ts';
import { verifyTdxCrypto } from '../../src/attestation/tdx/verify.ts';
import { verifyWithTrust } from '../../src/attestation/verify.ts';
import { pemToDer } from '../../src/attestation/x509.ts';
import { FORGED_IDENTITY, MRTD, forgeEvidence, forgeTdxPlatform } from '../unit/attestation/tdx-forge.ts';

const F = new URL('../fixtures/attestation/', import.meta.url);
const fx = (p: string): Buffer => readFileSync(new URL(p, F));

function time(fn: () => unknown): number {
  const t = performance.now();
  try {
    fn();
  } catch {
    // expected verdicts (e.g. the real samples' DEBUG or TCB status) still count as work done
  }
  return performance.now() - t;
}

function steady(fn: () => unknown, n: number): { mean: number; p50: number; p99: number } {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(time(fn));
  xs.sort((a, b) => a - b);
  return { mean: xs.reduce((a, b) => a + b, 0) / n, p50: xs[Math.floor(n / 2)]!, p99: xs[Math.floor(n * 0.99)]! };
}

const rows: Array<[string, string, string, string, string]> = [];
function row(name: string, cold: number | undefined, s: { mean: number; p50: number; p99: number }): void {
  rows.push([name, cold === undefined ? '-' : cold.toFixed(3), s.mean.toFixed(3), s.p50.toFixed(3), s.p99.toFixed(3)]);
}

// Baseline.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const msg = Buffer.alloc(672, 1);
const sig = sign('sha384', msg, privateKey);
row('baseline: one ECDSA P-384 verify (node:crypto)', undefined, steady(() => verify('sha384', msg, publicKey, sig), 500));

// Real SEV-SNP (Milan): chain VCEK -> ASK -> ARK (RSA-4096 PSS) + report signature.
const milan = { platform: 'sev-snp' as const, report: fx('sev-snp/milan-report.bin'), certificates: [fx('sev-snp/milan-vcek.der')] };
const milanNow = new Date('2024-06-01T00:00:00Z');
const snpCold = time(() => verifySnpCrypto(milan, { now: milanNow, crls: [], simulatedRoots: [] }));
row('SNP real Milan report: chain + signature + extensions', snpCold, steady(() => verifySnpCrypto(milan, { now: milanNow, crls: [], simulatedRoots: [] }), 300));

// Full verifyEvidence on SNP-shaped evidence with an RSA-4096 chain (the real report has DEBUG set, so simulated evidence shows the whole path).
const chain = await createSimulatedChain();
const RD = Buffer.alloc(64, 7);
const sim = {
  platform: 'simulated' as const,
  report: signSimulatedReport({ product: 'Milan', reportData: RD, measurement: Buffer.from(SIMULATED_DEFAULT_MEASUREMENT, 'hex'), tcb: chain.tcb, chipId: chain.hwId }, chain.vcek.key),
  certificates: [chain.vcek.der, chain.ask.der, chain.ark.der],
};
const simRef = parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [SIMULATED_DEFAULT_MEASUREMENT], hostData: ['00'.repeat(32)] }], 'bench');
const simOpts = { reportData: RD, reference: simRef, allowSimulated: true };
const fullCold = time(() => verifyWithTrust(sim, simOpts, {}));
row('SNP-shaped evidence, full verifyEvidence (RSA-4096 chain)', fullCold, steady(() => verifyWithTrust(sim, simOpts, {}), 300));

// RA-TLS: uncached and cached.
const cred = await createAttestedCredentials({
  claims: { role: 'agent' },
  issuer: {
    platform: 'simulated',
    issue: (reportData) =>
      Promise.resolve({
        platform: 'simulated',
        report: signSimulatedReport({ product: 'Milan', reportData, measurement: Buffer.from(SIMULATED_DEFAULT_MEASUREMENT, 'hex'), tcb: chain.tcb, chipId: chain.hwId }, chain.vcek.key),
        certificates: [chain.vcek.der, chain.ask.der, chain.ark.der],
      }),
  },
});
row('RA-TLS certificate (SNP-shaped), uncached', undefined, steady(() => verifyAttestedCertificateSync(cred.certDer, { reference: simRef, allowSimulated: true }), 300));
const cache = createVerificationCache<AttestedCertificateResult>();
const cachedCold = time(() => verifyAttestedCertificateSync(cred.certDer, { reference: simRef, allowSimulated: true, cache }));
row('RA-TLS certificate (SNP-shaped), cached', cachedCold, steady(() => verifyAttestedCertificateSync(cred.certDer, { reference: simRef, allowSimulated: true, cache }), 2000));

// Real TDX v4 quote: PCK chain to the Intel root, QE report, quote signature, CRLs, signed collateral, TCB evaluation.
const tdx = {
  platform: 'tdx' as const,
  report: fx('tdx/tdx_prod_quote_SPR_E4.dat'),
  certificates: [],
  collateral: {
    tdxTcbInfo: fx('tdx/sample_tcbInfo_response').toString('utf8'),
    tdxQeIdentity: fx('tdx/sample_qeIdentity_response').toString('utf8'),
    tcbSigningChain: pemToDer(fx('tdx/tcb_signing_cert.pem').toString('latin1')),
  },
};
const tdxNow = new Date('2023-07-01T00:00:00Z');
const tdxCold = time(() => verifyTdxCrypto(tdx, { now: tdxNow, crls: [] }));
row('TDX real v4 quote: chain, QE, quote, collateral, TCB', tdxCold, steady(() => verifyTdxCrypto(tdx, { now: tdxNow, crls: [] }), 300));

// Full verifyEvidence on an Intel-shaped quote that verifies end to end (test root).
const now = new Date();
const forge = forgeTdxPlatform({ now });
const forged = forgeEvidence(forge, { reportData: RD });
const tdxRef = parseReferenceValues([{ platform: 'tdx', mrtd: [MRTD.toString('hex')], ...FORGED_IDENTITY }], 'bench');
row('TDX-shaped quote, full verifyEvidence', undefined, steady(() => verifyWithTrust(forged, { reportData: RD, reference: tdxRef, now }, { intel: forge.anchors }), 300));

const head: [string, string, string, string, string] = ['case', 'cold ms', 'mean ms', 'p50 ms', 'p99 ms'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: readonly string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`node ${process.version} on ${process.platform}/${process.arch}`);
console.log(line(head));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
