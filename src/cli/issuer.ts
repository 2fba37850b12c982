/**
 * Chooses where a process's own attestation evidence comes from (`--tee`), and says so
 * loudly when it is the simulator.
 */
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT, type EvidenceIssuer } from '../attestation/index.ts';
import type { TeeChoice } from '../config/option-values.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';

export const SIMULATED_BANNER =
  '*** SIMULATED ATTESTATION: this process runs outside any TEE and its evidence proves nothing. Development and tests only. ***';

export function createIssuer(opts: { tee: TeeChoice; simulatedDir: string | undefined | null; simulatedMeasurement?: string | null; logger: Logger }): EvidenceIssuer {
  if (opts.tee === 'simulated') {
    if (opts.simulatedDir === undefined || opts.simulatedDir === null) {
      throw new ShadowplaneError('SP_USAGE', '--tee simulated needs --simulated-dir DIR (made by `shadowplane simulate init DIR`)');
    }
    opts.logger.warn({ platform: 'simulated' }, SIMULATED_BANNER);
    return createSimulatedIssuer({ dir: opts.simulatedDir, measurement: opts.simulatedMeasurement ?? SIMULATED_DEFAULT_MEASUREMENT });
  }
  throw new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `no ${opts.tee === 'auto' ? 'supported TEE' : opts.tee} attestation interface on this machine (use --tee simulated for development)`);
}
