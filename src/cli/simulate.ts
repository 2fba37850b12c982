/** `shadowplane simulate init DIR`: a simulated attestation platform for development. */
import { simulateInit } from '../attestation/index.ts';
import { helpAsked, parseFlags } from '../config/flags.ts';
import { ShadowplaneError } from '../errors.ts';
import { SIMULATED_BANNER } from './issuer.ts';

export const SIMULATE_USAGE = `shadowplane simulate init DIR [--measurement HEX96] [--force]

Creates a simulated SEV-SNP-shaped platform in DIR: ARK -> ASK -> VCEK chain, the VCEK
key, and DIR/reference-values.yaml pinning that ARK. Evidence from it is accepted only
where simulated attestation is explicitly allowed. Development and tests only.

  --measurement HEX96   the measurement in the sample reference values (default the simulator's)
  --force               replace a platform DIR already holds (default: refuse, since reference
                        values made from it stop verifying)`;

export async function runSimulateCommand(argv: readonly string[]): Promise<number> {
  const [verb, dir, ...rest] = argv;
  if (helpAsked(argv)) {
    process.stdout.write(`${SIMULATE_USAGE}\n`);
    return 0;
  }
  if (verb !== 'init' || dir === undefined || dir.startsWith('-')) throw new ShadowplaneError('SP_USAGE', SIMULATE_USAGE);
  const values = parseFlags(rest, { measurement: { type: 'string' }, force: { type: 'boolean' } });
  const result = await simulateInit(dir, { ...(values.measurement === undefined ? {} : { measurement: values.measurement }), replace: values.force ?? false });
  process.stderr.write(`${SIMULATED_BANNER}\n`);
  process.stdout.write(`simulated ${result.product} platform in ${result.dir}\n  ARK sha256:${result.arkSha256}\n  reference values: ${result.referenceValuesPath}\n`);
  return 0;
}
