import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * shadowplane's own structured log.
 *
 * Invariant: callers log names of operations, pods, codes and sizes only. Never command
 * arguments, stream bytes, log lines, metric values, tokens or header values. The
 * redaction paths below are a second line of defence for credentials, not the policy.
 *
 * The destination is injected so that tests can capture every line and assert that no
 * secret reached it. Default: standard error, so command output on stdout stays clean.
 */
export function createLogger(options: { level?: LogLevel; destination?: DestinationStream; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'shadowplane',
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: {
        paths: ['authorization', 'token', 'headers.authorization', 'req.headers.authorization', 'key', 'privateKey'],
        censor: '[redacted]',
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nothing (for library use without a configured log). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
