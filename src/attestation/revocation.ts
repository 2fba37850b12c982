/**
 * Verifier-side revocation: CRLs the verifier holds itself (files named in configuration,
 * read at start, then followed by long-running verifiers: watchRevocationFiles), and the
 * switch that makes a current CRL from every CRL issuer on a chain mandatory.
 *
 * Why: CRLs carried in the evidence collateral are chosen by the prover, and a prover whose
 * VCEK, ASK or PCK is revoked simply leaves out the CRL that says so. CRLs configured here
 * are applied to every chain whatever the evidence carries; with `requireCrls` a chain
 * whose issuer has no current CRL held here is refused (SP_ATTEST_REVOCATION_UNKNOWN):
 * carried CRLs only add revocations, since the prover picks which one to send. Both sources are signature-checked against the issuer
 * on the verified chain (crl.ts), so a CRL file needs no protection beyond availability.
 *
 * Invariant: a policy is frozen and carries `digest` (over the CRLs' DER and the switch),
 * which verification caches key on.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { MAX_CRL_BYTES, parseCrl, type Crl } from './crl.ts';
import type { ReferenceValues } from './reference-values.ts';
import { commonName, pemToDer } from './x509.ts';

/** At most this many CRL files, and this many CRLs over all of them (a PEM file may hold several). */
export const MAX_CRL_FILES = 16;
export const MAX_CRLS = 32;
/** A PEM CRL file is base64 with line breaks: allow for the expansion over MAX_CRL_BYTES. */
const MAX_CRL_FILE_BYTES = Math.ceil((MAX_CRL_BYTES * 4) / 3) + 64 * 1024;

export interface RevocationPolicy {
  /** CRLs the verifier holds, applied in addition to any carried in the evidence. */
  readonly crls: readonly Crl[];
  /** Require a current CRL from every CRL issuer on the chain. */
  readonly requireCrls: boolean;
  /** SHA-256 over the switch and the CRLs' DER, lowercase hex: part of verification cache keys. */
  readonly digest: string;
}

function freeze(crls: Crl[], requireCrls: boolean): RevocationPolicy {
  const h = createHash('sha256').update(requireCrls ? 'require\0' : 'apply\0');
  for (const c of crls) h.update(createHash('sha256').update(c.der).digest());
  const held = crls.map((c): Crl => Object.freeze({ ...c, heldByVerifier: true }));
  return Object.freeze({ crls: Object.freeze(held), requireCrls, digest: h.digest('hex') });
}

/** No configured CRLs, nothing required: only CRLs carried in the evidence are applied. */
export const NO_REVOCATION_POLICY: RevocationPolicy = freeze([], false);

/**
 * A policy from DER CRLs in memory (tests, embedding). A malformed CRL gives
 * SP_ATTEST_COLLATERAL_INVALID.
 */
export function revocationPolicy(input: { readonly crls?: readonly Buffer[]; readonly requireCrls?: boolean }): RevocationPolicy {
  const ders = input.crls ?? [];
  if (ders.length > MAX_CRLS) throw new ShadowplaneError('SP_CONFIG_INVALID', `at most ${MAX_CRLS} CRLs`);
  return freeze(
    ders.map((d, i) => parseCrl(d, `configured CRL ${i}`)),
    input.requireCrls === true,
  );
}

/**
 * Reads CRL files (DER, or PEM with one or more `X509 CRL` blocks), at most
 * MAX_CRL_FILES files and MAX_CRLS CRLs, each CRL at most MAX_CRL_BYTES. Any file that
 * cannot be read or parsed fails with SP_CONFIG_INVALID naming `option` and the file, so
 * a bad file stops start-up instead of every later verification.
 */
