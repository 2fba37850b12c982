/**
 * `shadowplane crl fetch`: the vendors' CRLs, checked against the shipped roots and written
 * forward-only into a directory, for verifiers to hold (`--crl`, `proxy.crlFiles`).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigMapRef, publishCrls, readPublishedCrls, type ApiAccess, type ConfigMapRef, type PublishedCrls } from '../attestation/crl-configmap.ts';
import { MAX_CRL_BYTES } from '../attestation/crl.ts';
import { readBoundedFile } from '../config/bounded-file.ts';
import { inClusterApiServer, SERVICE_ACCOUNT_DIR } from '../config/in-cluster.ts';
import { fetchVendorCrls, seedCrlFile, writeCrlFile, type CrlWrite, type FetchedCrl } from '../attestation/crl-fetch.ts';
import { SNP_PRODUCTS, type SnpProduct } from '../attestation/types.ts';
import { helpAsked, parseFlags } from '../config/flags.ts';
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
  --timeout-ms N             per request (default 10000)

Publishing as a ConfigMap (a CronJob in the cluster; deploy/kustomize/components/crl-refresh):

  --configmap NS/NAME        start from the CRLs this ConfigMap holds (written into DIR, only
                             forward), then publish DIR's CRLs into it (binaryData, one key per
                             file; its other keys are kept); created when missing
  --api-server URL           default: the pod's cluster (KUBERNETES_SERVICE_HOST/PORT)
  --in-cluster-dir DIR       the service account mount: token and ca.crt
                             (default /var/run/secrets/kubernetes.io/serviceaccount)`;

export async function runCrlCommand(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (helpAsked(argv)) {
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
    configmap: { type: 'string' },
    'api-server': { type: 'string' },
    'in-cluster-dir': { type: 'string' },
  });
  const out = values.out;
  if (out === undefined || out === '') throw new ShadowplaneError('SP_USAGE', `--out is required\n\n${CRL_USAGE}`);
  if (!isDirectory(out)) throw new ShadowplaneError('SP_USAGE', '--out must name an existing directory');
  const amd = products(values.amd ?? []);
  const intel = values.intel ?? false;
  if (amd.length === 0 && !intel) throw new ShadowplaneError('SP_USAGE', `name --amd PRODUCTS and/or --intel\n\n${CRL_USAGE}`);
  const timeout = values['timeout-ms'];
  if (timeout !== undefined && !/^[1-9][0-9]{0,6}$/.test(timeout)) throw new ShadowplaneError('SP_USAGE', '--timeout-ms must be 1 to 9999999');
  const publishing = values.configmap === undefined ? undefined : await startPublishing(out, values.configmap, values['api-server'], values['in-cluster-dir']);
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
  if (publishing !== undefined) {
    const { access, ref, previous } = publishing;
    const where = `ConfigMap ${ref.namespace}/${ref.name}`;
    // Every CRL this run knows of: fetched now, or carried forward from the ConfigMap.
    const files = new Map<string, Buffer>();
    for (const file of new Set([...fetched.map((f) => f.file), ...previous.crls.keys()])) {
      const der = readCrlFile(join(out, file));
      if (der !== undefined) files.set(file, der);
    }
    try {
      const changed = await publishCrls(access, ref, previous, files);
      process.stdout.write(`${changed ? 'published' : 'same   '} ${where}: ${files.size} CRL(s)\n`);
    } catch (err) {
      failed++;
      process.stderr.write(`FAILED  ${where}: ${err instanceof ShadowplaneError ? `${err.code}: ${err.detail ?? err.message}` : 'unexpected error'}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

/** Reads the ConfigMap and writes its CRLs into `dir` (only forward), before anything is fetched. */
async function startPublishing(dir: string, configmap: string, apiServer: string | undefined, inClusterDir: string | undefined): Promise<{ access: ApiAccess; ref: ConfigMapRef; previous: PublishedCrls }> {
  const ref = parseConfigMapRef(configmap, '--configmap');
  const server = apiServer === undefined ? inClusterApiServer() : httpsUrl(apiServer, '--api-server');
  if (server === undefined) throw new ShadowplaneError('SP_USAGE', '--configmap outside a pod needs --api-server URL (and --in-cluster-dir with its token and ca.crt)');
  const account = inClusterDir ?? SERVICE_ACCOUNT_DIR;
  let ca: Buffer;
  try {
    ca = readBoundedFile(join(account, 'ca.crt'), 1024 * 1024);
  } catch {
    throw new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `cannot read the cluster CA at ${join(account, 'ca.crt')}`);
  }
  const access: ApiAccess = { server, ca, tokenFile: join(account, 'token') };
  const previous = await readPublishedCrls(access, ref);
  for (const [key, crl] of previous.crls) {
    let seeded: boolean;
    try {
      seeded = seedCrlFile(dir, key, crl.der);
    } catch (err) {
      throw new ShadowplaneError('SP_USAGE', `cannot write --out ${join(dir, key)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    }
    if (seeded) process.stdout.write(`from    ConfigMap ${ref.namespace}/${ref.name}: ${key}\n`);
  }
  for (const key of previous.unreadable) process.stderr.write(`warning: ConfigMap ${ref.namespace}/${ref.name}: key ${key} holds no CRL shadowplane accepts; it is replaced when this run has one\n`);
  return { access, ref, previous };
}

function readCrlFile(path: string): Buffer | undefined {
  try {
    return readBoundedFile(path, MAX_CRL_BYTES);
  } catch {
    return undefined;
  }
}

function httpsUrl(value: string, option: string): string {
  const url = httpUrl(value, option);
  if (!url.startsWith('https:')) throw new ShadowplaneError('SP_USAGE', `${option} must be an https URL`);
  return url;
}


/** Writes one fetched CRL (or not) and says what happened, in one line. */
function settle(dir: string, result: FetchedCrl): { ok: boolean; line: string } {
  if (!result.ok) return { ok: false, line: `FAILED  ${result.file}: ${result.label}: ${result.code}: ${result.reason}` };
  const { crl } = result;
  let outcome: CrlWrite;
  try {
    outcome = writeCrlFile(dir, result);
  } catch (err) {
    return { ok: false, line: `FAILED  ${result.file}: cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (outcome === 'kept-drops-serial') {
    return { ok: false, line: `FAILED  ${result.file}: ${result.label}: SP_ATTEST_COLLATERAL_INVALID: the answer lacks a serial the file's list revokes, and this list only grows: the file stays (a swapped or truncated answer?)` };
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
