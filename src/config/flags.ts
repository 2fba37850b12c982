/**
 * Command-line flags for every subcommand: node:util's parseArgs in strict mode, with its
 * errors turned into SP_USAGE. No positionals unless a command asks for them.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { ShadowplaneError } from '../errors.ts';

export function parseFlags<const O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values;
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', err instanceof Error ? (err.message.split('\n')[0] ?? 'invalid option') : 'invalid option');
  }
}
