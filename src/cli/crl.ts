/**
 * `shadowplane crl fetch`: the vendors' CRLs, checked against the shipped roots and written
 * forward-only into a directory, for verifiers to hold (`--crl`, `proxy.crlFiles`).
 */
import { statSync } from 'node:fs';
import { fetchVendorCrls, writeCrlFile, type CrlWrite, type FetchedCrl } from '../attestation/crl-fetch.ts';
import { SNP_PRODUCTS, type SnpProduct } from '../attestation/types.ts';
import { parseFlags } from '../config/flags.ts';
import { ShadowplaneError } from '../errors.ts';

export const CRL_USAGE = `shadowplane crl fetch --out DIR (--amd PRODUCT[,PRODUCT] | --intel)... [options]

Fetches the vendors' certificate revocation lists, checks each against the roots shipped
in shadowplane (issuer, signature, update window) and writes it into DIR as DER, for
verifiers to hold: shadowplane verify/proxy --crl FILE, the agent's proxy.crlFiles, and
inject --crl-configmap. Run it on a schedule (CRLs are due again days to weeks after
issue) and publish DIR, for example as a ConfigMap (docs/attestation.md, revocation).

A file is replaced whole (renamed into place) and only by a CRL as new or newer from the
same issuer: a bad or older answer never replaces a good file. Exit 1 when any CRL could
not be fetched or checked; the others are still written.

  --out DIR                  where to write (must exist)
  --amd PRODUCTS             Milan, Genoa, Turin, or all: each ARK's VCEK and VLEK lists
                             (amd-<product>-vcek.crl, amd-<product>-vlek.crl)
  --intel                    Intel's PCK Platform CA, PCK Processor CA and root CA lists
                             (intel-pck-platform.crl, intel-pck-processor.crl, intel-root.crl)
  --kds-url URL              AMD KDS or a cache of it (default https://kdsintf.amd.com)
  --pcs-url URL              Intel PCS or a PCCS (default https://api.trustedservices.intel.com)
  --intel-root-crl-url URL   the Intel SGX Root CA CRL (default Intel's)
  --timeout-ms N             per request (default 10000)`;

export async function runCrlCommand(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(`${CRL_USAGE}\n`);
    return 0;
  }
  if (verb !== 'fetch') throw new ShadowplaneError('SP_USAGE', CRL_USAGE);
  const values = parseFlags(rest, {
    out: { type: 'string' },
    amd: { type: 'string', multiple: true },
    intel: { type: 'boolean' },
    'kds-url': { type: 'string' },
    'pcs-url': { type: 'string' },
    'intel-root-crl-url': { type: 'string' },
    'timeout-ms': { type: 'string' },
  });
  const out = values.out;
  if (out === undefined || out === '') throw new ShadowplaneError('SP_USAGE', `--out is required\n\n${CRL_USAGE}`);
  if (!isDirectory(out)) throw new ShadowplaneError('SP_USAGE', '--out must name an existing directory');
  const amd = products(values.amd ?? []);
  const intel = values.intel ?? false;
  if (amd.length === 0 && !intel) throw new ShadowplaneError('SP_USAGE', `name --amd PRODUCTS and/or --intel\n\n${CRL_USAGE}`);
  const timeout = values['timeout-ms'];
  if (timeout !== undefined && !/^[1-9][0-9]{0,6}$/.test(timeout)) throw new ShadowplaneError('SP_USAGE', '--timeout-ms must be 1 to 9999999');
  const fetched = await fetchVendorCrls({
    amd,
    intel,
    ...(values['kds-url'] !== undefined ? { kdsUrl: httpUrl(values['kds-url'], '--kds-url') } : {}),
    ...(values['pcs-url'] !== undefined ? { pcsUrl: httpUrl(values['pcs-url'], '--pcs-url') } : {}),
    ...(values['intel-root-crl-url'] !== undefined ? { intelRootCrlUrl: httpUrl(values['intel-root-crl-url'], '--intel-root-crl-url') } : {}),
    ...(timeout !== undefined ? { timeoutMs: Number(timeout) } : {}),
  });
  let failed = 0;
  for (const result of fetched) {
    const { ok, line } = settle(out, result);
    if (!ok) failed++;
    (ok ? process.stdout : process.stderr).write(`${line}\n`);
  }
  return failed === 0 ? 0 : 1;
}

/** Writes one fetched CRL (or not) and says what happened, in one line. */
function settle(dir: string, result: FetchedCrl): { ok: boolean; line: string } {
  if (!result.ok) return { ok: false, line: `FAILED  ${result.file}: ${result.label}: ${result.code}: ${result.reason}` };
  const { crl } = result;
  let outcome: CrlWrite;
  try {
    outcome = writeCrlFile(dir, result.file, crl);
  } catch (err) {
    return { ok: false, line: `FAILED  ${result.file}: cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const word = outcome === 'written' ? 'written' : outcome === 'unchanged' ? 'same   ' : 'kept   ';
  const what = `issuer '${result.issuer}', issued ${crl.thisUpdate.toISOString()}, due ${crl.nextUpdate?.toISOString() ?? 'never'}, ${crl.revoked.size} revoked`;
  return { ok: true, line: `${word} ${result.file}: ${what}${outcome === 'kept-newer' ? ' (older than the file, which stays)' : ''}` };
}

function products(raw: readonly string[]): SnpProduct[] {
  const out = new Set<SnpProduct>();
  for (const name of raw.flatMap((v) => v.split(','))) {
    const trimmed = name.trim();
    if (trimmed.toLowerCase() === 'all') SNP_PRODUCTS.forEach((p) => out.add(p));
    else {
      const product = SNP_PRODUCTS.find((p) => p.toLowerCase() === trimmed.toLowerCase());
      if (product === undefined) throw new ShadowplaneError('SP_USAGE', `--amd: unknown product (one of ${SNP_PRODUCTS.join(', ')}, or all)`);
      out.add(product);
    }
  }
  return [...out];
}

function httpUrl(value: string, option: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ShadowplaneError('SP_USAGE', `${option} must be an http(s) URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ShadowplaneError('SP_USAGE', `${option} must be an http(s) URL`);
  return value.replace(/\/+$/, '');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
