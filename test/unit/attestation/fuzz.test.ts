/**
 * Fuzzing every attestation parser with a seeded generator: random inputs and mutations of
 * the real files. The contract: any input either parses or throws a ShadowplaneError, never
 * another exception, and every call returns quickly. Counts are fixed, so the run is bounded.
 */
import { describe, expect, it } from 'vitest';
import { isShadowplaneError } from '../../../src/errors.ts';
import { decodeEvidence, parseReferenceValues, verifyAttestedCertificateSync, createAttestedCredentials } from '../../../src/attestation/index.ts';
import { children, readOnly } from '../../../src/attestation/der.ts';
import { parseCrl } from '../../../src/attestation/crl.ts';
import { parseCertTable, buildCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { readEndorsementExtensions } from '../../../src/attestation/snp/endorsement.ts';
import { verifySnpCrypto } from '../../../src/attestation/snp/verify.ts';
import { parseQeIdentity, parseTdxTcbInfo, splitSignedJson } from '../../../src/attestation/tdx/collateral.ts';
import { readPckExtensions } from '../../../src/attestation/tdx/pck.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { verifyTdxCrypto } from '../../../src/attestation/tdx/verify.ts';
import { parseCertificate, pemToDer } from '../../../src/attestation/x509.ts';
import { SIMULATED_DEFAULT_MEASUREMENT, signSimulatedReport } from '../../../src/attestation/simulated.ts';
import { verifyWithTrust } from '../../../src/attestation/verify.ts';
import { chainFor, fixture, MILAN, simulatedIssuer, simulatedReference } from './support.ts';
import { FORGED_IDENTITY, MRTD, forgeEvidence, forgeTdxPlatform } from './tdx-forge.ts';
import { seededRandom as rng } from '../../support/testing.ts';

/** Everything security-relevant in a quote, as one string. */
function tdxContent(quote: Buffer): string {
  const q = parseTdxQuote(quote);
  return [q.signed, q.signature, q.attestationKey, q.qeReport.raw, q.qeReportSignature, q.qeAuthData, ...pemToDer(q.pckChainPem)].map((b) => b.toString('hex')).join('|');
}

/** mulberry32: small, seeded, reproducible. */

function mutate(input: Buffer, r: () => number): Buffer {
  const b = Buffer.from(input);
  const int = (n: number): number => Math.floor(r() * n);
  const rounds = 1 + int(4);
  let out = b;
  for (let k = 0; k < rounds; k++) {
    const at = int(Math.max(1, out.length));
    switch (int(7)) {
      case 0: // flip a bit
        if (out.length > 0) out[at]! ^= 1 << int(8);
        break;
      case 1: // interesting byte
        if (out.length > 0) out[at] = [0x00, 0x7f, 0x80, 0xff, 0x30, 0x82, 0x84][int(7)]!;
        break;
      case 2: // truncate
        out = out.subarray(0, at);
        break;
      case 3: // delete a range
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + int(64)))]);
        break;
      case 4: // insert random bytes
        out = Buffer.concat([out.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(32) }, () => int(256))), out.subarray(at)]);
        break;
      case 5: // duplicate a range
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + 1 + int(128)), out.subarray(at)]);
        break;
      default: // random buffer of similar size
        out = Buffer.from(Array.from({ length: int(out.length + 16) }, () => int(256)));
    }
  }
  return out;
}

interface Failure {
  readonly target: string;
  readonly i: number;
  readonly message: string;
}

