/**
 * metav1.Status errors shaped the way kube-apiserver answers them (apimachinery
 * `pkg/api/errors`): same `reason`, `code`, `details` and message wording, so that
 * kubectl prints what it prints against a real cluster and a proxy test can compare
 * bytes.
 */
import { isShadowplaneError } from '../../../src/errors.ts';

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

export interface KubeStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure' | 'Success';
  readonly message?: string;
  readonly reason?: string;
  readonly details?: StatusDetails;
  readonly code: number;
}

/** An error the stand-in answers as a Status with the given HTTP code. */
export class ApiError extends Error {
  readonly status: KubeStatus;
  constructor(status: KubeStatus) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'ApiError';
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): ApiError {
  const status: KubeStatus = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  };
  return new ApiError(status);
}

/** `group` is '' for the core group; kube-apiserver then prints just the resource. */
function qualified(resource: string, group: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

export const Errors = {
  notFound: (resource: string, name: string, group = ''): ApiError =>
    failure(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, ...(group === '' ? {} : { group }), kind: resource }),
  alreadyExists: (resource: string, name: string, group = ''): ApiError =>
    failure(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, ...(group === '' ? {} : { group }), kind: resource }),
  conflict: (resource: string, name: string, why: string): ApiError =>
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": ${why}`, { name, kind: resource }),
  applyConflict: (kind: string, name: string, causes: readonly StatusCause[]): ApiError =>
    failure(409, 'Conflict', `Apply failed with ${causes.length} conflict${causes.length === 1 ? '' : 's'}: ${causes.map((c) => `${c.message ?? ''}: ${c.field ?? ''}`).join(', ')}`, { name, kind, causes }),
  invalid: (kind: string, name: string, causes: readonly StatusCause[]): ApiError =>
    failure(
      422,
      'Invalid',
      `${kind} "${name}" is invalid: ${causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`).join(', ')}`,
      { name, kind, causes },
    ),
  badRequest: (message: string): ApiError => failure(400, 'BadRequest', message),
  unauthorized: (): ApiError => failure(401, 'Unauthorized', 'Unauthorized'),
  forbidden: (message: string, details?: StatusDetails): ApiError => failure(403, 'Forbidden', message, details),
  methodNotAllowed: (): ApiError => failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  notAcceptable: (message: string): ApiError => failure(406, 'NotAcceptable', message),
  unsupportedMediaType: (contentType: string): ApiError =>
    failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got ${contentType}`),
  gone: (message: string): ApiError => failure(410, 'Expired', message),
  timeout: (message: string): ApiError =>
    failure(504, 'Timeout', message, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 }),
  tooLarge: (): ApiError => failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'),
  pathNotFound: (): ApiError => failure(404, 'NotFound', 'the server could not find the requested resource'),
  internal: (message: string): ApiError => failure(500, 'InternalError', `Internal error occurred: ${message}`),
} as const;

/** Maps anything thrown while serving into a Status (ShadowplaneError codes keep their HTTP code). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isShadowplaneError(err)) {
    return failure(err.http, err.reason === 'Invalid' ? 'Invalid' : err.reason, `${err.code}: ${err.message}`, { causes: [{ reason: err.code }] });
  }
  return Errors.internal('unexpected failure');
}

/** The Status of a successful delete of a collection or of an object without a body. */
export function successStatus(details?: StatusDetails): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', ...(details === undefined ? {} : { details }) };
}
