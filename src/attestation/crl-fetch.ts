/**
 * The vendors' CRLs, fetched for verifiers to hold (`--crl`, `proxy.crlFiles`): what an
 * operator's scheduled job runs (`shadowplane crl fetch`) so that `--require-crls` has
 * current lists to count on.
 *
 *   AMD KDS    <kds>/{vcek,vlek}/v1/<product>/crl       issued by the product's ARK (it lists
 *                                                       revoked ASKs and ASVKs)
 *   Intel PCS  <pcs>/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
 *                                                       issued by a PCK CA, whose chain to the
 *                                                       Intel root comes in the answer's
 *                                                       SGX-PCK-CRL-Issuer-Chain header
 *              the Intel SGX Root CA CRL                issued by the root
 *
 * Fetching adds no trust: every CRL is checked here against the shipped roots (issuer,
 * signature, update window) before it is written, and checked again by every verifier that
 * loads it. What this adds is that a bad answer never replaces a good file: each file is
 * written whole (a temporary file renamed into place) and only moves forward, so a file
 * holding a newer CRL from the same issuer is kept, whatever the service answered.
 *
 * Invariant: nothing here logs or reports CRL bytes; results name files, issuers and times.
 */
import { join } from 'node:path';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { writeOutputFile } from '../config/output-file.ts';
import { isShadowplaneError, ShadowplaneError, type ErrorCode } from '../errors.ts';
import { verifyChain, type TrustAnchor } from './chain.ts';
import { MAX_CRL_BYTES, parseCrl, requireIssuedBy, type Crl } from './crl.ts';
import { httpGet, type FetchLike } from './http.ts';
import { AMD_KDS } from './snp/kds.ts';
import { amdTrustAnchors } from './snp/verify.ts';
import { INTEL_PCS, INTEL_ROOT_CRL, issuerChain } from './tdx/pcs.ts';
import { intelTrustAnchors } from './tdx/verify.ts';
import type { SnpProduct } from './types.ts';
import { commonName, parseCertificate, type Certificate } from './x509.ts';

export interface FetchCrlsOptions {
  /** AMD products whose ARK CRLs (VCEK and VLEK lists) to fetch. */
  readonly amd: readonly SnpProduct[];
  /** Fetch Intel's PCK Platform CA, PCK Processor CA and root CRLs. */
  readonly intel: boolean;
  /** Default https://kdsintf.amd.com. */
  readonly kdsUrl?: string;
  /** Default https://api.trustedservices.intel.com (or a PCCS). */
  readonly pcsUrl?: string;
  /** Default Intel's URL of the root CA's CRL. */
  readonly intelRootCrlUrl?: string;
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
  readonly now?: Date;
  /** The anchors CRLs are checked against; default the shipped AMD ARKs and Intel root (tests substitute their own). */
  readonly amdArks?: Partial<Readonly<Record<SnpProduct, Certificate>>>;
  readonly intelRoot?: Certificate;
}

/** One CRL to fetch: the file it goes to and how to get and check it. */
interface CrlTarget {
  readonly file: string;
  readonly label: string;
  readonly get: () => Promise<Crl>;
}

export type FetchedCrl =
  | { readonly ok: true; readonly file: string; readonly label: string; readonly crl: Crl; readonly issuer: string }
  | { readonly ok: false; readonly file: string; readonly label: string; readonly code: ErrorCode; readonly reason: string };

/** Where a fetched CRL ended up. */
export type CrlWrite = 'written' | 'unchanged' | 'kept-newer';

const MAX_PCK_ISSUER_CHAIN = 3;

/**
 * Fetches every CRL `opts` names, one after the other, each checked against its issuer at
 * `now`. Never throws for one CRL: each result is ok or carries the code and reason it was refused.
 */
