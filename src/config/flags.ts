/**
 * Command-line flags for every subcommand, the agent's included: node:util's parseArgs in
 * strict mode, with its errors turned into SP_USAGE. No positionals unless a command asks
 * for them.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { ShadowplaneError } from '../errors.ts';

/**
 * Whether a command line asks for its command's usage: `--help` or `-h` among its options,
 * that is before any `--` (after it everything belongs to someone else, such as the
 * agent's workload). Every subcommand asks this before it parses anything, so that help
 * is given whatever else is wrong with the line; no subcommand gives `-h` another meaning.
 */
export function helpAsked(argv: readonly string[]): boolean {
  const split = argv.indexOf('--');
  const options = split === -1 ? argv : argv.slice(0, split);
  return options.includes('--help') || options.includes('-h');
}

export function parseFlags<const O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: negativeValuesJoined(argv, options), strict: true, allowPositionals: false, options }).values;
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', err instanceof Error ? (err.message.split('\n')[0] ?? 'invalid option') : 'invalid option');
  }
}

/**
 * `--serial -1` as `--serial=-1`. parseArgs refuses a value that starts with a dash as
 * "ambiguous" (a forgotten value?); a negative number is plainly the value, and the
 * option's own check then says which range it takes. Only long string options, only
 * before `--`.
 */
function negativeValuesJoined(argv: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && options[arg.slice(2)]?.type === 'string' && next !== undefined && /^-[0-9]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}
