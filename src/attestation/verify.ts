/**
 * `verifyEvidence`: one entry point for every platform. The cryptographic part is
 * per platform (snp/verify.ts, tdx/verify.ts); the judging of claims against reference
 * values happens here, entry by entry.
 *
 * Invariants:
 * - `simulated` evidence is refused before any parsing unless `allowSimulated` is true, and
 *   then it is checked against the simulated ARKs pinned in the reference values only.
 * - Report data is compared in constant time against the caller's expected 64 bytes.
 * - DEBUG must be off, always; no reference value can relax it. Neither can a TD be
 *   MIGRATABLE or have a service TD bound (MRSERVICETD): both hand its state to another TD.
 *   Nor can an SEV-SNP guest policy set a reserved bit (26–63): its meaning is unknown here.
 * - SEV-SNP: LAUNCH_TCB is held to the same minimum as REPORTED_TCB, since firmware updated
 *   live after launch does not undo what the launch firmware could do to the guest.
 * - When no entry accepts the evidence, the error is the one from the entry that got
 *   furthest through the checks, so the code names the real difference.
 */
import { ShadowplaneError, type ErrorCode } from '../errors.ts';
import { equalBytes, hex, isZero, shortHex } from './bytes.ts';
import { parseCrl, type Crl } from './crl.ts';
import { NO_REVOCATION_POLICY } from './revocation.ts';
import type { TrustAnchor } from './chain.ts';
import { checkEvidence } from './evidence.ts';
import type { ReferenceEntry, SnpPolicyExpectations, SnpReferenceEntry, TdxReferenceEntry } from './reference-values.ts';
import { decodePolicy, decodeTcb, reportHex, type SnpReport } from './snp/report.ts';
import { verifySnpCrypto, type SnpCryptoResult } from './snp/verify.ts';
import { TD_ATTRIBUTE } from './tdx/quote.ts';
import { verifyTdxCrypto, type TdxCryptoResult } from './tdx/verify.ts';
import type { Evidence, SnpTcb, VerifiedEvidence, VerifyOptions } from './types.ts';

interface Verdict {
  readonly stage: number;
  readonly error?: ShadowplaneError;
}

