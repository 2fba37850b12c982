/**
 * Cryptographic verification of TDX quotes and their collateral.
 *
 * Order, chosen so that each failure gets the most precise code:
 *   1. quote structure, version, key type, QE vendor      → EVIDENCE_MALFORMED / PLATFORM_UNSUPPORTED
 *   2. PCK chain (inside the quote) to the Intel SGX root,
 *      ECDSA P-256/SHA-256 links, validity, CRLs           → CHAIN_INVALID / ROOT_UNTRUSTED / CERT_EXPIRED / CERT_REVOKED / REVOCATION_UNKNOWN
 *   3. QE report signed by the PCK key, QE report data =
 *      SHA-256(attestation key ‖ QE auth data), quote
 *      signed by the attestation key                        → SIGNATURE_INVALID
 *   4. collateral: TCB signing chain to the Intel root,
 *      TCB Info and QE Identity signatures and freshness     → COLLATERAL_INVALID (chain errors as in 2)
 *   5. TCB status (tcb.ts)                                  → TCB_STATUS / CHAIN_INVALID
 * Claims (report data, DEBUG, MRTD, RTMRs, …) are judged by verify.ts afterwards.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ShadowplaneError } from '../../errors.ts';
import { equalBytes, hex, isZero, shortHex } from '../bytes.ts';
import { requireAllUsed, verifyChain, type TrustAnchor } from '../chain.ts';
import type { Crl } from '../crl.ts';
import { INTEL_SGX_ROOT_CA } from '../roots/intel.ts';
import type { Evidence } from '../types.ts';
import { parseCertificate, pemToDer, type Certificate, type SignatureAlgorithm } from '../x509.ts';
import { parseQeIdentity, parseTdxTcbInfo, splitSignedJson, verifyPcsSignature, type QeIdentity, type TdxTcbInfo } from './collateral.ts';
import { SGX_EXTENSIONS_OID, readPckExtensions, type PckExtensions } from './pck.ts';
import { INTEL_QE_VENDOR_ID, parseTdxQuote, type TdxQuote } from './quote.ts';
import { evaluateTdxTcb, type TdxTcbVerdict } from './tcb.ts';

export interface TdxCryptoResult {
  readonly quote: TdxQuote;
  readonly pck: PckExtensions;
  readonly tcb: TdxTcbVerdict;
  readonly rootSha256: string;
  /** The earliest expiry among the certificates and the collateral: a cached result must not outlive it. */
  readonly notAfter: Date;
  /** `tcbEvaluationDataNumber` of the TCB Info and of the QE Identity, for the reference values' floor. */
  readonly evaluationDataNumbers: { readonly tcbInfo: number; readonly qeIdentity: number };
}

let intelAnchors: readonly TrustAnchor[] | undefined;

/** The shipped Intel SGX Root CA, parsed once. */
export function intelTrustAnchors(): readonly TrustAnchor[] {
  intelAnchors ??= [{ cert: parseCertificate(pemToDer(INTEL_SGX_ROOT_CA)[0]!, 'Intel SGX Root CA', 'SP_INTERNAL'), label: 'Intel SGX Root CA' }];
  return intelAnchors;
}

const INTEL_ALG_RULE = 'Intel PCK and TCB signing chains use ECDSA/SHA256';
const intelAlgorithm = (alg: SignatureAlgorithm): boolean => alg.kind === 'ecdsa' && alg.hash === 'sha256';
const MAX_CHAIN_CERTS = 4;

function p256Key(xy: Buffer, what: string): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: xy.subarray(0, 32).toString('base64url'), y: xy.subarray(32, 64).toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', `the ${what} is not a P-256 point`, { cause: err });
  }
}

function p1363(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

function certs(ders: readonly Buffer[], what: string): Certificate[] {
  if (ders.length === 0 || ders.length > MAX_CHAIN_CERTS) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `the ${what} must hold 1 to ${MAX_CHAIN_CERTS} certificates`);
  return ders.map((d, i) => parseCertificate(d, `${what} certificate ${i}`));
}

function fresh(what: string, issueDate: Date, nextUpdate: Date, now: Date): void {
  if (issueDate.getTime() > now.getTime() || nextUpdate.getTime() < now.getTime()) {
    throw new ShadowplaneError(
      'SP_ATTEST_COLLATERAL_INVALID',
      `the ${what} is valid from ${issueDate.toISOString()} until ${nextUpdate.toISOString()}, not at ${now.toISOString()}: fetch current collateral`,
    );
  }
}

