/**
 * The SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI specification, table "ATTESTATION_REPORT"),
 * versions 2 to 5, as pure bytes-in / values-out code. Little-endian throughout.
 *
 * Invariant: `parseSnpReport` only reads at fixed offsets of a buffer whose length it has
 * checked to be exactly 0x4A0; it interprets, it does not judge. Judging (signature,
 * policy, TCB) is snp/verify.ts.
 */
import { ShadowplaneError } from '../../errors.ts';
import { hex, u64Hex } from '../bytes.ts';
import type { SnpPolicy, SnpProduct, SnpTcb } from '../types.ts';

export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000..0x29F. */
export const SNP_SIGNED_LENGTH = 0x2a0;
export const SNP_MIN_VERSION = 2;
export const SNP_MAX_VERSION = 5;
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only one defined. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;

export const SNP_OFFSET = {
  version: 0x000,
  guestSvn: 0x004,
  policy: 0x008,
  familyId: 0x010,
  imageId: 0x020,
  vmpl: 0x030,
  signatureAlgo: 0x034,
  currentTcb: 0x038,
  platformInfo: 0x040,
  flags: 0x048,
  reportData: 0x050,
  measurement: 0x090,
  hostData: 0x0c0,
  idKeyDigest: 0x0e0,
  authorKeyDigest: 0x110,
  reportId: 0x140,
  reportIdMa: 0x160,
  reportedTcb: 0x180,
  cpuidFamily: 0x188,
  cpuidModel: 0x189,
  cpuidStepping: 0x18a,
  chipId: 0x1a0,
  committedTcb: 0x1e0,
  currentBuild: 0x1e8,
  committedBuild: 0x1ec,
  launchTcb: 0x1f0,
  launchMitVector: 0x1f8,
  currentMitVector: 0x200,
  signatureR: 0x2a0,
  signatureS: 0x2e8,
} as const;

/** Policy bits (ABI "GUEST_POLICY"). */
export const POLICY_BIT = { smt: 16, reserved1: 17, migrationAgent: 18, debug: 19, singleSocket: 20 } as const;

export interface SnpReport {
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: bigint;
  readonly familyId: Buffer;
  readonly imageId: Buffer;
  readonly vmpl: number;
  readonly signatureAlgo: number;
  readonly currentTcb: Buffer;
  readonly platformInfo: bigint;
  readonly flags: number;
  readonly reportData: Buffer;
  readonly measurement: Buffer;
  readonly hostData: Buffer;
  readonly idKeyDigest: Buffer;
  readonly authorKeyDigest: Buffer;
  readonly reportId: Buffer;
  readonly reportIdMa: Buffer;
  readonly reportedTcb: Buffer;
  readonly cpuid: { readonly family: number; readonly model: number; readonly stepping: number } | undefined;
  readonly chipId: Buffer;
  readonly committedTcb: Buffer;
  readonly currentVersion: { readonly build: number; readonly minor: number; readonly major: number };
  readonly committedVersion: { readonly build: number; readonly minor: number; readonly major: number };
  readonly launchTcb: Buffer;
  readonly launchMitVector: bigint | undefined;
  readonly currentMitVector: bigint | undefined;
  /** Which key signed: 0 VCEK, 1 VLEK, 7 none (flags bits 2..4). */
  readonly signingKey: number;
  readonly maskChipId: boolean;
  readonly authorKeyEnabled: boolean;
  /** The signed bytes 0x000..0x29F. */
  readonly body: Buffer;
  /** R‖S big-endian, 48 bytes each: what node:crypto verifies as `ieee-p1363`. */
  readonly signature: Buffer;
  /** True when the unused high bytes of R and S and the reserved tail are all zero. */
  readonly signaturePaddingClean: boolean;
}

