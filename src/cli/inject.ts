/**
 * `shadowplane inject`: wiring only. The transform is src/inject/inject.ts, the options
 * src/inject/options.ts, the in-pod install step src/inject/install.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ShadowplaneError } from '../errors.ts';
import { injectDocuments, MAX_INPUT_BYTES, type InjectInput } from '../inject/inject.ts';
import { installRuntime, parseInstallOptions } from '../inject/install.ts';
import { entrypointResolver, INJECT_USAGE, parseInjectOptions, podSpecPlan } from '../inject/options.ts';

function readInput(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (bytes.length > MAX_INPUT_BYTES) throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${path}: larger than ${MAX_INPUT_BYTES} bytes`);
  return bytes.toString('utf8');
}

function readSmallFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function runInjectCommand(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'install') {
    const result = installRuntime(parseInstallOptions(argv.slice(1)));
    process.stdout.write(`shadowplane: agent runtime installed; agent configuration sha256:${result.configSha256}\n`);
    return Promise.resolve(0);
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${INJECT_USAGE}\n`);
    return Promise.resolve(0);
  }
  const options = parseInjectOptions(argv, readSmallFile);
  const inputs: InjectInput[] = options.files.map((f) => ({ name: f, text: readInput(f) }));
  const entrypoints = entrypointResolver(options.entrypoints);
  const result = injectDocuments(inputs, podSpecPlan(options, entrypoints.lookup));
  if (options.output === undefined) process.stdout.write(result.output);
  else writeFileSync(options.output, result.output);
  const notes = [...result.warnings];
  for (const key of entrypoints.unused()) notes.push(`--entrypoint ${key} matched no container without a command`);
  if (options.anyManifest) notes.push('no --manifest, --manifest-digest or --manifest-signer: the agents will accept a proxy with ANY manifest that matches the reference values');
  if (options.simulated) notes.push('*** simulated attestation: these pods are NOT protected. Development only. ***');
  for (const o of result.injected) process.stderr.write(`shadowplane inject: ${o.kind} ${o.name}: wrapped ${o.wrapped.join(', ')}\n`);
  for (const n of notes) process.stderr.write(`shadowplane inject: warning: ${n}\n`);
  return Promise.resolve(0);
}
