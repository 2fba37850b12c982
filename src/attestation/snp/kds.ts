/**
 * The AMD Key Distribution Service, used only when a caller explicitly asks: fetch the
 * VCEK for a chip and TCB when the evidence carries none, and the CRL of a product's ARK.
 * Verification itself never needs it (the ASK/ARK roots are shipped).
 *
 * URLs (AMD KDS interface specification): `<base>/vcek/v1/<product>/<hwid hex>?blSPL=&teeSPL=&snpSPL=&ucodeSPL=`
 * (Turin adds `fmcSPL=` and uses the 8-byte hwID), `<base>/{vcek,vlek}/v1/<product>/crl`.
 */
import { ShadowplaneError } from '../../errors.ts';
import { MAX_CRL_BYTES } from '../crl.ts';
import { httpGet, type FetchLike } from '../http.ts';
import type { Evidence, SnpProduct, SnpTcb } from '../types.ts';
import { parseCertificate } from '../x509.ts';
import { decodeTcb, parseSnpReport } from './report.ts';

export const AMD_KDS = 'https://kdsintf.amd.com';

export interface KdsOptions {
  /** Default https://kdsintf.amd.com (or a caching proxy of it). */
  readonly baseUrl?: string;
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
}

/** The KDS URL of the VCEK for `hwId` at `tcb`. */
export function vcekUrl(product: SnpProduct, hwId: Buffer, tcb: SnpTcb, baseUrl = AMD_KDS): string {
  const id = (product === 'Turin' ? hwId.subarray(0, 8) : hwId).toString('hex');
  const q = new URLSearchParams({
    ...(product === 'Turin' ? { fmcSPL: String(tcb.fmc ?? 0) } : {}),
    blSPL: String(tcb.bootloader),
    teeSPL: String(tcb.tee),
    snpSPL: String(tcb.snp),
    ucodeSPL: String(tcb.microcode),
  });
  return `${baseUrl}/vcek/v1/${product}/${id}?${q.toString()}`;
}

/** Fetches a VCEK (DER) and checks that it parses. */
export async function fetchVcek(product: SnpProduct, hwId: Buffer, tcb: SnpTcb, opts: KdsOptions = {}): Promise<Buffer> {
  const { body } = await httpGet(vcekUrl(product, hwId, tcb, opts.baseUrl), { maxBytes: 16 * 1024, ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  parseCertificate(body, 'VCEK from AMD KDS', 'SP_ATTEST_COLLATERAL_INVALID');
  return body;
}

/** Fetches the CRL (DER) that the product's ARK issues for its ASK or ASVK. */
export async function fetchAmdCrl(product: SnpProduct, kind: 'vcek' | 'vlek', opts: KdsOptions = {}): Promise<Buffer> {
  const { body } = await httpGet(`${opts.baseUrl ?? AMD_KDS}/${kind}/v1/${product}/crl`, {
    maxBytes: MAX_CRL_BYTES,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
  return body;
}

/**
 * Evidence without certificates → the same evidence with the VCEK for its chip and
 * reported TCB from KDS. `product` must be known (a v2 report does not say); the VCEK is
 * then verified like any other. Evidence that carries certificates is returned as is.
 */
export async function withVcekFromKds(evidence: Evidence, product: SnpProduct, opts: KdsOptions = {}): Promise<Evidence> {
  if (evidence.certificates.length > 0) return evidence;
  if (evidence.platform !== 'sev-snp') throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', 'only sev-snp evidence can be completed from AMD KDS');
  const r = parseSnpReport(evidence.report);
  const vcek = await fetchVcek(product, r.chipId, decodeTcb(r.reportedTcb, product), opts);
  return { ...evidence, certificates: [vcek] };
}