/** Fails unless `report` is exactly one SEV-SNP report; reads every field, judges none. */
export function parseSnpReport(report: Buffer): SnpReport {
  if (report.length !== SNP_REPORT_SIZE) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `an SEV-SNP report is ${SNP_REPORT_SIZE} bytes, this one is ${report.length}`);
  }
  const b = Buffer.from(report); // snapshot: nothing below can change under us
  const O = SNP_OFFSET;
  const version = b.readUInt32LE(O.version);
  const flags = b.readUInt32LE(O.flags);
  const le48 = (off: number): Buffer => Buffer.from(b.subarray(off, off + 48)).reverse();
  let clean = true;
  for (let i = O.signatureR + 48; i < O.signatureS; i++) if (b[i] !== 0) clean = false;
  for (let i = O.signatureS + 48; i < SNP_REPORT_SIZE; i++) if (b[i] !== 0) clean = false;
  return {
    version,
    guestSvn: b.readUInt32LE(O.guestSvn),
    policy: b.readBigUInt64LE(O.policy),
    familyId: b.subarray(O.familyId, O.familyId + 16),
    imageId: b.subarray(O.imageId, O.imageId + 16),
    vmpl: b.readUInt32LE(O.vmpl),
    signatureAlgo: b.readUInt32LE(O.signatureAlgo),
    currentTcb: b.subarray(O.currentTcb, O.currentTcb + 8),
    platformInfo: b.readBigUInt64LE(O.platformInfo),
    flags,
    reportData: b.subarray(O.reportData, O.reportData + 64),
    measurement: b.subarray(O.measurement, O.measurement + 48),
    hostData: b.subarray(O.hostData, O.hostData + 32),
    idKeyDigest: b.subarray(O.idKeyDigest, O.idKeyDigest + 48),
    authorKeyDigest: b.subarray(O.authorKeyDigest, O.authorKeyDigest + 48),
    reportId: b.subarray(O.reportId, O.reportId + 32),
    reportIdMa: b.subarray(O.reportIdMa, O.reportIdMa + 32),
    reportedTcb: b.subarray(O.reportedTcb, O.reportedTcb + 8),
    cpuid: version >= 3 ? { family: b[O.cpuidFamily]!, model: b[O.cpuidModel]!, stepping: b[O.cpuidStepping]! } : undefined,
    chipId: b.subarray(O.chipId, O.chipId + 64),
    committedTcb: b.subarray(O.committedTcb, O.committedTcb + 8),
    currentVersion: { build: b[O.currentBuild]!, minor: b[O.currentBuild + 1]!, major: b[O.currentBuild + 2]! },
    committedVersion: { build: b[O.committedBuild]!, minor: b[O.committedBuild + 1]!, major: b[O.committedBuild + 2]! },
    launchTcb: b.subarray(O.launchTcb, O.launchTcb + 8),
    launchMitVector: version >= 5 ? b.readBigUInt64LE(O.launchMitVector) : undefined,
    currentMitVector: version >= 5 ? b.readBigUInt64LE(O.currentMitVector) : undefined,
    signingKey: (flags >> 2) & 7,
    maskChipId: (flags & 2) !== 0,
    authorKeyEnabled: (flags & 1) !== 0,
    body: b.subarray(0, SNP_SIGNED_LENGTH),
    signature: Buffer.concat([le48(O.signatureR), le48(O.signatureS)]),
    signaturePaddingClean: clean,
  };
}

/**
 * TCB_VERSION byte layout per product: Milan and Genoa `bl|tee|rsvd×4|snp|ucode`, Turin
 * `fmc|bl|tee|rsvd×3|snp|ucode` (AMD KDS interface specification).
 */
export function decodeTcb(tcb: Buffer, product: SnpProduct): SnpTcb {
  if (product === 'Turin') return { fmc: tcb[0]!, bootloader: tcb[1]!, tee: tcb[2]!, snp: tcb[6]!, microcode: tcb[7]! };
  return { bootloader: tcb[0]!, tee: tcb[1]!, snp: tcb[6]!, microcode: tcb[7]! };
}

/** The inverse of `decodeTcb`. */
export function encodeTcb(tcb: SnpTcb, product: SnpProduct): Buffer {
  const b = Buffer.alloc(8);
  if (product === 'Turin') {
    b[0] = tcb.fmc ?? 0;
    b[1] = tcb.bootloader;
    b[2] = tcb.tee;
  } else {
    b[0] = tcb.bootloader;
    b[1] = tcb.tee;
  }
  b[6] = tcb.snp;
  b[7] = tcb.microcode;
  return b;
}

/** Decodes GUEST_POLICY. */
export function decodePolicy(policy: bigint): SnpPolicy {
  const bit = (n: number): boolean => ((policy >> BigInt(n)) & 1n) === 1n;
  return {
    abiMinor: Number(policy & 0xffn),
    abiMajor: Number((policy >> 8n) & 0xffn),
    smt: bit(POLICY_BIT.smt),
    migrationAgent: bit(POLICY_BIT.migrationAgent),
    debug: bit(POLICY_BIT.debug),
    singleSocket: bit(POLICY_BIT.singleSocket),
    raw: `0x${policy.toString(16).padStart(16, '0')}`,
  };
}

/** Hex renderings of the identity fields, for results and messages. */
export function reportHex(r: SnpReport): { measurement: string; hostData: string; reportData: string; chipId: string; platformInfo: string } {
  const platformInfo = Buffer.alloc(8);
  platformInfo.writeBigUInt64LE(r.platformInfo);
  return {
    measurement: hex(r.measurement),
    hostData: hex(r.hostData),
    reportData: hex(r.reportData),
    chipId: hex(r.chipId),
    platformInfo: u64Hex(platformInfo, 0),
  };
}
