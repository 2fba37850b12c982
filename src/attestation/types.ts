/**
 * The shapes every attestation backend shares: evidence as it travels, issuers that
 * produce it inside a TEE, and what a successful verification returns.
 */
import type { Logger } from '../log.ts';
import type { ReferenceValues } from './reference-values.ts';
import type { RevocationPolicy } from './revocation.ts';

/**
 * Where evidence comes from. `simulated` is shaped exactly like `sev-snp` but signed by a
 * locally generated chain; verifiers refuse it unless explicitly allowed.
 */
export type Platform = 'sev-snp' | 'tdx' | 'simulated';

export const PLATFORMS: readonly Platform[] = ['sev-snp', 'tdx', 'simulated'];

/** AMD product lines whose roots shadowplane ships. */
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/**
 * Collateral that some platforms need beyond the report and its certificates. Everything
 * here is signed by the vendor and checked, so it may travel with untrusted evidence.
 */
export interface Collateral {
  /**
   * DER CRLs, evaluated against the chain when present (AMD ARK/ASK CRL; Intel PCK and root
   * CRLs). Chosen by the prover, so they can only add revocations: the verifier's own CRLs
   * and its requirement come from `VerifyOptions.revocation`.
   */
  readonly crls?: readonly Buffer[];
  /** TDX: the Intel PCS TCB Info response body (JSON text, signed). */
  readonly tdxTcbInfo?: string;
  /** TDX: the Intel PCS QE Identity response body (JSON text, signed). */
  readonly tdxQeIdentity?: string;
  /** TDX: DER certificates of the TCB signing chain, leaf first (PCS `TCB-Info-Issuer-Chain`). */
  readonly tcbSigningChain?: readonly Buffer[];
}

/**
 * Attestation evidence as produced by an issuer and carried to a verifier.
 *
 * - `report`: SEV-SNP / simulated: the 1184-byte ATTESTATION_REPORT; TDX: the quote.
 * - `certificates`: DER, leaf first: VCEK or VLEK, then ASK or ASVK, then ARK. For
 *   `sev-snp` the ASK/ARK may be omitted (the shipped roots complete the chain); for
 *   `simulated` the whole chain must be present (its ARK is pinned by fingerprint).
 *   For TDX the PCK chain is inside the quote and this list is normally empty.
 */
export interface Evidence {
  readonly platform: Platform;
  readonly report: Buffer;
  readonly certificates: readonly Buffer[];
  readonly collateral?: Collateral;
}

/** Produces fresh evidence inside a TEE (or the simulator). */
export interface EvidenceIssuer {
  readonly platform: Platform;
  /** `reportData` must be exactly 64 bytes; it is placed verbatim into the report. */
  issue(reportData: Buffer): Promise<Evidence>;
}

/** SEV-SNP TCB_VERSION components. `fmc` exists on Turin only. */
export interface SnpTcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  readonly fmc?: number;
}

/** SEV-SNP guest policy, decoded. */
export interface SnpPolicy {
  readonly abiMajor: number;
  readonly abiMinor: number;
  readonly smt: boolean;
  readonly migrationAgent: boolean;
  readonly debug: boolean;
  readonly singleSocket: boolean;
  /** The raw 64-bit value, `0x` + 16 hex digits. */
  readonly raw: string;
}

/** What an SEV-SNP (or simulated) verification established. */
export interface SnpDetails {
  readonly product: SnpProduct;
  readonly signingKey: 'vcek' | 'vlek';
  readonly vmpl: number;
  readonly guestSvn: number;
  readonly policy: SnpPolicy;
  readonly reportedTcb: SnpTcb;
  readonly currentTcb: SnpTcb;
  readonly committedTcb: SnpTcb;
  readonly launchTcb: SnpTcb;
  readonly platformInfo: string;
  readonly familyId: string;
  readonly imageId: string;
  readonly idKeyDigest: string;
  readonly authorKeyDigest: string;
  readonly reportId: string;
  /** The 64-byte CHIP_ID field of the report (zero when masked). */
  readonly reportChipId: string;
  /** CPUID family/model/stepping (report version 3 and later). */
  readonly cpuid?: { readonly family: number; readonly model: number; readonly stepping: number };
  /** Mitigation vectors (report version 5 and later), `0x` + 16 hex digits. */
  readonly launchMitVector?: string;
  readonly currentMitVector?: string;
  /** SHA-256 fingerprint of the root the chain ended at. */
  readonly rootSha256: string;
}

/** What a TDX verification established. */
export interface TdxDetails {
  readonly quoteVersion: number;
  readonly teeTcbSvn: string;
  readonly mrSeam: string;
  readonly mrSignerSeam: string;
  readonly seamAttributes: string;
  readonly tdAttributes: string;
  readonly xfam: string;
  readonly mrtd: string;
  readonly mrConfigId: string;
  readonly mrOwner: string;
  readonly mrOwnerConfig: string;
  readonly rtmr: readonly [string, string, string, string];
  readonly mrServiceTd?: string;
  readonly teeTcbSvn2?: string;
  readonly tcbStatus: string;
  readonly qeTcbStatus: string;
  readonly advisoryIds: readonly string[];
  readonly fmspc: string;
}

/**
 * The result of a successful verification. Hex strings are lowercase.
 *
 * `measurement` is the SNP MEASUREMENT or the TDX MRTD; `hostData` the SNP HOST_DATA or
 * the TDX MRCONFIGID; `chipId` the hardware identity certified by the vendor (SNP VCEK
 * hwID; absent for VLEK-signed reports and for TDX).
 */
export interface VerifiedEvidence {
  readonly platform: Platform;
  readonly simulated: boolean;
  readonly reportVersion: number;
  readonly measurement: string;
  readonly hostData: string | undefined;
  readonly chipId: string | undefined;
  readonly reportData: string;
  /** SNP reported TCB, or for TDX `{ status }` summarised in `tdx`. */
  readonly tcb: SnpTcb | { readonly status: string };
  /** SNP policy raw value or TDX TD attributes, `0x` + 16 hex digits. */
  readonly policy: string;
  /** The name of the reference-values entry that accepted the evidence. */
  readonly referenceName: string;
  /** ISO time: the earliest notAfter of the certificates vouching for it. Do not cache past it. */
  readonly notAfter: string;
  readonly snp?: SnpDetails;
  readonly tdx?: TdxDetails;
}

/** Options for `verifyEvidence`. */
export interface VerifyOptions {
  /** The exact 64 bytes the report must carry (see binding.ts). */
  readonly reportData: Buffer;
  readonly reference: ReferenceValues;
  /** Accept `simulated` evidence (still only against the pinned simulated ARK). Default false. */
  readonly allowSimulated?: boolean;
  /** The verification time for certificate validity. Default: now. */
  readonly now?: Date;
  /**
   * The verifier's own CRLs, applied in addition to any in the evidence collateral, and
   * whether a current CRL from every CRL issuer on the chain is required (revocation.ts).
   * Default NO_REVOCATION_POLICY: only CRLs the evidence carries are applied.
   */
  readonly revocation?: RevocationPolicy;
  /** Where to say loudly that simulated evidence was accepted. */
  readonly logger?: Logger;
}
