/**
 * shadowplane attestation: evidence issuers and verifiers per platform, the binding of
 * report data, reference values and RA-TLS certificates. See docs/attestation.md.
 *
 * Typical use:
 * - proxy attestation endpoint: `issuer.issue(attestReportData({ spkiDer, manifestDigest, nonce }))`,
 *   then `encodeEvidence(evidence)` into the JSON answer;
 * - `shadowplane verify`: `verifyEvidence(decodeEvidence(json), { reportData: attestReportData(...), reference })`;
 * - proxy ↔ agent channel: `createAttestedCredentials({ issuer, claims })` for the local
 *   side, `verifyAttestedCertificate(peerCertDer, { reference, cache })` for the peer.
 */
export type {
  Collateral,
  Evidence,
  EvidenceIssuer,
  Platform,
  SnpDetails,
  SnpPolicy,
  SnpProduct,
  SnpTcb,
  TdxDetails,
  VerifiedEvidence,
  VerifyOptions,
} from './types.ts';
export { PLATFORMS, SNP_PRODUCTS } from './types.ts';
export { EVIDENCE_LIMITS, checkEvidence, decodeEvidence, encodeEvidence, parseEvidenceJson, type CollateralJson, type EvidenceJson } from './evidence.ts';
export { CLAIMS_LIMITS, REPORT_DATA_LENGTH, attestReportData, canonicalClaimsJson, raTlsReportData } from './binding.ts';
export {
  MAX_REFERENCE_VALUES_BYTES,
  TDX_TCB_STATUSES,
  loadReferenceValues,
  parseReferenceValues,
  referenceValuesWarnings,
  unpinnedIdentityFields,
  type ReferenceEntry,
  type ReferenceValues,
  type SnpPolicyExpectations,
  type SnpReferenceEntry,
  type TdxReferenceEntry,
  type TdxTcbStatus,
} from './reference-values.ts';
export { verifyEvidence, verifyEvidenceSync } from './verify.ts';
export {
  MAX_CRLS,
  MAX_CRL_FILES,
  NO_REVOCATION_POLICY,
  currentRevocation,
  loadRevocationPolicy,
  revocationPolicy,
  revocationWarnings,
  watchRevocationFiles,
  type RevocationPolicy,
  type RevocationSetting,
  type RevocationSource,
} from './revocation.ts';
export {
  SIMULATED_DEFAULT_MEASUREMENT,
  SIMULATED_DEFAULT_POLICY,
  SIMULATED_DEFAULT_TCB,
  createSimulatedChain,
  createSimulatedIssuer,
  signSimulatedReport,
  simulateInit,
  type SimulateInitOptions,
  type SimulateInitResult,
  type SimulatedChain,
  type SimulatedChainOptions,
  type SimulatedIssuerOptions,
} from './simulated.ts';
export {
  MAX_RA_TLS_CERT_BYTES,
  RA_TLS_EXTENSION_OID,
  MAX_RA_TLS_VALIDITY_MS,
  SHADOWPLANE_OID_ARC,
  createAttestedCredentials,
  verifyAttestedCertificate,
  verifyAttestedCertificateSync,
  type AttestedCertificateResult,
  type AttestedCredentials,
  type AttestedCredentialsOptions,
  type VerifyAttestedCertificateOptions,
} from './ra-tls.ts';
export { VerificationCache, createVerificationCache, type VerificationCacheOptions } from './cache.ts';
export { parseSnpReport, type SnpReport } from './snp/report.ts';
export { TSM_REPORT_ROOT, createTsmIssuer, detectPlatform, nodeTsmFs, type HardwarePlatform, type TsmFs, type TsmIssuerOptions } from './tsm.ts';
export { createIssuer, type IssuerFactoryOptions, type TeeChoice } from './issuer.ts';
export { buildCertTable, parseCertTable, CERT_GUID, type CertKind } from './snp/cert-table.ts';
export { parseTdxQuote, type TdxQuote, type TdxBody } from './tdx/quote.ts';
export { AMD_KDS, fetchAmdCrl, fetchVcek, vcekUrl, withVcekFromKds, type KdsOptions } from './snp/kds.ts';
export { INTEL_PCS, INTEL_ROOT_CRL, fetchTdxCollateral, tdxCollateralFor, type PcsOptions } from './tdx/pcs.ts';
export type { FetchLike } from './http.ts';
