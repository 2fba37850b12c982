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
import { fetchAmdCrl } from './snp/kds.ts';
import { amdTrustAnchors } from './snp/verify.ts';
import { INTEL_PCS, INTEL_ROOT_CRL, issuerChain } from './tdx/pcs.ts';
import { intelTrustAnchors } from './tdx/verify.ts';
import type { SnpProduct } from './types.ts';
import { commonName, parseCertificate, pemToDer, type Certificate } from './x509.ts';

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
  /** The CRL, checked, and the certificate that issued it. */
  readonly get: () => Promise<{ readonly crl: Crl; readonly issuer: Certificate }>;
  readonly cumulative: boolean;
}

export type FetchedCrl =
  | {
      readonly ok: true;
      readonly file: string;
      readonly label: string;
      readonly crl: Crl;
      /** The issuer's common name, for messages. */
      readonly issuer: string;
      /** The certificate the CRL was checked against, and when: what a file it would replace must also pass. */
      readonly issuerCertificate: Certificate;
      readonly checkedAt: Date;
      /**
       * Whether the list only ever grows (AMD's: the ASKs and ASVKs it revokes are valid for
       * decades, so no entry leaves it). A held list that names a serial the new one lacks is
       * then kept, whatever its dates: an ARK signs two lists, and a swapped or truncated
       * answer must not undo a revocation.
       */
      readonly cumulative: boolean;
    }
  | { readonly ok: false; readonly file: string; readonly label: string; readonly code: ErrorCode; readonly reason: string };

/** Where a fetched CRL ended up. */
export type CrlWrite = 'written' | 'unchanged' | 'kept-newer' | 'kept-drops-serial';

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
        cumulative: true,
        get: async () => {
          const crl = parseCrl(await fetchAmdCrl(product, kind, { ...(opts.kdsUrl === undefined ? {} : { baseUrl: opts.kdsUrl }), ...common }), label);
          requireIssuedBy(crl, ark, now);
          return { crl, issuer: ark };
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
        cumulative: false,
        get: async () => {
          const { crl, headers } = await get(`${opts.pcsUrl ?? INTEL_PCS}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`, label);
          const pckCa = pckCaOf(issuerChain(headers, 'SGX-PCK-CRL-Issuer-Chain'), anchors, now, ca === 'platform' ? 'Intel SGX PCK Platform CA' : 'Intel SGX PCK Processor CA');
          requireIssuedBy(crl, pckCa, now);
          return { crl, issuer: pckCa };
        },
      });
    }
    targets.push({
      file: 'intel-root.crl',
      label: 'Intel SGX Root CA CRL',
      cumulative: false,
      get: async () => {
        const { crl } = await get(opts.intelRootCrlUrl ?? INTEL_ROOT_CRL, 'Intel SGX Root CA CRL');
        requireIssuedBy(crl, root, now);
        return { crl, issuer: root };
      },
    });
  }
  // One request at a time: AMD KDS answers 429 to bursts, and a scheduled job has time.
  const results: FetchedCrl[] = [];
  for (const { file, label, cumulative, get: fetchOne } of targets) {
    try {
      const { crl, issuer } = await fetchOne();
      results.push({ ok: true, file, label, crl, issuer: commonName(crl.issuer, 'SP_ATTEST_COLLATERAL_INVALID'), issuerCertificate: issuer, checkedAt: now, cumulative });
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

/**
 * The PCK CA of a PCS issuer chain (PCK CA first), verified up to the Intel root: exactly
 * one certificate below the root, named `expected`. Pinned, so that an answer cannot pass
 * off another issuer's CRL (the root's, the other PCK CA's) as this file's.
 */
function pckCaOf(ders: readonly Buffer[], anchors: readonly TrustAnchor[], now: Date, expected: string): Certificate {
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
  const pckCa = chain.path[0]!;
  if (chain.path.length !== 2 || commonName(pckCa.subject, 'SP_ATTEST_COLLATERAL_INVALID') !== expected) {
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `the PCK CRL issuer chain does not name the ${expected} below the Intel root`);
  }
  return pckCa;
}

/**
 * Writes a fetched CRL to `dir/<its file>` unless the file already holds the same CRL, or
 * a newer one (by thisUpdate) that passes the same check the fetched one passed (issued
 * and signed by the same certificate, current): a newer-looking file that does not (a
 * forged or future-dated CRL put there by whoever wrote the directory or the ConfigMap it
 * came from) is replaced, so it cannot hold the file back. The file is replaced whole:
 * written beside it, flushed, then renamed into place. A present file that is not a CRL is
 * replaced.
 */
export function writeCrlFile(dir: string, fetched: Extract<FetchedCrl, { ok: true }>): CrlWrite {
  const { crl } = fetched;
  const path = join(dir, fetched.file);
  const held = heldCrl(path);
  if (held !== undefined && held.der.equals(crl.der)) return 'unchanged';
  if (held !== undefined && held.issuer.equals(crl.issuer) && held.thisUpdate.getTime() > crl.thisUpdate.getTime() && passes(held, fetched)) return 'kept-newer';
  if (held !== undefined && fetched.cumulative && [...held.revoked].some((serial) => !crl.revoked.has(serial)) && signedBy(held, fetched.issuerCertificate)) return 'kept-drops-serial';
  writeOutputFile(path, crl.der, { mode: 0o644 });
  return 'written';
}

/**
 * Writes `der` to `dir/file` only when no such file exists (a CRL carried over from an
 * earlier run, before this run fetches: writeCrlFile then decides). True when written.
 */
export function seedCrlFile(dir: string, file: string, der: Buffer): boolean {
  try {
    writeOutputFile(join(dir, file), der, { mode: 0o644, exclusive: true });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Whether `crl` was signed by `issuer` (dates aside). */
function signedBy(crl: Crl, issuer: Certificate): boolean {
  try {
    requireIssuedBy(crl, issuer, crl.thisUpdate);
    return true;
  } catch {
    return false;
  }
}

function passes(held: Crl, fetched: Extract<FetchedCrl, { ok: true }>): boolean {
  try {
    requireIssuedBy(held, fetched.issuerCertificate, fetched.checkedAt);
    return true;
  } catch {
    return false;
  }
}

/** The CRL a file holds (DER, or the first CRL of a PEM file, as verifiers read them), or undefined when it holds none. */
function heldCrl(path: string): Crl | undefined {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(path, Math.ceil((MAX_CRL_BYTES * 4) / 3) + 64 * 1024);
  } catch (err) {
    if (err instanceof FileRefused || (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const isPem = bytes.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN');
    const der = isPem ? pemToDer(bytes.toString('latin1'), 'X509 CRL')[0] : bytes;
    return der === undefined ? undefined : parseCrl(der, path);
  } catch {
    return undefined;
  }
}
