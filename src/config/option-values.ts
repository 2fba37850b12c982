/** Parsers for option values shared by every subcommand. Errors name the option. */
import { isIP } from 'node:net';
import { ShadowplaneError } from '../errors.ts';
import type { LogLevel } from '../log.ts';

export type TeeChoice = 'auto' | 'sev-snp' | 'tdx' | 'simulated';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `5s`, `10m`, `720h` → milliseconds. */
export function parseDuration(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (m === null) throw new ShadowplaneError('SP_USAGE', `${option} must be a duration like 500ms, 5s, 10m or 24h`);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** `host:port`, `[v6]:port` or `:port`. */
export function parseHostPort(value: string, option: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new ShadowplaneError('SP_USAGE', `${option} must be HOST:PORT`);
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  if (m[1] !== undefined && isIP(host) !== 6) throw new ShadowplaneError('SP_USAGE', `${option} has an invalid IPv6 address`);
  return { host, port };
}

export function parseTee(value: string, option: string): TeeChoice {
  if (value === 'auto' || value === 'sev-snp' || value === 'tdx' || value === 'simulated') return value;
  throw new ShadowplaneError('SP_USAGE', `${option} must be auto, sev-snp, tdx or simulated`);
}

export function parseLogLevel(value: string, option: string): LogLevel {
  const levels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if ((levels as readonly string[]).includes(value)) return value as LogLevel;
  throw new ShadowplaneError('SP_USAGE', `${option} must be one of ${levels.join(', ')}`);
}
