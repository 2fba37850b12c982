/**
 * Intel PCS (or a PCCS cache of it), used only when a caller explicitly asks: the
 * collateral a TDX verification needs for the quote's FMSPC. Every item is signed and is
 * verified like any other collateral; fetching adds no trust.
 *
 *   <base>/tdx/certification/v4/tcb?fmspc=<fmspc>            body: TCB Info; header TCB-Info-Issuer-Chain
 *   <base>/tdx/certification/v4/qe/identity                 body: QE Identity
 *   <base>/sgx/certification/v4/pckcrl?ca=<platform|processor>&encoding=der
 *   <rootCrlUrl>                                             the Intel SGX Root CA CRL
 */
import { ShadowplaneError } from '../../errors.ts';
import { httpGet, type FetchLike } from '../http.ts';
import type { Collateral, Evidence } from '../types.ts';
import { parseCertificate, pemToDer } from '../x509.ts';
import { readPckExtensions } from './pck.ts';
import { parseTdxQuote } from './quote.ts';

export const INTEL_PCS = 'https://api.trustedservices.intel.com';
export const INTEL_ROOT_CRL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export interface PcsOptions {
  /** Default https://api.trustedservices.intel.com (or a PCCS). */
  readonly baseUrl?: string;
  /** Default the Intel URL; set to '' to skip the root CRL. */
  readonly rootCrlUrl?: string;
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
}

export function issuerChain(headers: Headers, name: string): Buffer[] {
  const raw = headers.get(name);
  if (raw === null || raw.length > 32 * 1024) throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `the PCS answer has no usable ${name} header`);
  let pem: string;
  try {
    pem = decodeURIComponent(raw);
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `the ${name} header is not URL-encoded PEM`, { cause: err });
  }
  const ders = pemToDer(pem);
  if (ders.length === 0 || ders.length > 4) throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `the ${name} header holds no certificate chain`);
  return ders;
}

/** Fetches TCB Info, QE Identity, the TCB signing chain and the CRLs for `fmspc`. */
export async function fetchTdxCollateral(fmspc: string, ca: 'platform' | 'processor', opts: PcsOptions = {}): Promise<Collateral> {
  if (!/^[0-9a-f]{12}$/.test(fmspc)) throw new ShadowplaneError('SP_INTERNAL', 'FMSPC is 12 hex digits');
  const base = opts.baseUrl ?? INTEL_PCS;
  const common = { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) };
  const rootCrlUrl = opts.rootCrlUrl ?? INTEL_ROOT_CRL;
  const [tcb, qe, pckCrl, rootCrl] = await Promise.all([
    httpGet(`${base}/tdx/certification/v4/tcb?fmspc=${fmspc}`, { maxBytes: 64 * 1024, ...common }),
    httpGet(`${base}/tdx/certification/v4/qe/identity`, { maxBytes: 16 * 1024, ...common }),
    httpGet(`${base}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`, { maxBytes: 128 * 1024, ...common }),
    rootCrlUrl === '' ? Promise.resolve(undefined) : httpGet(rootCrlUrl, { maxBytes: 128 * 1024, ...common }),
  ]);
  return {
    tdxTcbInfo: tcb.body.toString('utf8'),
    tdxQeIdentity: qe.body.toString('utf8'),
    tcbSigningChain: issuerChain(tcb.headers, 'TCB-Info-Issuer-Chain'),
    crls: [pckCrl.body, ...(rootCrl !== undefined ? [rootCrl.body] : [])],
  };
}

/**
 * The collateral for a TDX quote, from its PCK certificate's FMSPC and issuing CA. Fits
 * `TsmIssuerOptions.collateral`.
 */
export async function tdxCollateralFor(evidence: Evidence, opts: PcsOptions = {}): Promise<Collateral> {
  const quote = parseTdxQuote(evidence.report);
  const [leaf] = pemToDer(quote.pckChainPem);
  if (leaf === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'the quote carries no PCK certificate');
  const pck = parseCertificate(leaf, 'PCK certificate');
  const ca = /Processor/i.test(parseCertificate(pemToDer(quote.pckChainPem)[1] ?? leaf, 'PCK CA').subjectName) ? 'processor' : 'platform';
  return fetchTdxCollateral(readPckExtensions(pck).fmspc, ca, opts);
}
