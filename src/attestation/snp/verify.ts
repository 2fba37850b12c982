/**
 * Cryptographic verification of SEV-SNP reports, shared by real `sev-snp` evidence and
 * `simulated` evidence: the only difference between the two is the set of trust anchors.
 *
 * Order, chosen so that each failure gets the most precise code:
 *   1. size, certificates parse            → SP_ATTEST_EVIDENCE_MALFORMED
 *   2. chain to a trusted ARK, validity,
 *      RSASSA-PSS/SHA-384 on every link, CRLs → CHAIN_INVALID / ROOT_UNTRUSTED / CERT_EXPIRED / CERT_REVOKED / REVOCATION_UNKNOWN
 *   3. report signature by the VCEK/VLEK   → SP_ATTEST_SIGNATURE_INVALID (any flipped byte lands here)
 *   4. version, signer type, the VCEK TCB
 *      and hwID extensions vs the report    → PLATFORM_UNSUPPORTED / CHAIN_INVALID / TCB_MISMATCH / CHIP_ID_MISMATCH
 * Claims (report data, policy, measurement, …) are judged by verify.ts afterwards.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { ShadowplaneError } from '../../errors.ts';
import { equalBytes, hex, isZero, shortHex } from '../bytes.ts';
import { requireAllUsed, verifyChain, type TrustAnchor } from '../chain.ts';
import type { Crl } from '../crl.ts';
import { parseCertificate, pemToDer, type Certificate, type SignatureAlgorithm } from '../x509.ts';
import { AMD_ROOTS } from '../roots/amd.ts';
import { SNP_PRODUCTS, type Evidence, type SnpProduct, type SnpTcb } from '../types.ts';
import { ENDORSEMENT_EXTENSIONS_READ, readEndorsementExtensions } from './endorsement.ts';
import { SNP_MAX_VERSION, SNP_MIN_VERSION, SNP_SIG_ALGO_ECDSA_P384_SHA384, decodeTcb, parseSnpReport, type SnpReport } from './report.ts';

export interface SnpCryptoResult {
  readonly report: SnpReport;
  readonly product: SnpProduct;
  readonly signingKey: 'vcek' | 'vlek';
  readonly reportedTcb: SnpTcb;
  /** VCEK hwID (64 bytes; 8 on Turin); undefined for VLEK. */
  readonly hwId: Buffer | undefined;
  readonly rootSha256: string;
  /** The earliest notAfter along the chain (and nextUpdate of the CRLs applied): a cached result must not outlive it. */
  readonly chainNotAfter: Date;
}

interface AmdAnchorSet {
  readonly anchors: readonly TrustAnchor[];
  readonly intermediates: readonly Certificate[];
  readonly productByRoot: ReadonlyMap<string, SnpProduct>;
}

let amdAnchors: AmdAnchorSet | undefined;

/** The shipped AMD ARKs (anchors) and ASK/ASVK (intermediates), parsed once. */
export function amdTrustAnchors(): AmdAnchorSet {
  if (amdAnchors !== undefined) return amdAnchors;
  const anchors: TrustAnchor[] = [];
  const intermediates: Certificate[] = [];
  const productByRoot = new Map<string, SnpProduct>();
  for (const product of SNP_PRODUCTS) {
    const roots = AMD_ROOTS[product];
    const ark = parseCertificate(pemToDer(roots.ark)[0]!, `AMD ARK-${product}`, 'SP_INTERNAL');
    anchors.push({ cert: ark, label: `AMD ARK-${product}` });
    productByRoot.set(ark.sha256, product);
    intermediates.push(parseCertificate(pemToDer(roots.ask)[0]!, `AMD ASK-${product}`, 'SP_INTERNAL'));
    intermediates.push(parseCertificate(pemToDer(roots.asvk)[0]!, `AMD ASVK-${product}`, 'SP_INTERNAL'));
  }
  amdAnchors = { anchors, intermediates, productByRoot };
  return amdAnchors;
}

const AMD_ALG_RULE = 'AMD endorsement chains must use RSASSA-PSS/SHA-384 with a 48-byte salt';
const amdAlgorithm = (alg: SignatureAlgorithm): boolean => alg.kind === 'rsa-pss' && alg.hash === 'sha384' && alg.saltLength === 48;

function productFromName(name: string | undefined): SnpProduct | undefined {
  return SNP_PRODUCTS.find((p) => name?.startsWith(p) === true);
}

