/**
 * The AMD extensions of VCEK and VLEK certificates (arc 1.3.6.1.4.1.3704.1, AMD "Versioned
 * Chip Endorsement Key" specification): struct version, product name, the TCB security
 * patch levels the key was derived for, the hardware ID (VCEK) and the CSP ID (VLEK).
 *
 * The SPL values are DER INTEGERs inside extnValue; the product name and CSP ID are
 * IA5Strings; the hardware ID is the raw bytes (64 bytes, 8 on Turin).
 */
import { ShadowplaneError } from '../../errors.ts';
import { TAG, decodeSmallInt, expectTag, ia5, readOnly, uint } from '../der.ts';
import { printable, type Certificate } from '../x509.ts';
import type { ExtensionSpec } from '../x509-build.ts';
import type { SnpProduct, SnpTcb } from '../types.ts';

const ARC = '1.3.6.1.4.1.3704.1';
export const AMD_EXT = {
  structVersion: `${ARC}.1`,
  productName: `${ARC}.2`,
  blSpl: `${ARC}.3.1`,
  teeSpl: `${ARC}.3.2`,
  snpSpl: `${ARC}.3.3`,
  ucodeSpl: `${ARC}.3.8`,
  fmcSpl: `${ARC}.3.9`,
  hwId: `${ARC}.4`,
  cspId: `${ARC}.5`,
} as const;

/** The AMD extensions `readEndorsementExtensions` reads and acts on (the struct version is not read). */
export const ENDORSEMENT_EXTENSIONS_READ: readonly string[] = [
  AMD_EXT.productName,
  AMD_EXT.blSpl,
  AMD_EXT.teeSpl,
  AMD_EXT.snpSpl,
  AMD_EXT.ucodeSpl,
  AMD_EXT.fmcSpl,
  AMD_EXT.hwId,
  AMD_EXT.cspId,
];

export interface EndorsementExtensions {
  readonly productName: string | undefined;
  readonly tcb: SnpTcb;
  readonly hwId: Buffer | undefined;
  readonly cspId: string | undefined;
}

function spl(cert: Certificate, extOid: string, name: string, required: boolean): number | undefined {
  const ext = cert.extensions.get(extOid);
  if (ext === undefined) {
    if (!required) return undefined;
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${cert.subjectName || 'endorsement key'} certificate lacks the ${name} SPL extension`);
  }
  const value = decodeSmallInt(readOnly(ext.value, `${name} SPL extension`), `${name} SPL extension`);
  if (value > 255) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${name} SPL extension is larger than a byte`);
  return value;
}

/** Reads the AMD extensions; the four Milan SPLs are required, fmc only on Turin. */
export function readEndorsementExtensions(cert: Certificate, product: SnpProduct): EndorsementExtensions {
  const nameExt = cert.extensions.get(AMD_EXT.productName);
  const productName = nameExt === undefined ? undefined : printable(expectTag(readOnly(nameExt.value, 'product name extension'), TAG.IA5_STRING, 'product name extension').content.toString('latin1'));
  const cspExt = cert.extensions.get(AMD_EXT.cspId);
  const cspId = cspExt === undefined ? undefined : printable(readOnly(cspExt.value, 'CSP ID extension').content.toString('latin1'));
  const fmc = spl(cert, AMD_EXT.fmcSpl, 'FMC', product === 'Turin');
  const tcb: SnpTcb = {
    bootloader: spl(cert, AMD_EXT.blSpl, 'bootloader', true)!,
    tee: spl(cert, AMD_EXT.teeSpl, 'TEE', true)!,
    snp: spl(cert, AMD_EXT.snpSpl, 'SNP', true)!,
    microcode: spl(cert, AMD_EXT.ucodeSpl, 'microcode', true)!,
    ...(product === 'Turin' ? { fmc: fmc! } : {}),
  };
  return { productName, tcb, hwId: cert.extensions.get(AMD_EXT.hwId)?.value, cspId };
}

/** The extensions a simulated VCEK carries, encoded exactly like AMD's. */
export function endorsementExtensionSpecs(productName: string, tcb: SnpTcb, hwId: Buffer, product: SnpProduct): ExtensionSpec[] {
  const splExt = (o: string, v: number): ExtensionSpec => ({ oid: o, value: uint(v) });
  return [
    { oid: AMD_EXT.structVersion, value: uint(1) },
    { oid: AMD_EXT.productName, value: ia5(productName) },
    splExt(AMD_EXT.blSpl, tcb.bootloader),
    splExt(AMD_EXT.teeSpl, tcb.tee),
    splExt(AMD_EXT.snpSpl, tcb.snp),
    splExt(AMD_EXT.ucodeSpl, tcb.microcode),
    ...(product === 'Turin' ? [splExt(AMD_EXT.fmcSpl, tcb.fmc ?? 0)] : []),
    { oid: AMD_EXT.hwId, value: hwId },
  ];
}

/** Used by tests that need a CSP ID on a VLEK-shaped certificate. */
export function cspIdSpec(cspId: string): ExtensionSpec {
  return { oid: AMD_EXT.cspId, value: ia5(cspId) };
}
