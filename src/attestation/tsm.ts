/**
 * Real hardware evidence through the Linux configfs-tsm interface
 * (Documentation/ABI/testing/configfs-tsm-report; kernel 6.7 or later, root):
 *
 *   mkdir  <root>/<unique>          one directory per request, never shared
 *   read   provider                 sev_guest | tdx_guest
 *   read   generation               g0
 *   write  privlevel                (SEV only, optional)
 *   write  inblob                   exactly 64 bytes
 *   read   outblob                  SEV: the 1184-byte report; TDX: the quote
 *   read   auxblob                  SEV: the host's certificate table (may be empty)
 *   read   generation               must be g0 + number of writes, else another writer raced us
 *   rmdir  <root>/<unique>          always
 *
 * A generation race is retried in a fresh directory (bounded); every request is bounded
 * in time. Failures are SP_ATTEST_UNAVAILABLE with the step that failed.
 */
import { randomBytes } from 'node:crypto';
import { open, mkdir, rmdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { ShadowplaneError } from '../errors.ts';
import { evidenceCertificates, parseCertTable } from './snp/cert-table.ts';
import type { Collateral, Evidence, EvidenceIssuer } from './types.ts';
import { EVIDENCE_LIMITS } from './evidence.ts';

export const TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report';
const PROVIDERS = { sev_guest: 'sev-snp', tdx_guest: 'tdx' } as const;
export type HardwarePlatform = 'sev-snp' | 'tdx';

/**
 * The file operations the issuer needs. Production uses node:fs on configfs; tests pass an
 * imitation of the kernel's behaviour (attributes appear on mkdir, outblob on inblob).
 */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** Reads at most `max` bytes; more is an error. */
  read(path: string, max: number): Promise<Buffer>;
  write(path: string, data: Buffer | string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

export interface TsmIssuerOptions {
  /** Default /sys/kernel/config/tsm/report. */
  readonly root?: string;
  /** The platform this machine is (see `detectPlatform`); a different provider is refused. */
  readonly platform: HardwarePlatform;
  /** SEV only: the VMPL to request the report at. */
  readonly privlevel?: number;
  /** Certificates to attach when the host's table is empty (DER, leaf first). */
  readonly certificates?: readonly Buffer[];
  /** Collateral to attach (TDX: Intel TCB Info, QE Identity, TCB signing chain, CRLs), fetched per request. */
  readonly collateral?: (evidence: Evidence) => Promise<Collateral | undefined>;
  /** Per request, default 30 s (a TDX quote waits for the host's quote service). */
  readonly timeoutMs?: number;
  /** Generation races tolerated before giving up, default 3. */
  readonly maxAttempts?: number;
  /** Default: node:fs (`nodeTsmFs`). */
  readonly fs?: TsmFs;
}

function unavailable(detail: string, cause?: unknown): ShadowplaneError {
  return new ShadowplaneError('SP_ATTEST_UNAVAILABLE', detail, cause === undefined ? undefined : { cause });
}

/** node:fs, reading attributes with a bound (configfs sizes in stat are meaningless). */
export const nodeTsmFs: TsmFs = {
  async mkdir(path) {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  async read(path, max) {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(max + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > max) throw unavailable(`${path} is larger than ${max} bytes`);
      }
      return buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  },
  write: (path, data) => writeFile(path, data),
  async exists(path) {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  },
};

async function readText(fs: TsmFs, path: string): Promise<string> {
  return (await fs.read(path, 256)).toString('latin1').trim();
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

class GenerationRace extends Error {}

async function oneRequest(fs: TsmFs, root: string, reportData: Buffer, opts: TsmIssuerOptions): Promise<{ platform: HardwarePlatform; outblob: Buffer; auxblob: Buffer }> {
  const dir = join(root, `shadowplane-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await fs.mkdir(dir);
  } catch (err) {
    throw unavailable(`cannot create a report request under ${root} (configfs-tsm needs kernel 6.7+ and root)`, err);
  }
  try {
    const provider = await readText(fs, join(dir, 'provider'));
    const platform = (PROVIDERS as Record<string, HardwarePlatform | undefined>)[provider];
    if (platform === undefined) throw unavailable(`unknown configfs-tsm provider '${provider.slice(0, 32)}'`);
    if (opts.platform !== platform) throw unavailable(`the TEE is ${platform}, not ${opts.platform}`);
    const g0 = Number.parseInt(await readText(fs, join(dir, 'generation')), 10);
    let writes = 0;
    if (platform === 'sev-snp' && opts.privlevel !== undefined) {
      await fs.write(join(dir, 'privlevel'), String(opts.privlevel));
      writes++;
    }
    await fs.write(join(dir, 'inblob'), reportData);
    writes++;
    const outblob = await fs.read(join(dir, 'outblob'), EVIDENCE_LIMITS.reportBytes);
    const auxblob = platform === 'sev-snp' && (await fs.exists(join(dir, 'auxblob'))) ? await fs.read(join(dir, 'auxblob'), 64 * 1024) : Buffer.alloc(0);
    const g1 = Number.parseInt(await readText(fs, join(dir, 'generation')), 10);
    if (!Number.isInteger(g0) || g1 !== g0 + writes) throw new GenerationRace();
    return { platform, outblob, auxblob };
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
}

/**
 * An issuer backed by configfs-tsm. Each `issue` uses its own report directory and checks
 * `generation` to detect a concurrent writer; SEV certificates come from `auxblob`, or
 * from `certificates` when the host supplies none.
 */
export function createTsmIssuer(opts: TsmIssuerOptions): EvidenceIssuer {
  const root = opts.root ?? TSM_REPORT_ROOT;
  const fs = opts.fs ?? nodeTsmFs;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const attempts = Math.max(1, opts.maxAttempts ?? 3);
  const run = async (reportData: Buffer): Promise<Evidence> => {
    for (let attempt = 1; ; attempt++) {
      let r: Awaited<ReturnType<typeof oneRequest>>;
      try {
        r = await oneRequest(fs, root, reportData, opts);
      } catch (err) {
        if (err instanceof GenerationRace && attempt < attempts) continue;
        if (err instanceof GenerationRace) throw unavailable(`another writer changed the report request ${attempts} times in a row (configfs-tsm generation race)`);
        if (err instanceof ShadowplaneError) throw err;
        throw unavailable('the configfs-tsm report request failed', err);
      }
      if (r.outblob.length === 0) throw unavailable('the TEE returned an empty report');
      let certificates: Buffer[] = [];
      if (r.platform === 'sev-snp') {
        certificates = evidenceCertificates(parseCertTable(r.auxblob));
        if (certificates.length === 0) certificates = [...(opts.certificates ?? [])];
        if (certificates.length === 0) throw unavailable('the host supplied no VCEK/VLEK certificate (empty auxblob) and none is configured');
      }
      const evidence: Evidence = { platform: r.platform, report: r.outblob, certificates };
      const collateral = opts.collateral === undefined ? undefined : await opts.collateral(evidence);
      return collateral === undefined ? evidence : { ...evidence, collateral };
    }
  };
  return {
    platform: opts.platform,
    issue(reportData: Buffer): Promise<Evidence> {
      if (!Buffer.isBuffer(reportData) || reportData.length !== 64) return Promise.reject(new ShadowplaneError('SP_INTERNAL', 'report data must be exactly 64 bytes'));
      return withTimeout(run(reportData), timeoutMs, 'the configfs-tsm report request');
    },
  };
}

/**
 * Which TEE this machine is: asks configfs-tsm for its provider, else looks for the guest
 * devices. Undefined when there is none.
 */
export async function detectPlatform(paths: { readonly root?: string; readonly devDir?: string; readonly fs?: TsmFs } = {}): Promise<HardwarePlatform | undefined> {
  const fs = paths.fs ?? nodeTsmFs;
  const root = paths.root ?? TSM_REPORT_ROOT;
  if (await fs.exists(root)) {
    const dir = join(root, `shadowplane-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.mkdir(dir);
      try {
        const p = (PROVIDERS as Record<string, HardwarePlatform | undefined>)[await readText(fs, join(dir, 'provider'))];
        if (p !== undefined) return p;
      } finally {
        await fs.rmdir(dir).catch(() => undefined);
      }
    } catch {
      // fall through to the device nodes
    }
  }
  const dev = paths.devDir ?? '/dev';
  if (await fs.exists(join(dev, 'sev-guest'))) return 'sev-snp';
  if (await fs.exists(join(dev, 'tdx_guest'))) return 'tdx';
  return undefined;
}
