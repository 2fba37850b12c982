/**
 * `shadowplane inject`: wiring only. The transform is src/inject/inject.ts, the options
 * src/inject/options.ts, the in-pod install step src/inject/install.ts.
 *
 * Every file is read within a bound before anything parses it: an input (or stdin) past
 * 8 MiB, or a `/dev/zero` given as one, is refused after that much, not read in full.
 */
import { writeFileSync } from 'node:fs';
import { MAX_REFERENCE_VALUES_BYTES } from '../attestation/reference-values.ts';
import { FileRefused, readBoundedFile, readBoundedStream } from '../config/bounded-file.ts';
import { helpAsked } from '../config/flags.ts';
import { MANIFEST_MAX_BYTES } from '../config/manifest.ts';
import { ShadowplaneError } from '../errors.ts';
import { agentConfigResolver, MAX_AGENT_SETTINGS_BYTES } from '../inject/agent-settings.ts';
import { injectDocuments, MAX_INPUT_BYTES, type InjectInput } from '../inject/inject.ts';
import { INSTALL_USAGE, installRuntime, parseInstallOptions } from '../inject/install.ts';
import { entrypointResolver, INJECT_USAGE, parseInjectOptions, podSpecPlan, type InjectFileOption } from '../inject/options.ts';

/** The bound of each file option: the parser's own limit (an owner key is a few hundred bytes of PEM). */
const OPTION_FILE_BYTES: Readonly<Record<InjectFileOption, number>> = {
  '--proxy-reference-values': MAX_REFERENCE_VALUES_BYTES,
  '--manifest': MANIFEST_MAX_BYTES,
  '--manifest-signer': 16 * 1024,
  '--agent-config': MAX_AGENT_SETTINGS_BYTES,
};

const errnoOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';

async function readInput(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = path === '-' ? await readBoundedStream(process.stdin, MAX_INPUT_BYTES) : readBoundedFile(path, MAX_INPUT_BYTES);
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `cannot read -f ${path}: ${errnoOf(err)}`);
  }
  return bytes.toString('utf8');
}

function readOptionFile(path: string, option: InjectFileOption): string {
  try {
    return readBoundedFile(path, OPTION_FILE_BYTES[option]).toString('utf8');
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `${option} ${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_USAGE', `cannot read ${option} ${path}: ${errnoOf(err)}`);
  }
}

export async function runInjectCommand(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'install') {
    if (helpAsked(argv)) {
      process.stdout.write(`${INSTALL_USAGE}\n`);
      return 0;
    }
    const result = installRuntime(parseInstallOptions(argv.slice(1)));
    const own = result.containerConfigSha256.map((c) => `; container ${c.container} configuration sha256:${c.sha256}`).join('');
    process.stdout.write(`shadowplane: agent runtime installed; agent configuration sha256:${result.configSha256}${own}\n`);
    return 0;
  }
  if (helpAsked(argv)) {
    process.stdout.write(`${INJECT_USAGE}\n`);
    return 0;
  }
  const options = parseInjectOptions(argv, readOptionFile);
  const inputs: InjectInput[] = [];
  for (const f of options.files) inputs.push({ name: f, text: await readInput(f) });
  const entrypoints = entrypointResolver(options.entrypoints);
  const configs = agentConfigResolver(options);
  const result = injectDocuments(inputs, podSpecPlan(options, entrypoints.lookup, configs.configFor));
  if (options.output === undefined) process.stdout.write(result.output);
  else {
    try {
      writeFileSync(options.output, result.output);
    } catch (err) {
      throw new ShadowplaneError('SP_USAGE', `cannot write -o ${options.output}: ${errnoOf(err)}`, { cause: err });
    }
  }
  const notes = [...result.warnings];
  for (const key of entrypoints.unused()) notes.push(`--entrypoint ${key} matched no container without a command`);
  for (const key of configs.unused()) notes.push(`--agent-config: containers.${key} matched no wrapped container`);
  if (options.anyManifest) notes.push('no --manifest, --manifest-digest or --manifest-signer: the agents will accept a proxy with ANY manifest that matches the reference values');
  if (options.unpinnedImage) notes.push('*** --agent-image is not pinned by digest (--allow-unpinned-image): whoever controls the registry tag chooses the agent runtime of these pods, and their policy pins a tag, not an image. Development only. ***');
  if (options.simulated) notes.push('*** simulated attestation: these pods are NOT protected. Development only. ***');
  for (const o of result.injected) process.stderr.write(`shadowplane inject: ${o.kind} ${o.name}: wrapped ${o.wrapped.join(', ')}\n`);
  for (const n of notes) process.stderr.write(`shadowplane inject: warning: ${n}\n`);
  return 0;
}