/** Runs `fn` on `count` inputs; returns the crashes (non-ShadowplaneError throws) and the slowest call. */
function fuzz(target: string, seed: number, count: number, gen: (r: () => number) => unknown, fn: (x: never) => unknown): { failures: Failure[]; slowestMs: number; accepted: number } {
  const r = rng(seed);
  const failures: Failure[] = [];
  let slowestMs = 0;
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    const input = gen(r);
    const t0 = performance.now();
    try {
      fn(input as never);
      accepted++;
    } catch (err) {
      if (!isShadowplaneError(err)) failures.push({ target, i, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
    slowestMs = Math.max(slowestMs, performance.now() - t0);
  }
  return { failures, slowestMs, accepted };
}

const SLOW_MS = 1000;

describe('fuzzing the attestation parsers (seeded, bounded)', () => {
  const snpReport = fixture('sev-snp/milan-report.bin');
  const vcek = fixture('sev-snp/milan-vcek.der');
  const amd = pemToDer(fixture('sev-snp/ask_ark_milan.pem').toString('latin1'));
  const quoteV4 = fixture('tdx/tdx_prod_quote_SPR_E4.dat');
  const quoteV5 = fixture('tdx/quote_v5_sample.dat');
  const tdxCerts = pemToDer(parseTdxQuote(quoteV4).pckChainPem);
  const crls = [fixture('tdx/pckcrl'), fixture('tdx/rootcrl.der')];
  const tcbInfo = fixture('tdx/sample_tcbInfo_response').toString('utf8');
  const tcbInfoV5 = fixture('tdx/sample_tcbinfo_response_v5').toString('utf8');
  const qeIdentity = fixture('tdx/sample_qeIdentity_response').toString('utf8');
  const signing = pemToDer(fixture('tdx/tcb_signing_cert.pem').toString('latin1'));
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

  it('DER reader and certificate parser: random bytes and mutated real certificates', () => {
    const certs = [vcek, ...amd, ...tdxCerts, ...signing];
    const results = [
      fuzz('der', 1, 3000, (r) => Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))), (b: Buffer) => children(readOnly(b, 'x'), 'x')),
      fuzz('certificate', 2, 3000, (r) => mutate(pick(r, certs), r), (b: Buffer) => {
        const c = parseCertificate(b, 'fuzz');
        readEndorsementExtensions(c, 'Milan');
      }),
      fuzz('pck-extensions', 3, 1500, (r) => mutate(tdxCerts[0]!, r), (b: Buffer) => readPckExtensions(parseCertificate(b, 'fuzz'))),
      fuzz('crl', 4, 2000, (r) => mutate(pick(r, crls), r), (b: Buffer) => parseCrl(b)),
    ];
    expect(results.flatMap((x) => x.failures)).toEqual([]);
    for (const x of results) expect(x.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('SEV-SNP verification: mutated reports and certificates', () => {
    const results = [
      fuzz('snp-report', 5, 1500, (r) => mutate(snpReport, r), (b: Buffer) => {
        verifySnpCrypto({ platform: 'sev-snp', report: b, certificates: [vcek] }, { now: MILAN.now, crls: [], simulatedRoots: [] });
        if (!b.equals(snpReport)) throw new Error('a mutated report verified');
      }),
      fuzz('snp-certs', 6, 800, (r) => [mutate(vcek, r), ...(r() < 0.5 ? [mutate(pick(r, amd), r)] : [])], (c: Buffer[]) => verifySnpCrypto({ platform: 'sev-snp', report: snpReport, certificates: c }, { now: MILAN.now, crls: [], simulatedRoots: [] })),
      fuzz('cert-table', 7, 2000, (r) => mutate(buildCertTable([['vcek', vcek], ['ask', amd[0]!], ['ark', amd[1]!]]), r), (b: Buffer) => parseCertTable(b)),
    ];
    expect(results.flatMap((x) => x.failures)).toEqual([]);
    for (const x of results) expect(x.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('TDX verification: mutated quotes (v4 and v5) and mutated collateral', () => {
    const collateral = { tdxTcbInfo: tcbInfo, tdxQeIdentity: qeIdentity, tcbSigningChain: signing };
    const now = new Date('2023-07-01T00:00:00Z');
    const results = [
      fuzz('tdx-quote', 8, 1500, (r) => mutate(pick(r, [quoteV4, quoteV5]), r), (b: Buffer) => {
        verifyTdxCrypto({ platform: 'tdx', report: b, certificates: [], collateral }, { now, crls: [] });
        if (tdxContent(b) !== tdxContent(quoteV4)) throw new Error('a mutated quote verified');
      }),
      fuzz('tcb-info', 9, 1500, (r) => mutate(Buffer.from(pick(r, [tcbInfo, tcbInfoV5])), r).toString('utf8'), (t: string) => parseTdxTcbInfo(splitSignedJson(t, 'tcbInfo', 'fuzz').signed)),
      fuzz('qe-identity', 10, 1500, (r) => mutate(Buffer.from(qeIdentity), r).toString('utf8'), (t: string) => parseQeIdentity(splitSignedJson(t, 'enclaveIdentity', 'fuzz').signed)),
      fuzz('tdx-collateral', 11, 600, (r) => mutate(Buffer.from(tcbInfo), r).toString('utf8'), (t: string) =>
        verifyTdxCrypto({ platform: 'tdx', report: quoteV4, certificates: [], collateral: { ...collateral, tdxTcbInfo: t } }, { now, crls: [] }),
      ),
    ];
    expect(results.flatMap((x) => x.failures)).toEqual([]);
    for (const x of results) expect(x.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('accepting paths: a mutated simulated report or forged TDX quote never verifies', async () => {
    const chain = await chainFor();
    const RD = Buffer.alloc(64, 3);
    const simReport = signSimulatedReport({ product: chain.product, reportData: RD, measurement: Buffer.from(SIMULATED_DEFAULT_MEASUREMENT, 'hex'), tcb: chain.tcb, chipId: chain.hwId }, chain.vcek.key);
    const reference = simulatedReference(chain, SIMULATED_DEFAULT_MEASUREMENT);
    const now = new Date();
    const forge = forgeTdxPlatform({ now });
    const forged = forgeEvidence(forge, { reportData: RD });
    const tdxReference = parseReferenceValues([{ platform: 'tdx', mrtd: [MRTD.toString('hex')], ...FORGED_IDENTITY }], 'fuzz');
    // Sanity: the originals verify.
    verifyWithTrust({ platform: 'simulated', report: simReport, certificates: [chain.vcek.der, chain.ask.der, chain.ark.der] }, { reportData: RD, reference, allowSimulated: true }, {});
    verifyWithTrust(forged, { reportData: RD, reference: tdxReference, now }, { intel: forge.anchors });
    const results = [
      fuzz('sim-accept', 15, 1500, (r) => mutate(simReport, r), (b: Buffer) => {
        verifyWithTrust({ platform: 'simulated', report: b, certificates: [chain.vcek.der, chain.ask.der, chain.ark.der] }, { reportData: RD, reference, allowSimulated: true }, {});
        if (!b.equals(simReport)) throw new Error('a mutated simulated report verified');
      }),
      fuzz('tdx-accept', 16, 1500, (r) => mutate(forged.report, r), (b: Buffer) => {
        verifyWithTrust({ ...forged, report: b }, { reportData: RD, reference: tdxReference, now }, { intel: forge.anchors });
        // What may differ in a quote that still verifies: PEM whitespace and trailing padding,
        // never a byte of signed or signing content.
        if (tdxContent(b) !== tdxContent(forged.report)) throw new Error('a mutated TDX quote verified');
      }),
    ];
    expect(results.flatMap((x) => x.failures)).toEqual([]);
    for (const x of results) expect(x.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('evidence JSON and reference values: random structures', () => {
    const values = (r: () => number, depth: number): unknown => {
      const k = Math.floor(r() * (depth > 3 ? 5 : 8));
      switch (k) {
        case 0: return null;
        case 1: return r() < 0.5;
        case 2: return Math.floor(r() * 1e6) - 5;
        case 3: return pick(r, ['', 'sev-snp', 'tdx', 'simulated', 'AAAA', 'ab'.repeat(48), 'ab'.repeat(32), '0x' + 'cd'.repeat(48), 'x'.repeat(300)]);
        case 4: return undefined;
        case 5: return Array.from({ length: Math.floor(r() * 4) }, () => values(r, depth + 1));
        default: {
          const keys = ['platform', 'report', 'certificates', 'collateral', 'version', 'entries', 'measurements', 'hostData', 'minimumTcb', 'policy', 'snp', 'crls', 'tdxTcbInfo', 'name', 'mrtd', 'chipIds', 'extra'];
          return Object.fromEntries(Array.from({ length: Math.floor(r() * 5) }, () => [pick(r, keys), values(r, depth + 1)]));
        }
      }
    };
    const results = [
      fuzz('evidence-json', 12, 4000, (r) => values(r, 0), (v: unknown) => decodeEvidence(v)),
      fuzz('reference-values', 13, 4000, (r) => (r() < 0.5 ? { version: 1, entries: [values(r, 1)] } : values(r, 0)), (v: unknown) => parseReferenceValues(v, 'fuzz')),
    ];
    expect(results.flatMap((x) => x.failures)).toEqual([]);
    for (const x of results) expect(x.slowestMs).toBeLessThan(SLOW_MS);
  });

  it('RA-TLS certificates: mutations of a valid one', async () => {
    const chain = await chainFor();
    const cred = await createAttestedCredentials({
      claims: { role: 'agent' },
      issuer: simulatedIssuer(chain),
    });
    const reference = simulatedReference(chain, SIMULATED_DEFAULT_MEASUREMENT);
    const result = fuzz('ra-tls', 14, 800, (r) => mutate(cred.certDer, r), (b: Buffer) => verifyAttestedCertificateSync(b, { reference, allowSimulated: true }));
    expect(result.failures).toEqual([]);
    expect(result.slowestMs).toBeLessThan(SLOW_MS);
  });
});