function tcbText(t: SnpTcb, withFmc: boolean): string {
  return `${withFmc ? `fmc=${t.fmc ?? 0} ` : ''}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;
}

/** The components of `t` below `min` (fmc only on Turin, where it exists). */
function belowMinimum(t: SnpTcb, min: SnpTcb, turin: boolean): string[] {
  return [
    ...(turin && (t.fmc ?? 0) < (min.fmc ?? 0) ? ['fmc'] : []),
    ...(t.bootloader < min.bootloader ? ['bootloader'] : []),
    ...(t.tee < min.tee ? ['tee'] : []),
    ...(t.snp < min.snp ? ['snp'] : []),
    ...(t.microcode < min.microcode ? ['microcode'] : []),
  ];
}

function plural(n: number, word: string): string {
  return `${n} reference ${word}${n === 1 ? '' : 's'}`;
}

/**
 * GUEST_POLICY bits 21–25 (SEV-SNP firmware ABI; Linux `SNP_POLICY_MASK_*`) and the entry
 * field that judges each: an `allow` bit relaxes a guarantee and is refused unless the
 * field accepts it; a `require` bit hardens and is required only when the field says so.
 * Why the defaults are what they are: `SnpPolicyExpectations`.
 */
const SNP_POLICY_FLAGS = [
  { bit: 21n, name: 'CXL_ALLOW', field: 'cxl', kind: 'allow', what: 'lets CXL devices or memory be populated' },
  { bit: 22n, name: 'MEM_AES_256_XTS', field: 'memAes256Xts', kind: 'require', what: 'requires AES-256-XTS memory encryption' },
  { bit: 23n, name: 'RAPL_DIS', field: 'raplDisabled', kind: 'require', what: 'requires RAPL disabled' },
  { bit: 24n, name: 'CIPHERTEXT_HIDING_DRAM', field: 'ciphertextHiding', kind: 'require', what: 'requires ciphertext hiding' },
  { bit: 25n, name: 'PAGE_SWAP_DISABLE', field: 'pageSwapDisabled', kind: 'require', what: 'disables page swap and move' },
] as const satisfies readonly { bit: bigint; field: keyof SnpPolicyExpectations; kind: 'allow' | 'require'; name: string; what: string }[];

/** GUEST_POLICY bits 26–63: reserved, must be zero. */
const SNP_POLICY_RESERVED = ((1n << 64n) - 1n) ^ ((1n << 26n) - 1n);

/**
 * Judges GUEST_POLICY bits 16–25 beyond DEBUG against an entry's expectations; returns why
 * it refuses, or undefined. Pure, so that real reports can be run through it.
 */
export function snpPolicyRefusal(policy: bigint, expect: SnpPolicyExpectations): string | undefined {
  const p = decodePolicy(policy);
  if (p.migrationAgent && !expect.migrationAgent) return `guest policy ${p.raw} allows a migration agent; the reference values do not (policy.migrationAgent)`;
  if (p.smt && !expect.smt) return `guest policy ${p.raw} allows SMT; the reference values do not (policy.smt)`;
  if (!p.singleSocket && expect.singleSocket) return `guest policy ${p.raw} does not require a single socket; the reference values do (policy.singleSocket)`;
  for (const flag of SNP_POLICY_FLAGS) {
    const set = ((policy >> flag.bit) & 1n) === 1n;
    if (flag.kind === 'allow' && set && !expect[flag.field]) {
      return `guest policy ${p.raw} sets ${flag.name} (${flag.what}); the reference values do not accept it (policy.${flag.field})`;
    }
    if (flag.kind === 'require' && !set && expect[flag.field]) {
      return `guest policy ${p.raw} does not set ${flag.name} (${flag.what}); the reference values require it (policy.${flag.field})`;
    }
  }
  return undefined;
}

/** Judges one SNP-shaped entry; returns how far the evidence got and why it stopped. */
function judgeSnp(entry: SnpReferenceEntry, c: SnpCryptoResult): Verdict {
  const r = c.report;
  const fail = (stage: number, code: ErrorCode, detail: string): Verdict => ({ stage, error: new ShadowplaneError(code, detail) });
  if (!entry.products.includes(c.product)) {
    return fail(0, 'SP_ATTEST_PLATFORM_UNSUPPORTED', `product ${c.product} is not one of the reference products (${entry.products.join(', ')})`);
  }
  if (!entry.signingKeys.includes(c.signingKey)) {
    return fail(1, 'SP_ATTEST_POLICY_MISMATCH', `${c.signingKey.toUpperCase()}-signed reports are not accepted (reference: ${entry.signingKeys.join(', ')})`);
  }
  const measurement = hex(r.measurement);
  if (!entry.measurements.includes(measurement)) {
    return fail(2, 'SP_ATTEST_MEASUREMENT_MISMATCH', `measurement ${shortHex(measurement)} is not one of the ${plural(entry.measurements.length, 'measurement')}`);
  }
  const hostData = hex(r.hostData);
  if (entry.hostData !== undefined && !entry.hostData.includes(hostData)) {
    return fail(3, 'SP_ATTEST_HOST_DATA_MISMATCH', `host data ${shortHex(hostData)} is not one of the ${plural(entry.hostData.length, 'host data value')}`);
  }
  const policyRefusal = snpPolicyRefusal(r.policy, entry.policy);
  if (policyRefusal !== undefined) return fail(4, 'SP_ATTEST_POLICY_MISMATCH', policyRefusal);
  if (entry.vmpl !== undefined && r.vmpl !== entry.vmpl) {
    return fail(4, 'SP_ATTEST_POLICY_MISMATCH', `the report was requested at VMPL ${r.vmpl}, the reference values require VMPL ${entry.vmpl}`);
  }
  const idBlock = judgeIdBlock(entry, r);
  if (idBlock !== undefined) return fail(4, 'SP_ATTEST_POLICY_MISMATCH', idBlock);
  const t = c.reportedTcb;
  const min = entry.minimumTcb;
  const turin = c.product === 'Turin';
  const low = belowMinimum(t, min, turin);
  if (low.length > 0) {
    return fail(5, 'SP_ATTEST_TCB_TOO_LOW', `reported TCB ${tcbText(t, turin)} is below the minimum ${tcbText(min, turin)} (${low.join(', ')})`);
  }
  // The host can launch the guest under vulnerable firmware and update it live before the
  // report is taken; REPORTED_TCB then looks current but the launch was not protected.
  const launch = decodeTcb(r.launchTcb, c.product);
  const launchLow = belowMinimum(launch, min, turin);
  if (launchLow.length > 0) {
    return fail(
      5,
      'SP_ATTEST_TCB_TOO_LOW',
      `launch TCB ${tcbText(launch, turin)} is below the minimum ${tcbText(min, turin)} (${launchLow.join(', ')}): the guest was launched under older firmware than the reference values accept`,
    );
  }
  // GUEST_SVN is the ID block signer's version of the guest image (pinned with its signer).
  if (entry.minimumGuestSvn !== undefined && r.guestSvn < entry.minimumGuestSvn) {
    return fail(5, 'SP_ATTEST_TCB_TOO_LOW', `guest SVN ${r.guestSvn} is below the minimum ${entry.minimumGuestSvn} (minimumGuestSvn): the ID block marks this guest image older than the reference values accept`);
  }
  if (entry.chipIds !== undefined) {
    if (c.hwId === undefined) {
      return fail(6, 'SP_ATTEST_CHIP_ID_MISMATCH', 'the reference values pin chip IDs but a VLEK-signed report carries no chip identity');
    }
    const ids = [hex(c.hwId), hex(r.chipId)];
    if (!entry.chipIds.some((pin) => ids.includes(pin))) {
      return fail(6, 'SP_ATTEST_CHIP_ID_MISMATCH', `chip ${shortHex(ids[0]!)} is not one of the ${plural(entry.chipIds.length, 'chip ID')}`);
    }
  }
  return { stage: 7 };
}

/**
 * The ID block pins: the signing keys (the author key only where AUTHOR_KEY_EN says the
 * firmware checked one), then the values they signed. Returns why it refuses, or undefined.
 */
function judgeIdBlock(entry: SnpReferenceEntry, r: SnpReport): string | undefined {
  const pinned = (field: string, what: string, pins: readonly string[] | undefined, got: Buffer): string | undefined => {
    const value = hex(got);
    return pins === undefined || pins.includes(value) ? undefined : `${what} ${shortHex(value)} is not one of the ${plural(pins.length, what)} (${field})`;
  };
  const idKey = pinned('idKeyDigests', 'ID key digest', entry.idKeyDigests, r.idKeyDigest);
  if (idKey !== undefined) return idKey;
  if (entry.authorKeyDigests !== undefined && !r.authorKeyEnabled) {
    return 'the report has no author key (AUTHOR_KEY_EN clear: the firmware checked no author signature on the ID key); the reference values pin one (authorKeyDigests)';
  }
  return (
    pinned('authorKeyDigests', 'author key digest', entry.authorKeyDigests, r.authorKeyDigest) ??
    pinned('familyIds', 'family ID', entry.familyIds, r.familyId) ??
    pinned('imageIds', 'image ID', entry.imageIds, r.imageId)
  );
}

/** Judges one TDX entry. */
function judgeTdx(entry: TdxReferenceEntry, c: TdxCryptoResult): Verdict {
  const b = c.quote.body;
  const fail = (stage: number, code: ErrorCode, detail: string): Verdict => ({ stage, error: new ShadowplaneError(code, detail) });
  const mrtd = hex(b.mrtd);
  if (!entry.mrtd.includes(mrtd)) return fail(0, 'SP_ATTEST_MEASUREMENT_MISMATCH', `MRTD ${shortHex(mrtd)} is not one of the ${plural(entry.mrtd.length, 'MRTD')}`);
  const rtmrs = [entry.rtmr0, entry.rtmr1, entry.rtmr2, entry.rtmr3];
  for (let i = 0; i < 4; i++) {
    const want = rtmrs[i];
    const got = hex(b.rtmr[i]!);
    if (want !== undefined && !want.includes(got)) return fail(1, 'SP_ATTEST_MEASUREMENT_MISMATCH', `RTMR${i} ${shortHex(got)} is not one of the ${plural(want.length, `RTMR${i} value`)}`);
  }
  const mrSeam = hex(b.mrSeam);
  if (entry.mrSeam !== undefined && !entry.mrSeam.includes(mrSeam)) {
    return fail(1, 'SP_ATTEST_MEASUREMENT_MISMATCH', `MRSEAM ${shortHex(mrSeam)} (the TDX module's measurement) is not one of the ${plural(entry.mrSeam.length, 'MRSEAM value')} (mrSeam)`);
  }
  const configId = hex(b.mrConfigId);
  if (entry.mrConfigId !== undefined && !entry.mrConfigId.includes(configId)) {
    return fail(2, 'SP_ATTEST_HOST_DATA_MISMATCH', `MRCONFIGID ${shortHex(configId)} is not one of the ${plural(entry.mrConfigId.length, 'MRCONFIGID')}`);
  }
  const owner = hex(b.mrOwner);
  if (entry.mrOwner !== undefined && !entry.mrOwner.includes(owner)) return fail(3, 'SP_ATTEST_POLICY_MISMATCH', `MROWNER ${shortHex(owner)} is not one of the ${plural(entry.mrOwner.length, 'MROWNER')}`);
  const ownerConfig = hex(b.mrOwnerConfig);
  if (entry.mrOwnerConfig !== undefined && !entry.mrOwnerConfig.includes(ownerConfig)) {
    return fail(3, 'SP_ATTEST_POLICY_MISMATCH', `MROWNERCONFIG ${shortHex(ownerConfig)} is not one of the ${plural(entry.mrOwnerConfig.length, 'MROWNERCONFIG')}`);
  }
  const masked = [
    ['tdAttributes', 'TD attributes', 'are', entry.tdAttributes, b.tdAttributes],
    ['xfam', 'XFAM', 'is', entry.xfam, b.xfam],
  ] as const;
  for (const [field, name, verb, pin, got] of masked) {
    if (pin !== undefined && (got.readBigUInt64LE(0) & BigInt(`0x${pin.mask}`)) !== BigInt(`0x${pin.value}`)) {
      return fail(3, 'SP_ATTEST_POLICY_MISMATCH', `${name} ${u64Of(got)} under mask 0x${pin.mask} ${verb} not the reference value 0x${pin.value} (${field})`);
    }
  }
  // Collateral is chosen by the prover: without a floor it could keep sending a TCB Info or
  // QE Identity from before a TCB recovery, still inside its validity, that rates it better.
  const floor = entry.minimumTcbEvaluationDataNumber;
  if (floor !== undefined) {
    for (const [what, n] of [['TCB Info', c.evaluationDataNumbers.tcbInfo], ['QE Identity', c.evaluationDataNumbers.qeIdentity]] as const) {
      if (n < floor) {
        return fail(
          4,
          'SP_ATTEST_COLLATERAL_INVALID',
          `the ${what} is from TCB evaluation ${n}, below the minimum ${floor} (minimumTcbEvaluationDataNumber): it predates a TCB recovery; send current collateral`,
        );
      }
    }
  }
  if (!(entry.acceptableTcbStatuses as readonly string[]).includes(c.tcb.status)) {
    return fail(4, 'SP_ATTEST_TCB_STATUS', `TCB status ${c.tcb.status} is not acceptable (${entry.acceptableTcbStatuses.join(', ')})${c.tcb.advisoryIds.length > 0 ? `; advisories ${c.tcb.advisoryIds.slice(0, 8).join(', ')}` : ''}`);
  }
  return { stage: 5 };
}