export function loadRevocationPolicy(input: { readonly files: readonly string[]; readonly requireCrls: boolean; readonly option: string }): RevocationPolicy {
  const { files, option } = input;
  if (files.length > MAX_CRL_FILES) throw new ShadowplaneError('SP_CONFIG_INVALID', `${option}: at most ${MAX_CRL_FILES} CRL files`);
  const crls: Crl[] = [];
  for (const path of files) {
    const fail = (why: string, cause?: unknown): never => {
      throw new ShadowplaneError('SP_CONFIG_INVALID', `${option} ${path}: ${why}`, cause === undefined ? undefined : { cause });
    };
    let bytes: Buffer;
    try {
      bytes = readBoundedFile(path, MAX_CRL_FILE_BYTES);
    } catch (err) {
      if (err instanceof FileRefused) return fail(err.detail);
      return fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
    }
    const isPem = bytes.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN');
    const ders = isPem ? pemToDer(bytes.toString('latin1'), 'X509 CRL') : [bytes];
    if (ders.length === 0) fail('a PEM file must hold -----BEGIN X509 CRL----- blocks');
    if (crls.length + ders.length > MAX_CRLS) fail(`more than ${MAX_CRLS} CRLs in all`);
    ders.forEach((der, i) => {
      try {
        crls.push(parseCrl(der, ders.length > 1 ? `CRL ${i}` : 'CRL'));
      } catch (err) {
        fail(`not a DER or PEM X.509 CRL shadowplane accepts (${err instanceof ShadowplaneError ? (err.detail ?? err.code) : 'parse error'})`, err);
      }
    });
  }
  return freeze(crls, input.requireCrls);
}

/**
 * What a verifier should say loudly at start about its revocation set-up, one line each:
 * no CRL source while real (non-simulated) platforms are accepted; CRLs required but none
 * configured; configured CRLs already past their nextUpdate. `hint` names the settings
 * in the caller's words ("--crl FILE and --require-crls").
 */
export function revocationWarnings(policy: RevocationPolicy, references: readonly ReferenceValues[], hint: string, now: Date = new Date()): string[] {
  const out: string[] = [];
  const real = references.some((r) => r.entries.some((e) => e.platform !== 'simulated'));
  if (real && policy.crls.length === 0 && !policy.requireCrls) {
    out.push(
      `*** no CRL source is configured: a revoked vendor certificate (VCEK/VLEK issuer, ASK, PCK, PCK CA) is refused only when the peer itself sends the CRL that revokes it. Configure the vendors' CRLs and require them (${hint}; docs/attestation.md, revocation). ***`,
    );
  }
  if (real && policy.crls.length === 0 && policy.requireCrls) {
    out.push('*** current CRLs are required but none is configured: every chain of a real platform will be refused (CRLs the peer sends are applied, but do not count) ***');
  }
  policy.crls.forEach((c, i) => {
    if (c.nextUpdate !== undefined && c.nextUpdate.getTime() <= now.getTime()) {
      out.push(`*** configured CRL ${i} (issuer '${commonName(c.issuer, 'SP_CONFIG_INVALID')}') was due for replacement at ${c.nextUpdate.toISOString()}: every chain it covers is refused until a current one is configured ***`);
    }
  });
  return out;
}

/**
 * Where a long-running verifier (the proxy, an agent) gets its revocation policy at each
 * verification: a fixed one, or one that follows its files (watchRevocationFiles).
 */
export type RevocationSetting = RevocationPolicy | RevocationSource;

export interface RevocationSource {
  /** The policy to verify with now. */
  current(): RevocationPolicy;
}

/** The policy a setting gives now (undefined stays undefined). */
export function currentRevocation(setting: RevocationSetting | undefined): RevocationPolicy | undefined {
  return setting === undefined || !('current' in setting) ? setting : setting.current();
}

/** How often a watched set of CRL files is looked at (by stat) for a change. */
const CRL_RELOAD_INTERVAL_MS = 60_000;

/**
 * CRL files a long-running verifier follows, so that refreshing them (a new file in place,
 * a ConfigMap update) takes effect without a restart: CRLs are due again at their
 * nextUpdate, days to weeks after issue, and a due CRL refuses every chain it covers.
 *
 * Loaded once now like loadRevocationPolicy (a bad file stops start-up). Afterwards, at most
 * every `intervalMs`, on a verification, the files are looked at (device, inode, size,
 * modification time) and, when any changed, loaded again. A set that does not load
 * (unreadable, malformed, too many) is not used: the previous one stays, which every
 * verification still checks for currency, the failure is logged without file content,
 * and the files are tried again at the next look.
 *
 * CRLs only move forward while the process runs: whoever writes the files (a ConfigMap
 * comes through the untrusted control plane) could otherwise swap a CRL that revokes a
 * key for an older one of the same issuer, still within its validity, and undo the
 * revocation at run time. So a reloaded set is refused, and the previous kept, when for
 * any issuer its newest CRL is older (thisUpdate) than the newest held so far, or when it
 * has none for an issuer it had. (At start nothing older is known: the files given then
 * are trusted to be recent.) A configured CRL found past its nextUpdate is logged once
 * per loaded set.
 */