export async function fetchVendorCrls(opts: FetchCrlsOptions): Promise<FetchedCrl[]> {
  const now = opts.now ?? new Date();
  const common = { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) };
  const get = async (url: string, label: string): Promise<{ crl: Crl; headers: Headers }> => {
    const { body, headers } = await httpGet(url, { maxBytes: MAX_CRL_BYTES, ...common });
    return { crl: parseCrl(body, label), headers };
  };
  const targets: CrlTarget[] = [];
  for (const product of opts.amd) {
    const ark = opts.amdArks?.[product] ?? shippedArk(product);
    for (const kind of ['vcek', 'vlek'] as const) {
      const label = `AMD ${product} ${kind.toUpperCase()} CRL`;
      targets.push({
        file: `amd-${product.toLowerCase()}-${kind}.crl`,
        label,
        get: async () => {
          const { crl } = await get(`${opts.kdsUrl ?? AMD_KDS}/${kind}/v1/${product}/crl`, label);
          requireIssuedBy(crl, ark, now);
          return crl;
        },
      });
    }
  }
  if (opts.intel) {
    const root = opts.intelRoot ?? intelTrustAnchors()[0]!.cert;
    const anchors: TrustAnchor[] = [{ cert: root, label: 'Intel SGX Root CA' }];
    for (const ca of ['platform', 'processor'] as const) {
      const label = `Intel PCK ${ca === 'platform' ? 'Platform' : 'Processor'} CA CRL`;
      targets.push({
        file: `intel-pck-${ca}.crl`,
        label,
        get: async () => {
          const { crl, headers } = await get(`${opts.pcsUrl ?? INTEL_PCS}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`, label);
          requireIssuedBy(crl, pckCaOf(issuerChain(headers, 'SGX-PCK-CRL-Issuer-Chain'), anchors, now), now);
          return crl;
        },
      });
    }
    targets.push({
      file: 'intel-root.crl',
      label: 'Intel SGX Root CA CRL',
      get: async () => {
        const { crl } = await get(opts.intelRootCrlUrl ?? INTEL_ROOT_CRL, 'Intel SGX Root CA CRL');
        requireIssuedBy(crl, root, now);
        return crl;
      },
    });
  }
  // One request at a time: AMD KDS answers 429 to bursts, and a scheduled job has time.
  const results: FetchedCrl[] = [];
  for (const { file, label, get: fetchOne } of targets) {
    try {
      const crl = await fetchOne();
      results.push({ ok: true, file, label, crl, issuer: commonName(crl.issuer, 'SP_ATTEST_COLLATERAL_INVALID') });
    } catch (err) {
      results.push(
        isShadowplaneError(err)
          ? { ok: false, file, label, code: err.code, reason: err.detail ?? err.message }
          : { ok: false, file, label, code: 'SP_INTERNAL', reason: 'unexpected error' },
      );
    }
  }
  return results;
}

function shippedArk(product: SnpProduct): Certificate {
  const anchor = amdTrustAnchors().anchors.find((a) => a.label === `AMD ARK-${product}`);
  if (anchor === undefined) throw new ShadowplaneError('SP_INTERNAL', `no shipped ARK for ${product}`);
  return anchor.cert;
}

/** The PCK CA of a PCS issuer chain (PCK CA first), verified up to the Intel root. */
function pckCaOf(ders: readonly Buffer[], anchors: readonly TrustAnchor[], now: Date): Certificate {
  if (ders.length > MAX_PCK_ISSUER_CHAIN) throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', 'the PCK CRL issuer chain is too long');
  const certs = ders.map((d, i) => parseCertificate(d, `PCK CRL issuer chain certificate ${i}`, 'SP_ATTEST_COLLATERAL_INVALID'));
  const anchorShas = new Set(anchors.map((a) => a.cert.sha256));
  const chain = verifyChain({
    leaf: certs[0]!,
    labels: ['PCK CA', 'Intel root'],
    intermediates: certs.slice(1).filter((c) => !anchorShas.has(c.sha256)),
    anchors,
    now,
    maxDepth: 2,
    algorithmAllowed: (alg) => alg.kind === 'ecdsa' && alg.hash === 'sha256',
    algorithmRule: 'Intel PCK chains use ECDSA/SHA256',
    leafUse: 'crl',
  });
  return chain.path[0]!;
}

/**
 * Writes a fetched CRL to `dir/file` unless the file already holds the same CRL or a newer
 * one (by thisUpdate) from the same issuer. The file is replaced whole: written beside it,
 * flushed, then renamed into place. A present file that is not a CRL is replaced.
 */
export function writeCrlFile(dir: string, file: string, crl: Crl): CrlWrite {
  const path = join(dir, file);
  const held = heldCrl(path);
  if (held !== undefined && held.der.equals(crl.der)) return 'unchanged';
  if (held !== undefined && held.issuer.equals(crl.issuer) && held.thisUpdate.getTime() > crl.thisUpdate.getTime()) return 'kept-newer';
  writeOutputFile(path, crl.der, { mode: 0o644 });
  return 'written';
}

function heldCrl(path: string): Crl | undefined {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(path, MAX_CRL_BYTES);
  } catch (err) {
    if (err instanceof FileRefused || (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return parseCrl(bytes, path);
  } catch {
    return undefined;
  }
}
