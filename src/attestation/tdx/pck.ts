/**
 * The Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1, Intel "SGX PCK
 * Certificate and CRL Profile"): the platform's TCB (16 component SVNs, PCESVN, CPUSVN),
 * PCE-ID and FMSPC, which select and judge the TCB Info.
 */
import { ShadowplaneError } from '../../errors.ts';
import { TAG, children, decodeOid, decodeSmallInt, expectTag, readOnly, type DerElement } from '../der.ts';
import type { Certificate } from '../x509.ts';

export const SGX_EXTENSIONS_OID = '1.2.840.113741.1.13.1';

export interface PckExtensions {
  /** The 16 SGX TCB component SVNs. */
  readonly components: readonly number[];
  readonly pceSvn: number;
  readonly cpuSvn: Buffer;
  /** Hex, lowercase (4 digits). */
  readonly pceId: string;
  /** Hex, lowercase (12 digits). */
  readonly fmspc: string;
}

const WHAT = 'PCK certificate SGX extensions';

function pairs(el: DerElement): Map<string, DerElement> {
  const out = new Map<string, DerElement>();
  for (const item of children(expectTag(el, TAG.SEQUENCE, WHAT), WHAT)) {
    const [id, value] = children(expectTag(item, TAG.SEQUENCE, WHAT), WHAT);
    if (value === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${WHAT}: an entry has no value`);
    out.set(decodeOid(expectTag(id, TAG.OID, WHAT).content, WHAT), value);
  }
  return out;
}

/** Reads the SGX extensions of a PCK certificate. */
export function readPckExtensions(pck: Certificate): PckExtensions {
  const ext = pck.extensions.get(SGX_EXTENSIONS_OID);
  if (ext === undefined) throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', 'the PCK certificate carries no SGX extensions');
  const top = pairs(readOnly(ext.value, WHAT));
  const need = (id: string, name: string): DerElement => {
    const v = top.get(`${SGX_EXTENSIONS_OID}.${id}`);
    if (v === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${WHAT}: ${name} is missing`);
    return v;
  };
  const tcb = pairs(need('2', 'TCB'));
  const components: number[] = [];
  for (let i = 1; i <= 16; i++) {
    const v = tcb.get(`${SGX_EXTENSIONS_OID}.2.${i}`);
    if (v === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${WHAT}: TCB component ${i} is missing`);
    components.push(decodeSmallInt(v, WHAT));
  }
  const pceSvnEl = tcb.get(`${SGX_EXTENSIONS_OID}.2.17`);
  const cpuSvnEl = tcb.get(`${SGX_EXTENSIONS_OID}.2.18`);
  if (pceSvnEl === undefined || cpuSvnEl === undefined) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${WHAT}: PCESVN or CPUSVN is missing`);
  const pceId = expectTag(need('3', 'PCE-ID'), TAG.OCTET_STRING, WHAT).content;
  const fmspc = expectTag(need('4', 'FMSPC'), TAG.OCTET_STRING, WHAT).content;
  if (pceId.length !== 2 || fmspc.length !== 6) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${WHAT}: bad PCE-ID or FMSPC length`);
  return {
    components,
    pceSvn: decodeSmallInt(pceSvnEl, WHAT),
    cpuSvn: expectTag(cpuSvnEl, TAG.OCTET_STRING, WHAT).content,
    pceId: pceId.toString('hex'),
    fmspc: fmspc.toString('hex'),
  };
}