function u64Of(b: Buffer): string {
  return `0x${b.readBigUInt64LE(0).toString(16).padStart(16, '0')}`;
}

function tdxResult(c: TdxCryptoResult, entry: TdxReferenceEntry): VerifiedEvidence {
  const b = c.quote.body;
  return {
    platform: 'tdx',
    simulated: false,
    reportVersion: c.quote.version,
    measurement: hex(b.mrtd),
    hostData: hex(b.mrConfigId),
    chipId: undefined,
    reportData: hex(b.reportData),
    tcb: { status: c.tcb.status },
    policy: u64Of(b.tdAttributes),
    referenceName: entry.name,
    notAfter: c.notAfter.toISOString(),
    tdx: {
      quoteVersion: c.quote.version,
      teeTcbSvn: hex(b.teeTcbSvn),
      mrSeam: hex(b.mrSeam),
      mrSignerSeam: hex(b.mrSignerSeam),
      seamAttributes: u64Of(b.seamAttributes),
      tdAttributes: u64Of(b.tdAttributes),
      xfam: u64Of(b.xfam),
      mrtd: hex(b.mrtd),
      mrConfigId: hex(b.mrConfigId),
      mrOwner: hex(b.mrOwner),
      mrOwnerConfig: hex(b.mrOwnerConfig),
      rtmr: [hex(b.rtmr[0]), hex(b.rtmr[1]), hex(b.rtmr[2]), hex(b.rtmr[3])],
      ...(b.mrServiceTd !== undefined ? { mrServiceTd: hex(b.mrServiceTd) } : {}),
      ...(b.teeTcbSvn2 !== undefined ? { teeTcbSvn2: hex(b.teeTcbSvn2) } : {}),
      tcbStatus: c.tcb.status,
      qeTcbStatus: c.tcb.qeStatus,
      advisoryIds: c.tcb.advisoryIds,
      fmspc: c.pck.fmspc,
    },
  };
}

