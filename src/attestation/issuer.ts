/**
 * Chooses the evidence issuer for this process: the `--tee` override when given, else the
 * TEE the machine is (configfs-tsm provider or guest device). Automatic detection never
 * picks `simulated`: simulation is always an explicit choice.
 */
import { ShadowplaneError } from '../errors.ts';
import { createSimulatedIssuer, type SimulatedIssuerOptions } from './simulated.ts';
import { createTsmIssuer, detectPlatform, type TsmFs, type TsmIssuerOptions } from './tsm.ts';
import type { EvidenceIssuer, Platform } from './types.ts';

export type TeeChoice = Platform | 'auto';

export interface IssuerFactoryOptions {
  /** `--tee`: sev-snp | tdx | simulated | auto. Default auto. */
  readonly tee?: TeeChoice;
  /** Required for `simulated`. */
  readonly simulated?: SimulatedIssuerOptions;
  /** configfs-tsm settings for sev-snp and tdx. */
  readonly tsm?: Omit<TsmIssuerOptions, 'platform'>;
  /** Where detection looks (tests point it at an imitation). */
  readonly detect?: { readonly root?: string; readonly devDir?: string; readonly fs?: TsmFs };
}

/** The issuer for `opts.tee`; SP_ATTEST_UNAVAILABLE when the machine cannot produce that evidence. */
export async function createIssuer(opts: IssuerFactoryOptions = {}): Promise<EvidenceIssuer> {
  const tee = opts.tee ?? 'auto';
  if (tee === 'simulated') {
    if (opts.simulated === undefined) throw new ShadowplaneError('SP_USAGE', '--tee simulated needs a directory made by `shadowplane simulate init`');
    return createSimulatedIssuer(opts.simulated);
  }
  const detected = await detectPlatform({
    ...(opts.tsm?.root !== undefined ? { root: opts.tsm.root } : {}),
    ...(opts.tsm?.fs !== undefined ? { fs: opts.tsm.fs } : {}),
    ...opts.detect,
  });
  if (tee === 'auto') {
    if (detected === undefined) {
      throw new ShadowplaneError('SP_ATTEST_UNAVAILABLE', 'no SEV-SNP or TDX guest interface found; for development use --tee simulated');
    }
    return createTsmIssuer({ ...opts.tsm, platform: detected });
  }
  if (detected !== undefined && detected !== tee) {
    throw new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `--tee ${tee} was requested but this machine is ${detected}`);
  }
  return createTsmIssuer({ ...opts.tsm, platform: tee });
}
