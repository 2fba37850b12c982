/**
 * The proxy ↔ agent channel protocol: request paths, query parameters, error bodies and
 * the info document (docs/channel-protocol.md is the prose version of this file).
 *
 * Pure. The agent decodes every query with the bounds below before it acts on it; the
 * proxy decodes every error body and info document the same way. Nothing here puts a
 * parameter value (a command argument, for one) into an error message.
 */
import { ERRORS, ShadowplaneError, type ErrorCode } from '../errors.ts';
import { DNS_LABEL } from '../config/dns-names.ts';

export const CHANNEL_PATHS = {
  exec: '/v1/exec',
  attach: '/v1/attach',
  logs: '/v1/logs',
  portForward: '/v1/portforward',
  info: '/v1/info',
  /** metrics-protocol.ts */
  metrics: '/v1/metrics',
} as const;

export const DEFAULT_AGENT_PORT = 15443;

/** Content type of exec/attach bodies (frames) and of port-forward bodies (raw bytes). */
export const FRAMES_CONTENT_TYPE = 'application/vnd.shadowplane.frames';
export const RAW_CONTENT_TYPE = 'application/octet-stream';
export const LOGS_CONTENT_TYPE = 'text/plain';
export const JSON_CONTENT_TYPE = 'application/json';

/** Bounds on what one request may carry. */
export const PROTOCOL_LIMITS = {
  /** HTTP/2 header list (the :path with an exec command line is the big one). */
  maxHeaderListBytes: 256 * 1024,
  maxCommandArgs: 4096,
  /** An error body or info document; anything larger is a protocol error. */
  maxJsonBody: 64 * 1024,
  maxContainers: 64,
} as const;

export interface ExecParams {
  readonly container: string;
  readonly command: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export interface AttachParams {
  readonly container: string;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export type LogStreamSelector = 'All' | 'Stdout' | 'Stderr';

/** kubectl's log options (PROTOCOLS.md C), already validated. */
export interface LogsParams {
  readonly container: string;
  readonly follow?: boolean;
  readonly previous?: boolean;
  readonly timestamps?: boolean;
  readonly tailLines?: number;
  readonly sinceSeconds?: number;
  /** RFC 3339, as kubectl sends it. */
  readonly sinceTime?: string;
  readonly limitBytes?: number;
  readonly stream?: LogStreamSelector;
}

export interface ContainerInfo {
  readonly name: string;
  /** Whether attach may write to this container's stdin. */
  readonly attachStdin: boolean;
}

export interface AgentInfo {
  readonly namespace: string;
  readonly pod: string;
  /** Every container an agent of this pod serves, the answering agent's own first. */
  readonly containers: readonly ContainerInfo[];
}

/** Container names are DNS-1123 labels; the agent also uses them as socket file names. */
export function isContainerName(value: string): boolean {
  return DNS_LABEL.test(value);
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go `strconv.ParseBool`, the semantics kubectl's query flags have. Absent is false. */
export function parseBool(query: URLSearchParams, name: string): boolean {
  const values = query.getAll(name);
  if (values.length === 0) return false;
  if (values.length > 1) throw new ShadowplaneError('SP_BAD_REQUEST', `${name} given more than once`);
  const value = values[0] as string;
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new ShadowplaneError('SP_BAD_REQUEST', `${name} is not a boolean`);
}

function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new ShadowplaneError('SP_BAD_REQUEST', `${name} given more than once`);
  return values[0];
}

function parseCount(query: URLSearchParams, name: string, min: number): number | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(value)) throw new ShadowplaneError('SP_BAD_REQUEST', `${name} is not a non-negative integer`);
  const n = Number(value);
  if (n < min) throw new ShadowplaneError('SP_BAD_REQUEST', `${name} must be at least ${min}`);
  return n;
}

function requireContainer(query: URLSearchParams): string {
  const container = single(query, 'container');
  if (container === undefined || !isContainerName(container)) throw new ShadowplaneError('SP_BAD_REQUEST', 'container is missing or not a DNS label');
  return container;
}

