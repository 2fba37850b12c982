import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../../src/config/agent-config.ts';
import { helpAsked } from '../../../src/config/flags.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

/** The error loadAgentConfig throws for argv, as code and message. */
function agentRefusal(argv: readonly string[]): { code: string; message: string } | undefined {
  try {
    loadAgentConfig({ argv, env: { POD_NAMESPACE: 'payments', POD_NAME: 'api-7d9f' }, cwd: '/srv' });
  } catch (err) {
    return isShadowplaneError(err) ? { code: err.code, message: err.message } : { code: 'not a ShadowplaneError', message: '' };
  }
  return undefined;
}

describe('command-line flags', () => {
  // Bug (CLI review): `verify -h` was refused while `verify --help` printed the usage; each
  // command had its own test for help. Now every command asks helpAsked.
  it('takes --help and -h alike as a request for help, but not after --', () => {
    const cases: [readonly string[], boolean][] = [
      [['--help'], true],
      [['-h'], true],
      [['--server', 'https://x', '-h'], true],
      [['init', 'DIR', '-h'], true],
      [['--container', 'c', '-h', '--', 'ls'], true],
      [['--container', 'c', '--', 'ls', '-h'], false],
      [['--container', 'c', '--', 'ls', '--help'], false],
      [['--', '-h'], false],
      [['--out', 'help'], false],
      [['--help=yes'], false],
      [[], false],
    ];
    for (const [argv, expected] of cases) expect(helpAsked(argv), argv.join(' ')).toBe(expected);
  });

  // Bug (review): the agent parsed its flags with its own parseArgs call, without the
  // negative-number joining of parseFlags, so `--port -1` was an "ambiguous" value.
  it('gives the agent\'s --port below zero the port range, as the other commands give theirs', () => {
    for (const port of [['--port', '-1'], ['--port=-1'], ['--port', '-0']]) {
      expect(agentRefusal(['--container', 'app', ...port, '--', 'server']), port.join(' ')).toEqual({
        code: 'SP_USAGE',
        message: 'the command line is not valid: --port must be a port 1..65535',
      });
    }
    // A dash that is no number is still a forgotten value, and the workload's own flags are left alone.
    expect(agentRefusal(['--container', '--port', '1', '--', 'server'])?.message).toBe("the command line is not valid: Option '--container' argument is ambiguous.");
    expect(agentRefusal(['--container', 'app', '--', 'server', '--port', '-1'])).toBeUndefined();
  });
});