export function watchRevocationFiles(input: {
  readonly files: readonly string[];
  readonly requireCrls: boolean;
  readonly option: string;
  readonly logger: Logger;
  readonly intervalMs?: number;
  readonly now?: () => number;
}): RevocationSource & { readonly initial: RevocationPolicy } {
  const now = input.now ?? Date.now;
  const intervalMs = input.intervalMs ?? CRL_RELOAD_INTERVAL_MS;
  const initial = loadRevocationPolicy(input);
  let policy = initial;
  let stamp = fileStamp(input.files);
  let checkedAt = now();
  let warnedDue = '';
  return {
    initial,
    current(): RevocationPolicy {
      if (input.files.length === 0 || now() - checkedAt < intervalMs) return policy;
      checkedAt = now();
      const next = fileStamp(input.files);
      if (next !== stamp) {
        try {
          const loaded = loadRevocationPolicy(input);
          const older = rollback(policy, loaded, now());
          if (older !== undefined) {
            // The stamp stays: looked at again next time (a dropped serial is accepted once
            // every held CRL naming it is past its nextUpdate).
            input.logger.warn({ option: input.option, reason: older }, '*** CRL files changed to an older set: refused, the previous CRLs stay in use ***');
          } else {
            policy = loaded;
            stamp = next;
            input.logger.info({ option: input.option, crls: policy.crls.length }, 'CRL files changed: loaded again');
          }
        } catch (err) {
          // The stamp stays: the files are tried again at the next look.
          input.logger.warn({ option: input.option, code: err instanceof ShadowplaneError ? err.code : 'SP_INTERNAL' }, 'CRL files changed but do not load: the previous CRLs stay in use');
        }
      }
      const due = policy.crls.filter((c) => c.nextUpdate !== undefined && c.nextUpdate.getTime() <= now()).length;
      if (due > 0 && warnedDue !== policy.digest) {
        warnedDue = policy.digest;
        input.logger.warn({ option: input.option, due }, '*** configured CRLs are past their nextUpdate: every chain they cover is refused until current ones replace them ***');
      }
      return policy;
    },
  };
}

/**
 * Why `next` would take revocations back from `held`: an issuer whose newest CRL in `next`
 * is older than in `held`, or that `held` covers and `next` does not, or a serial that a
 * held CRL still current at `nowMs` revokes and no CRL of that issuer in `next` does (an
 * issuer may sign several lists, AMD's ARK two: a newer list of one must not stand in for
 * the other); undefined when it does none of these. (An issuer drops a serial from its
 * list only once the certificate expired; the held list naming it then ends at its
 * nextUpdate, and the new set is taken at the next look.)
 */
function rollback(held: RevocationPolicy, next: RevocationPolicy, nowMs: number): string | undefined {
  const newest = (p: RevocationPolicy): Map<string, number> => {
    const out = new Map<string, number>();
    for (const c of p.crls) {
      const key = c.issuer.toString('hex');
      out.set(key, Math.max(out.get(key) ?? -Infinity, c.thisUpdate.getTime()));
    }
    return out;
  };
  const after = newest(next);
  for (const [issuer, time] of newest(held)) {
    const t = after.get(issuer);
    if (t === undefined) return 'an issuer\'s CRL is missing';
    if (t < time) return 'an issuer\'s CRL is older than the one held';
  }
  const revokedBy = (crls: readonly Crl[], current: boolean): Map<string, Set<string>> => {
    const out = new Map<string, Set<string>>();
    for (const c of crls) {
      if (current && c.nextUpdate !== undefined && c.nextUpdate.getTime() <= nowMs) continue;
      const key = c.issuer.toString('hex');
      const set = out.get(key) ?? new Set<string>();
      for (const serial of c.revoked) set.add(serial);
      out.set(key, set);
    }
    return out;
  };
  const nextRevoked = revokedBy(next.crls, false);
  for (const [issuer, serials] of revokedBy(held.crls, true)) {
    const kept = nextRevoked.get(issuer);
    for (const serial of serials) if (kept?.has(serial) !== true) return 'a serial a current CRL revokes is missing from the new set';
  }
  return undefined;
}

/** What identifies the files' present contents cheaply: device, inode, size and modification time of each (a missing one noted as such). */
function fileStamp(files: readonly string[]): string {
  return files
    .map((path) => {
      try {
        const st = statSync(path);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch (err) {
        return `error:${(err as NodeJS.ErrnoException).code ?? ''}`;
      }
    })
    .join('|');
}