/** Picks the accepting entry, or throws the most informative failure. */
function choose<E extends ReferenceEntry>(entries: readonly E[], judge: (e: E) => Verdict): E {
  let best: { entry: E; verdict: Verdict } | undefined;
  for (const entry of entries) {
    const verdict = judge(entry);
    if (verdict.error === undefined) return entry;
    if (best === undefined || verdict.stage > best.verdict.stage) best = { entry, verdict };
  }
  const err = best!.verdict.error!;
  if (entries.length === 1) throw err;
  throw new ShadowplaneError(err.code, `${err.detail ?? ''} (closest of ${entries.length} reference entries: '${best!.entry.name}')`);
}

function snpResult(e: Evidence, c: SnpCryptoResult, entry: SnpReferenceEntry): VerifiedEvidence {
  const r = c.report;
  const h = reportHex(r);
  return {
    platform: e.platform,
    simulated: e.platform === 'simulated',
    reportVersion: r.version,
    measurement: h.measurement,
    hostData: h.hostData,
    chipId: c.hwId === undefined ? undefined : hex(c.hwId),
    reportData: h.reportData,
    tcb: c.reportedTcb,
    policy: decodePolicy(r.policy).raw,
    referenceName: entry.name,
    notAfter: c.chainNotAfter.toISOString(),
    snp: {
      product: c.product,
      signingKey: c.signingKey,
      vmpl: r.vmpl,
      guestSvn: r.guestSvn,
      policy: decodePolicy(r.policy),
      reportedTcb: c.reportedTcb,
      currentTcb: decodeTcb(r.currentTcb, c.product),
      committedTcb: decodeTcb(r.committedTcb, c.product),
      launchTcb: decodeTcb(r.launchTcb, c.product),
      platformInfo: h.platformInfo,
      familyId: hex(r.familyId),
      imageId: hex(r.imageId),
      idKeyDigest: hex(r.idKeyDigest),
      authorKeyDigest: hex(r.authorKeyDigest),
      reportId: hex(r.reportId),
      reportChipId: h.chipId,
      ...(r.cpuid !== undefined ? { cpuid: r.cpuid } : {}),
      ...(r.launchMitVector !== undefined ? { launchMitVector: `0x${r.launchMitVector.toString(16).padStart(16, '0')}` } : {}),
      ...(r.currentMitVector !== undefined ? { currentMitVector: `0x${r.currentMitVector.toString(16).padStart(16, '0')}` } : {}),
      rootSha256: c.rootSha256,
    },
  };
}

