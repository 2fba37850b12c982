/**
 * Chooses where a process's own attestation evidence comes from (`--tee`), and says so
 * loudly when it is the simulator.
 */
import { createIssuer as createPlatformIssuer, SIMULATED_DEFAULT_MEASUREMENT, type EvidenceIssuer } from '../attestation/index.ts';
import type { TeeChoice } from '../config/option-values.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';

export const SIMULATED_BANNER =
  '*** SIMULATED ATTESTATION: this process runs outside any TEE and its evidence proves nothing. Development and tests only. ***';

export async function createIssuer(opts: { tee: TeeChoice; simulatedDir: string | undefined | null; simulatedMeasurement?: string | null; logger: Logger }): Promise<EvidenceIssuer> {
  if (opts.tee === 'simulated') {
    if (opts.simulatedDir === undefined || opts.simulatedDir === null) {
      throw new ShadowplaneError('SP_USAGE', '--tee simulated needs --simulated-dir DIR (made by `shadowplane simulate init DIR`)');
    }
    opts.logger.warn({ platform: 'simulated' }, SIMULATED_BANNER);
  }
  const issuer = await createPlatformIssuer({
    tee: opts.tee,
    ...(opts.simulatedDir === undefined || opts.simulatedDir === null ? {} : { simulated: { dir: opts.simulatedDir, measurement: opts.simulatedMeasurement ?? SIMULATED_DEFAULT_MEASUREMENT } }),
  });
  opts.logger.info({ platform: issuer.platform, requested: opts.tee }, 'attestation platform');
  return issuer;
}