function flag(value: boolean | undefined): string {
  return value === true ? 'true' : 'false';
}

export function execPath(params: ExecParams): string {
  const query = new URLSearchParams({ container: params.container });
  for (const arg of params.command) query.append('command', arg);
  query.set('stdin', flag(params.stdin));
  query.set('stdout', flag(params.stdout));
  query.set('stderr', flag(params.stderr));
  query.set('tty', flag(params.tty));
  return `${CHANNEL_PATHS.exec}?${query.toString()}`;
}

export function parseExecQuery(query: URLSearchParams): ExecParams {
  const command = query.getAll('command');
  if (command.length === 0) throw new ShadowplaneError('SP_BAD_REQUEST', 'command is missing');
  if (command.length > PROTOCOL_LIMITS.maxCommandArgs) throw new ShadowplaneError('SP_BAD_REQUEST', 'too many command arguments');
  if ((command[0] as string).length === 0 || command.some((arg) => arg.includes('\0'))) throw new ShadowplaneError('SP_BAD_REQUEST', 'command is not valid');
  const tty = parseBool(query, 'tty');
  return {
    container: requireContainer(query),
    command,
    stdin: parseBool(query, 'stdin'),
    stdout: parseBool(query, 'stdout'),
    // With a terminal there is no separate stderr (PROTOCOLS.md A.2).
    stderr: tty ? false : parseBool(query, 'stderr'),
    tty,
  };
}

export function attachPath(params: AttachParams): string {
  const query = new URLSearchParams({
    container: params.container,
    stdin: flag(params.stdin),
    stdout: flag(params.stdout),
    stderr: flag(params.stderr),
    tty: flag(params.tty),
  });
  return `${CHANNEL_PATHS.attach}?${query.toString()}`;
}

export function parseAttachQuery(query: URLSearchParams): AttachParams {
  const tty = parseBool(query, 'tty');
  return {
    container: requireContainer(query),
    stdin: parseBool(query, 'stdin'),
    stdout: parseBool(query, 'stdout'),
    stderr: tty ? false : parseBool(query, 'stderr'),
    tty,
  };
}

export function logsPath(params: LogsParams): string {
  const query = new URLSearchParams({ container: params.container });
  if (params.follow === true) query.set('follow', 'true');
  if (params.previous === true) query.set('previous', 'true');
  if (params.timestamps === true) query.set('timestamps', 'true');
  if (params.tailLines !== undefined) query.set('tailLines', String(params.tailLines));
  if (params.sinceSeconds !== undefined) query.set('sinceSeconds', String(params.sinceSeconds));
  if (params.sinceTime !== undefined) query.set('sinceTime', params.sinceTime);
  if (params.limitBytes !== undefined) query.set('limitBytes', String(params.limitBytes));
  if (params.stream !== undefined) query.set('stream', params.stream);
  return `${CHANNEL_PATHS.logs}?${query.toString()}`;
}

/**
 * Validates log options the way the API server does (`ValidatePodLogOptions`): tailLines
 * ≥ 0, sinceSeconds ≥ 1, limitBytes ≥ 1, at most one of sinceSeconds and sinceTime.
 */
export function parseLogsQuery(query: URLSearchParams): LogsParams {
  const sinceSeconds = parseCount(query, 'sinceSeconds', 1);
  const sinceTime = single(query, 'sinceTime');
  if (sinceSeconds !== undefined && sinceTime !== undefined) throw new ShadowplaneError('SP_BAD_REQUEST', 'at most one of sinceTime and sinceSeconds');
  if (sinceTime !== undefined && parseRfc3339(sinceTime) === undefined) throw new ShadowplaneError('SP_BAD_REQUEST', 'sinceTime is not RFC 3339');
  const stream = single(query, 'stream');
  if (stream !== undefined && stream !== 'All' && stream !== 'Stdout' && stream !== 'Stderr') throw new ShadowplaneError('SP_BAD_REQUEST', 'stream is not All, Stdout or Stderr');
  const tailLines = parseCount(query, 'tailLines', 0);
  const limitBytes = parseCount(query, 'limitBytes', 1);
  return {
    container: requireContainer(query),
    follow: parseBool(query, 'follow'),
    previous: parseBool(query, 'previous'),
    timestamps: parseBool(query, 'timestamps'),
    ...(tailLines === undefined ? {} : { tailLines }),
    ...(sinceSeconds === undefined ? {} : { sinceSeconds }),
    ...(sinceTime === undefined ? {} : { sinceTime }),
    ...(limitBytes === undefined ? {} : { limitBytes }),
    ...(stream === undefined ? {} : { stream }),
  };
}

