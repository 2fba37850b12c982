/** `shadowplane simulate init DIR`: a simulated attestation platform for development. */
import { simulateInit } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import { SIMULATED_BANNER } from './issuer.ts';

export const SIMULATE_USAGE = `shadowplane simulate init DIR [--measurement HEX96]

Creates a simulated SEV-SNP-shaped platform in DIR: ARK -> ASK -> VCEK chain, the VCEK
key, and DIR/reference-values.yaml pinning that ARK. Evidence from it is accepted only
where simulated attestation is explicitly allowed. Development and tests only.`;

export async function runSimulateCommand(argv: readonly string[]): Promise<number> {
  const [verb, dir, ...rest] = argv;
  if (verb === '--help') {
    process.stdout.write(`${SIMULATE_USAGE}\n`);
    return 0;
  }
  if (verb !== 'init' || dir === undefined) throw new ShadowplaneError('SP_USAGE', SIMULATE_USAGE);
  let measurement: string | undefined;
  if (rest.length === 2 && rest[0] === '--measurement') measurement = rest[1];
  else if (rest.length > 0) throw new ShadowplaneError('SP_USAGE', SIMULATE_USAGE);
  const result = await simulateInit(dir, measurement === undefined ? {} : { measurement });
  process.stderr.write(`${SIMULATED_BANNER}\n`);
  process.stdout.write(`simulated ${result.product} platform in ${result.dir}\n  ARK sha256:${result.arkSha256}\n  reference values: ${result.referenceValuesPath}\n`);
  return 0;
}