function describeTcb(t: SnpTcb): string {
  return `${t.fmc !== undefined ? `fmc=${t.fmc} ` : ''}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;
}

/**
 * Steps 1–4 above. `simulatedRoots` (SHA-256 fingerprints) are the only anchors used for
 * `simulated` evidence; the shipped AMD roots are the only anchors for `sev-snp`.
 */
export function verifySnpCrypto(
  evidence: Evidence,
  opts: { readonly now: Date; readonly crls: readonly Crl[]; readonly requireCrls?: boolean; readonly simulatedRoots: readonly string[] },
): SnpCryptoResult {
  const simulated = evidence.platform === 'simulated';
  const report = parseSnpReport(evidence.report);
  if (evidence.certificates.length === 0) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', 'the evidence carries no VCEK or VLEK certificate');
  }
  const certs = evidence.certificates.map((der, i) => parseCertificate(der, i === 0 ? 'endorsement key certificate' : `evidence certificate ${i}`));
  const leaf = certs[0]!;

  let anchors: readonly TrustAnchor[];
  let intermediates: Certificate[];
  if (simulated) {
    const pins = new Set(opts.simulatedRoots);
    anchors = certs.filter((c) => pins.has(c.sha256)).map((cert) => ({ cert, label: 'pinned simulated ARK' }));
    intermediates = certs.slice(1).filter((c) => !pins.has(c.sha256));
  } else {
    const amd = amdTrustAnchors();
    anchors = amd.anchors;
    // Evidence-supplied ASK/ARK copies are redundant with the shipped ones; only keep
    // certificates we do not already hold, so a root in the evidence is never an anchor.
    const known = new Set([...amd.anchors.map((a) => a.cert.sha256), ...amd.intermediates.map((c) => c.sha256)]);
    intermediates = [...amd.intermediates, ...certs.slice(1).filter((c) => !known.has(c.sha256))];
  }

  const leafLabel = /VLEK/.test(leaf.subjectName) ? 'VLEK' : 'VCEK';
  const chain = verifyChain({
    leaf,
    labels: [leafLabel, leafLabel === 'VLEK' ? 'ASVK' : 'ASK', 'ARK'],
    intermediates,
    anchors,
    now: opts.now,
    maxDepth: 3,
    algorithmAllowed: amdAlgorithm,
    algorithmRule: AMD_ALG_RULE,
    crls: opts.crls,
    requireCrls: opts.requireCrls === true,
    leafExtensions: ENDORSEMENT_EXTENSIONS_READ,
  });
  requireAllUsed(certs, chain, 'evidence');
  if (chain.path.length !== 3) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `an AMD endorsement chain has three certificates (key, ASK/ASVK, ARK), this one has ${chain.path.length}`);
  }

  const curve = leaf.publicKey.asymmetricKeyDetails?.namedCurve;
  if (leaf.publicKey.asymmetricKeyType !== 'ec' || curve !== 'secp384r1') {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${leafLabel} key must be ECDSA P-384`);
  }
  const signatureOk = (() => {
    try {
      return cryptoVerify('sha384', report.body, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, report.signature);
    } catch {
      return false;
    }
  })();
  if (!signatureOk) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', `the report is not signed by the ${leafLabel} of the chain (sha256 ${shortHex(leaf.sha256)})`);
  }
  if (!report.signaturePaddingClean) {
    throw new ShadowplaneError('SP_ATTEST_SIGNATURE_INVALID', 'the unused part of the report signature field is not zero');
  }
  if (report.signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `signature algorithm ${report.signatureAlgo} is not ECDSA P-384/SHA-384 (1)`);
  }
  if (report.version < SNP_MIN_VERSION || report.version > SNP_MAX_VERSION) {
    throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `SEV-SNP report version ${report.version} is not supported (${SNP_MIN_VERSION} to ${SNP_MAX_VERSION} are)`);
  }

  const root = chain.path[2]!;
  const product = simulated ? productFromName(readEndorsementExtensions(leaf, 'Milan').productName) : amdTrustAnchors().productByRoot.get(root.sha256);
  if (product === undefined) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${leafLabel} names no known product line (${SNP_PRODUCTS.join(', ')})`);
  }
  const ext = readEndorsementExtensions(leaf, product);
  if (ext.productName !== undefined && !ext.productName.startsWith(product)) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${leafLabel} is for product '${ext.productName}' but chains to the ${product} root`);
  }

  const signingKey = leafLabel === 'VLEK' ? 'vlek' : 'vcek';
  const reportSigner = report.signingKey === 0 ? 'vcek' : report.signingKey === 1 ? 'vlek' : undefined;
  if (reportSigner !== signingKey) {
    throw new ShadowplaneError(
      'SP_ATTEST_CHAIN_INVALID',
      `the report names ${reportSigner === undefined ? `signing key ${report.signingKey}` : `the ${reportSigner.toUpperCase()}`} as its signer but the certificate is a ${leafLabel}`,
    );
  }

  const reportedTcb = decodeTcb(report.reportedTcb, product);
  if (describeTcb(reportedTcb) !== describeTcb(ext.tcb)) {
    throw new ShadowplaneError('SP_ATTEST_TCB_MISMATCH', `the ${leafLabel} was issued for TCB ${describeTcb(ext.tcb)} but the report claims ${describeTcb(reportedTcb)}`);
  }

  let hwId: Buffer | undefined;
  if (signingKey === 'vcek') {
    hwId = ext.hwId;
    const expectedLength = product === 'Turin' ? 8 : 64;
    if (hwId === undefined || hwId.length !== expectedLength) {
      throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the VCEK lacks a ${expectedLength}-byte hardware ID extension`);
    }
    const reported = report.chipId.subarray(0, expectedLength);
    if (!(report.maskChipId && isZero(report.chipId)) && !equalBytes(reported, hwId)) {
      throw new ShadowplaneError('SP_ATTEST_CHIP_ID_MISMATCH', `the report's chip ID ${shortHex(hex(reported))} is not the VCEK's hardware ID ${shortHex(hex(hwId))}`);
    }
  }

  return { report, product, signingKey, reportedTcb, hwId, rootSha256: root.sha256, chainNotAfter: chain.notAfter };
}