/**
 * Verifies evidence end to end: chain to a trusted root, signature, freshness binding
 * (`reportData`), DEBUG off, then the claims against the reference values. Throws a
 * ShadowplaneError with an `SP_ATTEST_*` code and a one-line detail on any failure.
 */
export function verifyEvidence(evidence: Evidence, opts: VerifyOptions): Promise<VerifiedEvidence> {
  try {
    return Promise.resolve(verifyEvidenceSync(evidence, opts));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new ShadowplaneError('SP_INTERNAL'));
  }
}

/**
 * The same as `verifyEvidence`, synchronously: every check runs on data already in hand
 * (shipped roots, evidence, collateral). For callers inside synchronous TLS callbacks.
 */
export function verifyEvidenceSync(evidence: Evidence, opts: VerifyOptions): VerifiedEvidence {
  return verifyWithTrust(evidence, opts, {});
}

/**
 * Where trust comes from. Production uses the shipped roots (the empty default); the TDX
 * anchors can be injected so that tests can run Intel-shaped chains of their own through
 * exactly this code. Not exported from index.ts.
 */
export interface TrustStore {
  readonly intel?: readonly TrustAnchor[];
}

/** `verifyEvidenceSync` with an explicit trust store. */
export function verifyWithTrust(evidence: Evidence, opts: VerifyOptions, trust: TrustStore): VerifiedEvidence {
  if (!Buffer.isBuffer(opts.reportData) || opts.reportData.length !== 64) {
    throw new ShadowplaneError('SP_INTERNAL', 'the expected report data must be exactly 64 bytes');
  }
  if (evidence?.platform === 'simulated' && opts.allowSimulated !== true) {
    throw new ShadowplaneError('SP_ATTEST_SIMULATED_REFUSED', 'the peer presented simulated evidence, which no TEE protects; allow it only for development');
  }
  const e = checkEvidence(evidence);
  const now = opts.now ?? new Date();
  const entries = opts.reference.entries.filter((x) => x.platform === e.platform);
  if (entries.length === 0) {
    throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `the reference values (${opts.reference.source}) accept no ${e.platform} evidence`);
  }
  const revocation = opts.revocation ?? NO_REVOCATION_POLICY;
  const crls: Crl[] = [...(e.collateral?.crls ?? []).map((der, i) => parseCrl(der, `evidence CRL ${i}`)), ...revocation.crls];
  const requireCrls = revocation.requireCrls;

  switch (e.platform) {
    case 'sev-snp':
    case 'simulated': {
      const snpEntries = entries as SnpReferenceEntry[];
      const c = verifySnpCrypto(e, { now, crls, requireCrls, simulatedRoots: snpEntries.map((x) => x.simulatedRootSha256).filter((x) => x !== undefined) });
      if (!equalBytes(c.report.reportData, opts.reportData)) {
        throw new ShadowplaneError(
          'SP_ATTEST_REPORT_DATA_MISMATCH',
          `report data ${shortHex(hex(c.report.reportData))} is not the expected ${shortHex(hex(opts.reportData))}: the evidence is stale, replayed or bound to another key`,
        );
      }
      const policy = decodePolicy(c.report.policy);
      if (policy.debug) throw new ShadowplaneError('SP_ATTEST_DEBUG_ENABLED', `guest policy ${policy.raw} allows the host to debug (decrypt) the guest`);
      if ((c.report.policy & (1n << 17n)) === 0n) throw new ShadowplaneError('SP_ATTEST_POLICY_MISMATCH', `guest policy ${policy.raw} has reserved bit 17 clear`);
      // Reserved (must be zero) in the ABI this verifier knows; firmware that sets one gives it
      // a meaning this verifier cannot judge, possibly a relaxation like CXL_ALLOW.
      if ((c.report.policy & SNP_POLICY_RESERVED) !== 0n) {
        throw new ShadowplaneError('SP_ATTEST_POLICY_MISMATCH', `guest policy ${policy.raw} sets reserved bits (26–63) whose meaning this verifier does not know`);
      }
      const entry = choose(snpEntries, (x) => judgeSnp(x, c));
      if (e.platform === 'simulated') {
        opts.logger?.warn({ platform: 'simulated', reference: entry.name }, 'accepted SIMULATED attestation evidence: no TEE protects this peer');
      }
      return snpResult(e, c, entry);
    }
    case 'tdx': {
      const c = verifyTdxCrypto(e, { now, crls, requireCrls, ...(trust.intel !== undefined ? { anchors: trust.intel } : {}) });
      if (!equalBytes(c.quote.body.reportData, opts.reportData)) {
        throw new ShadowplaneError(
          'SP_ATTEST_REPORT_DATA_MISMATCH',
          `report data ${shortHex(hex(c.quote.body.reportData))} is not the expected ${shortHex(hex(opts.reportData))}: the evidence is stale, replayed or bound to another key`,
        );
      }
      const attributes = c.quote.body.tdAttributes.readBigUInt64LE(0);
      if ((attributes & TD_ATTRIBUTE.debug) !== 0n) {
        throw new ShadowplaneError('SP_ATTEST_DEBUG_ENABLED', `TD attributes ${u64Of(c.quote.body.tdAttributes)} have DEBUG set: the host can read the TD`);
      }
      // A migratable TD's state can be exported to another platform through a migration TD
      // that the host chooses, outside the guarantees of this quote; no entry can allow it.
      if ((attributes & TD_ATTRIBUTE.migratable) !== 0n) {
        throw new ShadowplaneError('SP_ATTEST_POLICY_MISMATCH', `TD attributes ${u64Of(c.quote.body.tdAttributes)} have MIGRATABLE set: the TD's state can be exported to another platform`);
      }
      // A bound service TD (TDX 1.5, e.g. a migration TD) can read and export this TD's state.
      const serviceTd = c.quote.body.mrServiceTd;
      if (serviceTd !== undefined && !isZero(serviceTd)) {
        throw new ShadowplaneError('SP_ATTEST_POLICY_MISMATCH', `MRSERVICETD ${shortHex(hex(serviceTd))} is not zero: a service TD is bound to this TD and can read its state`);
      }
      if (c.tcb.status === 'Revoked') throw new ShadowplaneError('SP_ATTEST_TCB_STATUS', 'the platform TCB is revoked');
      const entry = choose(entries as TdxReferenceEntry[], (x) => judgeTdx(x, c));
      return tdxResult(c, entry);
    }
  }
}
