/**
 * The TDX TCB status, judged the way Intel's Quote Verification Library does from signed
 * collateral (TCB Info v3 and QE Identity v2):
 *
 * 1. the QE must be the TD quoting enclave the QE Identity describes; its status is the
 *    first QE TCB level whose ISVSVN is at or below the QE report's;
 * 2. the TDX module: when TEE_TCB_SVN[1] (the module major version) is non-zero and the TCB
 *    Info lists module identities, the identity `TDX_<major>` must match MRSIGNERSEAM and
 *    SEAMATTRIBUTES and its status is the first level at or below TEE_TCB_SVN[0];
 *    otherwise the plain `tdxModule` signer and attributes must match;
 * 3. the platform: the first TCB level whose 16 SGX components and PCESVN are at or below
 *    the PCK certificate's, and whose TDX components are at or below TEE_TCB_SVN (from
 *    index 2 when the module major version is non-zero: 0 and 1 belong to step 2);
 * 4. an OutOfDate module or QE turns UpToDate/SWHardeningNeeded into OutOfDate and the
 *    Configuration* statuses into OutOfDateConfigurationNeeded; Revoked anywhere is Revoked.
 */
import { ShadowplaneError } from '../../errors.ts';
import { equalBytes, hex, shortHex } from '../bytes.ts';
import type { QeIdentity, TdxTcbInfo } from './collateral.ts';
import type { PckExtensions } from './pck.ts';
import type { QeReport, TdxBody } from './quote.ts';

export interface TdxTcbVerdict {
  readonly status: string;
  readonly platformStatus: string;
  readonly moduleStatus: string | undefined;
  readonly qeStatus: string;
  readonly advisoryIds: readonly string[];
}

function masked(value: Buffer, mask: Buffer): Buffer {
  return Buffer.from(value.map((b, i) => b & (mask[i] ?? 0)));
}

function converge(status: string, other: string | undefined): string {
  if (other === 'Revoked' || status === 'Revoked') return 'Revoked';
  if (other !== 'OutOfDate') return status;
  if (status === 'UpToDate' || status === 'SWHardeningNeeded') return 'OutOfDate';
  if (status === 'ConfigurationNeeded' || status === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  return status;
}

const tcbError = (detail: string): ShadowplaneError => new ShadowplaneError('SP_ATTEST_TCB_STATUS', detail);

/** Steps 1–4 above. Mismatched collateral gives SP_ATTEST_COLLATERAL_INVALID; a QE that is not Intel's TD QE, SP_ATTEST_CHAIN_INVALID. */
export function evaluateTdxTcb(input: {
  readonly tcbInfo: TdxTcbInfo;
  readonly qeIdentity: QeIdentity;
  readonly pck: PckExtensions;
  readonly body: TdxBody;
  readonly qeReport: QeReport;
}): TdxTcbVerdict {
  const { tcbInfo, qeIdentity, pck, body, qeReport } = input;
  if (tcbInfo.fmspc !== pck.fmspc || tcbInfo.pceId !== pck.pceId) {
    throw new ShadowplaneError(
      'SP_ATTEST_COLLATERAL_INVALID',
      `the TCB Info is for FMSPC ${tcbInfo.fmspc}/PCE ${tcbInfo.pceId}, the PCK certificate is for ${pck.fmspc}/${pck.pceId}`,
    );
  }

  // 1. The quoting enclave.
  if (
    !equalBytes(masked(qeReport.miscSelect, qeIdentity.miscSelectMask), qeIdentity.miscSelect) ||
    !equalBytes(masked(qeReport.attributes, qeIdentity.attributesMask), qeIdentity.attributes) ||
    !equalBytes(qeReport.mrSigner, qeIdentity.mrSigner) ||
    qeReport.isvProdId !== qeIdentity.isvProdId
  ) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the quoting enclave (signer ${shortHex(hex(qeReport.mrSigner))}) is not the TD QE that Intel's QE Identity describes`);
  }
  const qeLevel = qeIdentity.tcbLevels.find((l) => l.isvSvn <= qeReport.isvSvn);
  if (qeLevel === undefined) throw tcbError(`the quoting enclave ISVSVN ${qeReport.isvSvn} is below every QE TCB level`);

  // 2. The TDX module.
  const moduleSvn = body.teeTcbSvn[0]!;
  const moduleMajor = body.teeTcbSvn[1]!;
  let moduleStatus: string | undefined;
  let moduleAdvisories: readonly string[] = [];
  let signer = tcbInfo.tdxModule;
  if (moduleMajor > 0 && tcbInfo.moduleIdentities.length > 0) {
    const id = `TDX_${moduleMajor.toString(16).padStart(2, '0')}`.toUpperCase();
    const identity = tcbInfo.moduleIdentities.find((m) => m.id.toUpperCase() === id);
    if (identity === undefined) throw tcbError(`TDX module ${id} is not listed in the TCB Info`);
    signer = identity;
    const level = identity.tcbLevels.find((l) => l.isvSvn <= moduleSvn);
    if (level === undefined) throw tcbError(`TDX module ${id} SVN ${moduleSvn} is below every module TCB level`);
    moduleStatus = level.status;
    moduleAdvisories = level.advisoryIds;
  }
  if (!equalBytes(signer.mrSigner, body.mrSignerSeam) || !equalBytes(masked(body.seamAttributes, signer.attributesMask), signer.attributes)) {
    throw tcbError(`the TDX module (signer ${shortHex(hex(body.mrSignerSeam))}) is not the one the TCB Info describes`);
  }

  // 3. The platform.
  const skip = moduleMajor > 0 ? 2 : 0;
  const level = tcbInfo.tcbLevels.find(
    (l) =>
      l.sgxComponents.every((svn, i) => (pck.components[i] ?? 0) >= svn) &&
      pck.pceSvn >= l.pceSvn &&
      l.tdxComponents.every((svn, i) => i < skip || body.teeTcbSvn[i]! >= svn),
  );
  if (level === undefined) throw tcbError('the platform TCB is below every TCB level Intel lists for it (unrecognised)');

  // 4. Converge.
  const status = converge(converge(level.status, moduleStatus), qeLevel.status);
  return {
    status,
    platformStatus: level.status,
    moduleStatus,
    qeStatus: qeLevel.status,
    advisoryIds: [...new Set([...level.advisoryIds, ...moduleAdvisories, ...qeLevel.advisoryIds])],
  };
}