export function portForwardPath(port: number): string {
  return `${CHANNEL_PATHS.portForward}?port=${port}`;
}

export function parsePortForwardQuery(query: URLSearchParams): number {
  const port = parseCount(query, 'port', 1);
  if (port === undefined || port > 65535) throw new ShadowplaneError('SP_BAD_REQUEST', 'port must be 1..65535');
  return port;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * RFC 3339 with up to nanosecond precision to nanoseconds since the epoch, or undefined
 * when the text is not a valid timestamp. Exact (no float rounding): log queries compare
 * against nanosecond stamps.
 */
export function parseRfc3339(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCDate() !== day) return undefined;
  const ms = date.getTime();
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const sign = m[9] === '-' ? -1 : 1;
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'));
  return (BigInt(ms) - BigInt(offsetMinutes) * 60_000n) * 1_000_000n + fraction;
}

/** The JSON body of every non-2xx answer on the channel. */
export function encodeErrorBody(err: ShadowplaneError): Buffer {
  return Buffer.from(JSON.stringify(err.detail === undefined ? { code: err.code } : { code: err.code, detail: err.detail }));
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/**
 * Rebuilds the agent's error from its answer. A code outside the catalogue, or a body
 * that is not the documented shape, becomes SP_AGENT_PROTOCOL.
 */
export function decodeErrorBody(body: Buffer): ShadowplaneError {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return new ShadowplaneError('SP_AGENT_PROTOCOL', 'error body is not JSON');
  }
  if (typeof value !== 'object' || value === null) return new ShadowplaneError('SP_AGENT_PROTOCOL', 'error body is not an object');
  const { code, detail } = value as { code?: unknown; detail?: unknown };
  if (!isErrorCode(code)) return new ShadowplaneError('SP_AGENT_PROTOCOL', 'error code is not in the catalogue');
  return new ShadowplaneError(code, typeof detail === 'string' ? detail.slice(0, 512) : undefined);
}

/** Builds the error a status frame reports (same rules as decodeErrorBody). */
export function errorFromStatus(error: { readonly code: string; readonly detail?: string }): ShadowplaneError {
  if (!isErrorCode(error.code)) return new ShadowplaneError('SP_AGENT_PROTOCOL', 'error code is not in the catalogue');
  return new ShadowplaneError(error.code, error.detail?.slice(0, 512));
}

export function decodeInfo(body: Buffer): AgentInfo {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'info is not JSON');
  }
  const v = value as { namespace?: unknown; pod?: unknown; containers?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.namespace !== 'string' || typeof v.pod !== 'string' || !Array.isArray(v.containers)) {
    throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'info document shape');
  }
  if (v.containers.length > PROTOCOL_LIMITS.maxContainers) throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'too many containers');
  const containers = v.containers.map((c: unknown) => {
    const cc = c as { name?: unknown; attachStdin?: unknown };
    if (typeof cc !== 'object' || cc === null || typeof cc.name !== 'string' || !isContainerName(cc.name) || typeof cc.attachStdin !== 'boolean') {
      throw new ShadowplaneError('SP_AGENT_PROTOCOL', 'info container shape');
    }
    return Object.freeze({ name: cc.name, attachStdin: cc.attachStdin });
  });
  return Object.freeze({ namespace: v.namespace, pod: v.pod, containers: Object.freeze(containers) });
}
