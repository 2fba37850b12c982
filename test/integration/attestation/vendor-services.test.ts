/**
 * The optional AMD KDS and Intel PCS fetches against loopback stand-ins that serve the real
 * sample data. Verification never needs them; these show that what they fetch verifies,
 * and that a misbehaving service is bounded and refused.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReferenceValues, verifyEvidence } from '../../../src/attestation/index.ts';
import { fetchAmdCrl, vcekUrl, withVcekFromKds } from '../../../src/attestation/snp/kds.ts';
import { fetchTdxCollateral, tdxCollateralFor } from '../../../src/attestation/tdx/pcs.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { derToPem, pemToDer } from '../../../src/attestation/x509.ts';
import { INTEL_SGX_ROOT_CA } from '../../../src/attestation/roots/intel.ts';
import { expectCode, fixture, MILAN } from '../../unit/attestation/support.ts';
import { startVendorStandIn, type VendorStandIn } from '../../support/vendor-stand-in.ts';

const report = fixture('sev-snp/milan-report.bin');
const vcek = fixture('sev-snp/milan-vcek.der');
const quote = fixture('tdx/tdx_prod_quote_SPR_E4.dat');
const signingChain = encodeURIComponent(derToPem(pemToDer(fixture('tdx/tcb_signing_cert.pem').toString('latin1'))[0]!) + INTEL_SGX_ROOT_CA);

describe('optional vendor services on loopback', () => {
  let server: VendorStandIn;
  let base: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = await startVendorStandIn((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      seen.push(url);
      const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, headers);
        res.end(body);
      };
      if (url.startsWith('/vcek/v1/Milan/') && url.includes('?')) return send(200, vcek);
      if (url === '/vcek/v1/Milan/crl') return send(200, Buffer.from([0x30, 0x00]));
      if (url.startsWith('/tdx/certification/v4/tcb?fmspc=50806f000000')) return send(200, fixture('tdx/sample_tcbInfo_response'), { 'TCB-Info-Issuer-Chain': signingChain });
      if (url === '/tdx/certification/v4/qe/identity') return send(200, fixture('tdx/sample_qeIdentity_response'));
      if (url === '/sgx/certification/v4/pckcrl?ca=platform&encoding=der') return send(200, fixture('tdx/pckcrl'));
      if (url === '/root.crl') return send(200, fixture('tdx/rootcrl.der'));
      if (url === '/huge') return send(200, Buffer.alloc(300 * 1024));
      if (url === '/slow') return; // never answers
      if (url === '/redirect') return send(302, '', { location: '/root.crl' });
      return send(404, 'not found');
    });
    base = server.base;
  });
  afterAll(() => {
    server.close();
  });

  it('completes SNP evidence with the VCEK for its chip and reported TCB, which then verifies up to the DEBUG check', async () => {
    const e = await withVcekFromKds({ platform: 'sev-snp', report, certificates: [] }, 'Milan', { baseUrl: base });
    expect(e.certificates[0]!.equals(vcek)).toBe(true);
    expect(seen.at(-1)).toBe(`/vcek/v1/Milan/${MILAN.chipId}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`);
    // The sample's HOST_DATA is zero (no pod policy was bound), hence the explicit opt-out.
    const reference = parseReferenceValues([{ platform: 'sev-snp', measurements: [MILAN.measurement], minimumTcb: MILAN.tcb, unboundIdentity: true }], 'test');
    await expectCode(() => verifyEvidence(e, { reportData: MILAN.reportData, reference, now: MILAN.now }), 'SP_ATTEST_DEBUG_ENABLED');
  });

  it('builds Turin KDS URLs with the FMC SPL and the 8-byte hardware ID', () => {
    const url = vcekUrl('Turin', Buffer.alloc(64, 0xab), { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'https://kds.example');
    expect(url).toBe(`https://kds.example/vcek/v1/Turin/${'ab'.repeat(8)}?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5`);
  });

  it('fetches the AMD CRL', async () => {
    expect(await fetchAmdCrl('Milan', 'vcek', { baseUrl: base })).toEqual(Buffer.from([0x30, 0]));
  });

  it('fetches TDX collateral for the quote FMSPC that verifies like the shipped samples', async () => {
    const e = { platform: 'tdx' as const, report: quote, certificates: [] };
    const collateral = await tdxCollateralFor(e, { baseUrl: base, rootCrlUrl: `${base}/root.crl` });
    expect(collateral.tcbSigningChain).toHaveLength(2);
    expect(collateral.crls).toHaveLength(2);
    const q = parseTdxQuote(quote);
    // The sample's MRCONFIGID is zero (no pod policy was bound), hence the explicit opt-out.
    const reference = parseReferenceValues([{ platform: 'tdx', mrtd: [q.body.mrtd.toString('hex')], unboundIdentity: true }], 'test');
    // Every signature, chain, CRL and collateral check passes; the sample platform is older than the sample TCB Info.
    await expectCode(() => verifyEvidence({ ...e, collateral }, { reportData: q.body.reportData, reference, now: new Date('2023-07-01T00:00:00Z') }), 'SP_ATTEST_TCB_STATUS');
  });

  it('refuses error statuses, oversized and slow answers, and redirects', async () => {
    await expectCode(() => fetchTdxCollateral('000000000000', 'platform', { baseUrl: base, rootCrlUrl: '' }), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => fetchTdxCollateral('50806f000000', 'platform', { baseUrl: base, rootCrlUrl: `${base}/huge` }), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => fetchTdxCollateral('50806f000000', 'platform', { baseUrl: base, rootCrlUrl: `${base}/slow`, timeoutMs: 200 }), 'SP_ATTEST_COLLATERAL_INVALID');
    await expectCode(() => fetchTdxCollateral('50806f000000', 'platform', { baseUrl: base, rootCrlUrl: `${base}/redirect` }), 'SP_ATTEST_COLLATERAL_INVALID');
  });
});
