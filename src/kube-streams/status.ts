/**
 * Kubernetes `metav1.Status` objects as shadowplane sends them: in HTTP error answers and
 * on the error channel of exec/attach sessions.
 *
 * Shapes follow what kubectl decodes (PROTOCOLS.md A.6):
 * - success: `{"metadata":{},"status":"Success"}`;
 * - non-zero exit: reason `NonZeroExitCode` with `details.causes[0] = {reason: "ExitCode",
 *   message: "<code>"}` (the cause's JSON `reason` is Go's `StatusCause.Type`; kubectl
 *   parses its message as an unsigned 8-bit integer and exits with it);
 * - a ShadowplaneError: HTTP code and reason from the catalogue, message starting with the
 *   error code, and the code again as `details.causes[0].reason` so scripts can match it.
 * The v1–v3 remote command protocols carry plain text on the error stream instead (and
 * nothing at all on success).
 *
 * Field order matches Go's encoding of metav1.Status. Invariant: no workload data; the
 * only variable text is the catalogue summary, the error's own detail and an exit code.
 */
import { ERRORS, type ShadowplaneError, type StatusReason } from '../errors.ts';

export interface StatusCause {
  readonly reason: string;
  readonly message: string;
}

export interface Status {
  readonly kind?: 'Status';
  readonly apiVersion?: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: StatusReason | 'NonZeroExitCode';
  readonly details?: { readonly causes: readonly StatusCause[] };
  readonly code?: number;
}

/** The result of a remote command, as the terminators report it. */
export type CommandOutcome =
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'error'; readonly error: ShadowplaneError };

/** The exit code kubectl can represent: 1–255. Anything else non-zero is reported as 255. */
export function reportableExitCode(code: number): number {
  if (code === 0) return 0;
  return Number.isInteger(code) && code > 0 && code <= 255 ? code : 255;
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

export function exitCodeStatus(code: number): Status {
  const reported = reportableExitCode(code);
  if (reported === 0) return successStatus();
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${reported}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(reported) }] },
  };
}

/** The client-facing message of an error: its stable code, then the catalogue text. */
export function errorMessage(error: ShadowplaneError): string {
  return `${error.code}: ${error.message}`;
}

/** The Status for an error on an exec/attach error channel (no kind/apiVersion, as the kubelet sends it). */
export function errorChannelStatus(error: ShadowplaneError): Status {
  const entry = ERRORS[error.code];
  return {
    metadata: {},
    status: 'Failure',
    message: errorMessage(error),
    reason: entry.reason,
    details: { causes: [{ reason: error.code, message: entry.summary }] },
    code: entry.http,
  };
}

/** The Status body of an HTTP error answer: complete, so that client-go's decoder accepts it. */
export function statusForError(error: ShadowplaneError): Status {
  return { kind: 'Status', apiVersion: 'v1', ...errorChannelStatus(error) };
}

/** Which error-stream encoding the negotiated protocol uses. */
export type ErrorStreamFormat = 'status-json' | 'plain-text';

/**
 * The bytes to write on the error channel/stream for an outcome. v4/v5 send Status JSON;
 * v1–v3 send the failure message as text and nothing on success.
 */
export function encodeErrorStream(outcome: CommandOutcome, format: ErrorStreamFormat): Buffer {
  const status = outcome.kind === 'exit' ? exitCodeStatus(outcome.code) : errorChannelStatus(outcome.error);
  if (format === 'status-json') return Buffer.from(JSON.stringify(status), 'utf8');
  if (status.status === 'Success') return Buffer.alloc(0);
  return Buffer.from(status.message ?? '', 'utf8');
}