/** Verifies the signed collateral with the TCB signing chain; returns it parsed. */
function verifyCollateral(
  evidence: Evidence,
  anchors: readonly TrustAnchor[],
  now: Date,
  crls: readonly Crl[],
  requireCrls: boolean,
): { tcbInfo: TdxTcbInfo; qeIdentity: QeIdentity; notAfter: Date } {
  const c = evidence.collateral;
  if (c?.tdxTcbInfo === undefined || c.tdxQeIdentity === undefined || c.tcbSigningChain === undefined) {
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', "TDX evidence must carry Intel's TCB Info, QE Identity and TCB signing chain");
  }
  const signing = certs(c.tcbSigningChain, 'TCB signing chain');
  const anchorShas = new Set(anchors.map((a) => a.cert.sha256));
  const chain = verifyChain({
    leaf: signing[0]!,
    labels: ['TCB signing', 'Intel root'],
    intermediates: signing.slice(1).filter((x) => !anchorShas.has(x.sha256)),
    anchors,
    now,
    maxDepth: 2,
    algorithmAllowed: intelAlgorithm,
    algorithmRule: INTEL_ALG_RULE,
    crls,
    requireCrls,
  });
  requireAllUsed(signing, chain, 'TCB signing chain');
  const key = signing[0]!.publicKey;
  const tcbSigned = splitSignedJson(c.tdxTcbInfo, 'tcbInfo', 'TCB Info');
  verifyPcsSignature(tcbSigned.signed, tcbSigned.signature, key, 'TCB Info');
  const qeSigned = splitSignedJson(c.tdxQeIdentity, 'enclaveIdentity', 'QE Identity');
  verifyPcsSignature(qeSigned.signed, qeSigned.signature, key, 'QE Identity');
  const tcbInfo = parseTdxTcbInfo(tcbSigned.signed);
  const qeIdentity = parseQeIdentity(qeSigned.signed);
  fresh('TCB Info', tcbInfo.issueDate, tcbInfo.nextUpdate, now);
  fresh('QE Identity', qeIdentity.issueDate, qeIdentity.nextUpdate, now);
  const notAfter = Math.min(tcbInfo.nextUpdate.getTime(), qeIdentity.nextUpdate.getTime(), chain.notAfter.getTime());
  return { tcbInfo, qeIdentity, notAfter: new Date(notAfter) };
}

/**
 * Steps 1–5 above. `anchors` defaults to the shipped Intel SGX Root CA; only tests that
 * build their own Intel-shaped chains pass others.
 */
export function verifyTdxCrypto(
  evidence: Evidence,
  opts: { readonly now: Date; readonly crls: readonly Crl[]; readonly requireCrls?: boolean; readonly anchors?: readonly TrustAnchor[] },
): TdxCryptoResult {
  const anchors = opts.anchors ?? intelTrustAnchors();
  const quote = parseTdxQuote(evidence.report);
  if (hex(quote.qeVendorId) !== INTEL_QE_VENDOR_ID) {
    throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `the quoting enclave vendor ${shortHex(hex(quote.qeVendorId))} is not Intel`);
  }

  const pckChain = certs(pemToDer(quote.pckChainPem), 'PCK chain');
  const anchorShas = new Set(anchors.map((a) => a.cert.sha256));
  const pckLeaf = pckChain[0]!;
  const chain = verifyChain({
    leaf: pckLeaf,
    labels: ['PCK', 'PCK CA', 'Intel root'],
    intermediates: pckChain.slice(1).filter((x) => !anchorShas.has(x.sha256)),
    anchors,
    now: opts.now,
    maxDepth: 3,
    algorithmAllowed: intelAlgorithm,
    algorithmRule: INTEL_ALG_RULE,
    crls: opts.crls,
    requireCrls: opts.requireCrls === true,
    leafExtensions: [SGX_EXTENSIONS_OID],
  });
  requireAllUsed(pckChain, chain, 'PCK chain');
  if (pckLeaf.publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', 'the PCK key must be ECDSA P-256');
  }

  if (!p1363(pckLeaf.publicKey, quote.qeReport.raw, quote.qeReportSignature)) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', 'the QE report is not signed by the PCK key');
  }
  const binding = createHash('sha256').update(quote.attestationKey).update(quote.qeAuthData).digest();
  if (!equalBytes(quote.qeReport.reportData.subarray(0, 32), binding) || !isZero(quote.qeReport.reportData.subarray(32))) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', 'the QE report does not vouch for the attestation key that signed the quote');
  }
  if (!p1363(p256Key(quote.attestationKey, 'attestation key'), quote.signed, quote.signature)) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', 'the quote is not signed by the attestation key the QE vouches for');
  }

  const collateral = verifyCollateral(evidence, anchors, opts.now, opts.crls, opts.requireCrls === true);
  const pck = readPckExtensions(pckLeaf);
  const tcb = evaluateTdxTcb({ tcbInfo: collateral.tcbInfo, qeIdentity: collateral.qeIdentity, pck, body: quote.body, qeReport: quote.qeReport });
  const notAfter = new Date(Math.min(collateral.notAfter.getTime(), chain.notAfter.getTime()));
  const evaluationDataNumbers = { tcbInfo: collateral.tcbInfo.tcbEvaluationDataNumber, qeIdentity: collateral.qeIdentity.tcbEvaluationDataNumber };
  return { quote, pck, tcb, rootSha256: chain.anchor.cert.sha256, notAfter, evaluationDataNumbers };
}
