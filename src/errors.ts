/**
 * The one error catalogue. Every failure shadowplane reports carries a stable `code`
 * from this table; callers and tests match on `code`, never on message text.
 *
 * Invariant: a message built from these errors never carries workload data (command
 * arguments, stream bytes, log lines, metric values). `detail` is for facts about
 * shadowplane's own state (a field name, an expected length, a platform name).
 *
 * Every code is documented in docs/errors.md; test/unit/errors.test.ts fails if one is not.
 */

/** Kubernetes `metav1.StatusReason` values used when an error becomes a Status. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'RequestEntityTooLarge'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'InternalError'
  | 'NotAcceptable'
  | 'Invalid';

interface CatalogueEntry {
  /** HTTP status when the error is answered to a client. */
  readonly http: number;
  readonly reason: StatusReason;
  /** One sentence a human can act on; no workload data. */
  readonly summary: string;
}

export const ERRORS = {
  // configuration
  SP_CONFIG_INVALID: { http: 500, reason: 'InternalError', summary: 'a configuration value is invalid' },
  SP_MANIFEST_INVALID: { http: 500, reason: 'InternalError', summary: 'the manifest does not validate' },
  SP_MANIFEST_UNREADABLE: { http: 500, reason: 'InternalError', summary: 'the manifest file cannot be read or parsed' },
  SP_USAGE: { http: 400, reason: 'BadRequest', summary: 'the command line is not valid' },

  // ingress
  SP_UNAUTHENTICATED: { http: 401, reason: 'Unauthorized', summary: 'the client certificate is not a user of the manifest' },
  SP_IMPERSONATION_REFUSED: { http: 403, reason: 'Forbidden', summary: 'client-supplied Impersonate-* headers are refused' },
  SP_FORBIDDEN: { http: 403, reason: 'Forbidden', summary: 'the manifest does not grant this user this operation here' },
  SP_HEADERS_TOO_LARGE: { http: 431, reason: 'RequestEntityTooLarge', summary: 'request headers exceed the limit' },
  SP_PATH_NOT_CANONICAL: { http: 400, reason: 'BadRequest', summary: 'the request path is not in canonical form' },
  SP_BAD_REQUEST: { http: 400, reason: 'BadRequest', summary: 'the request is malformed' },
  SP_CONFIDENTIAL_NOT_SERVED: { http: 501, reason: 'MethodNotAllowed', summary: 'this confidential route is not served by this proxy' },
  SP_CONFIDENTIAL_FORBIDDEN_ROUTE: { http: 403, reason: 'Forbidden', summary: 'this route would expose a confidential pod through the API server' },
  SP_UPGRADE_REQUIRED: { http: 400, reason: 'BadRequest', summary: 'this route needs a WebSocket or SPDY upgrade' },
  SP_STREAM_PROTOCOL_UNSUPPORTED: { http: 400, reason: 'BadRequest', summary: 'none of the offered stream protocols is supported' },

  // upstream API server
  SP_UPSTREAM_UNAVAILABLE: { http: 503, reason: 'ServiceUnavailable', summary: 'the upstream API server cannot be reached' },
  SP_UPSTREAM_TIMEOUT: { http: 504, reason: 'Timeout', summary: 'the upstream API server did not answer in time' },
  SP_UPSTREAM_CREDENTIAL: { http: 503, reason: 'ServiceUnavailable', summary: 'the proxy has no usable upstream credential' },
  SP_UPSTREAM_PROTOCOL: { http: 502, reason: 'InternalError', summary: 'the upstream API server answered something unusable' },

  // confidential sessions
  SP_POD_NOT_FOUND: { http: 404, reason: 'NotFound', summary: 'the pod does not exist or has no address yet' },
  SP_CONTAINER_NOT_FOUND: { http: 404, reason: 'NotFound', summary: 'the container is not served by an agent in this pod' },
  SP_AGENT_UNREACHABLE: { http: 503, reason: 'ServiceUnavailable', summary: 'the pod agent cannot be reached' },
  SP_AGENT_ATTESTATION_FAILED: { http: 502, reason: 'InternalError', summary: 'the pod agent failed attestation' },
  SP_AGENT_IDENTITY_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the attested agent is not the requested pod' },
  SP_AGENT_SESSION_LOST: { http: 502, reason: 'InternalError', summary: 'the session with the pod agent ended unexpectedly' },
  SP_AGENT_REFUSED: { http: 403, reason: 'Forbidden', summary: 'the pod agent refused the operation' },
  SP_SESSION_TIMEOUT: { http: 504, reason: 'Timeout', summary: 'a stream session did not start in time' },

  // wire protocols
  SP_FRAME_TOO_LARGE: { http: 400, reason: 'BadRequest', summary: 'a protocol frame exceeds the limit' },
  SP_FRAME_INVALID: { http: 400, reason: 'BadRequest', summary: 'a protocol frame is malformed' },
  SP_STREAM_RESET: { http: 400, reason: 'BadRequest', summary: 'the client reset a stream of the session' },
  SP_CLIENT_GONE: { http: 400, reason: 'BadRequest', summary: 'the client closed the connection before the session ended' },

  // attestation
  SP_ATTEST_EVIDENCE_MALFORMED: { http: 502, reason: 'InternalError', summary: 'the attestation evidence cannot be parsed' },
  SP_ATTEST_PLATFORM_UNSUPPORTED: { http: 502, reason: 'InternalError', summary: 'the attestation platform is not supported here' },
  SP_ATTEST_SIMULATED_REFUSED: { http: 502, reason: 'InternalError', summary: 'simulated attestation is refused without an explicit allowance' },
  SP_ATTEST_CHAIN_INVALID: { http: 502, reason: 'InternalError', summary: 'the certificate chain of the evidence does not verify' },
  SP_ATTEST_ROOT_UNTRUSTED: { http: 502, reason: 'InternalError', summary: 'the evidence chains to a root that is not trusted' },
  SP_ATTEST_CERT_EXPIRED: { http: 502, reason: 'InternalError', summary: 'a certificate of the evidence is outside its validity period' },
  SP_ATTEST_CERT_REVOKED: { http: 502, reason: 'InternalError', summary: 'a certificate of the evidence is revoked' },
  SP_ATTEST_REVOCATION_UNKNOWN: { http: 502, reason: 'InternalError', summary: 'current CRLs are required and one is missing for a certificate of the evidence' },
  SP_ATTEST_SIGNATURE_INVALID: { http: 502, reason: 'InternalError', summary: 'the report signature does not verify' },
  SP_ATTEST_REPORT_DATA_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the report data does not bind the expected key, manifest and nonce' },
  SP_ATTEST_MEASUREMENT_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the launch measurement is not among the reference values' },
  SP_ATTEST_HOST_DATA_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the host data is not among the reference values' },
  SP_ATTEST_DEBUG_ENABLED: { http: 502, reason: 'InternalError', summary: 'the guest policy allows debugging' },
  SP_ATTEST_POLICY_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the guest policy does not match the reference values' },
  SP_ATTEST_TCB_TOO_LOW: { http: 502, reason: 'InternalError', summary: 'the TCB is below the required minimum' },
  SP_ATTEST_TCB_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the endorsement key certificate does not match the reported TCB' },
  SP_ATTEST_CHIP_ID_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the chip or hardware identity does not match' },
  SP_ATTEST_MANIFEST_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the attested manifest digest is not the expected manifest' },
  SP_ATTEST_NONCE_MISMATCH: { http: 502, reason: 'InternalError', summary: 'the evidence does not answer this nonce' },
  SP_ATTEST_TLS_BINDING: { http: 502, reason: 'InternalError', summary: 'the evidence is bound to a different TLS key than this connection' },
  SP_ATTEST_REFERENCE_VALUES_INVALID: { http: 500, reason: 'InternalError', summary: 'the reference values file does not validate' },
  SP_ATTEST_UNAVAILABLE: { http: 503, reason: 'ServiceUnavailable', summary: 'attestation evidence cannot be produced, by this process or by the proxy asked for it' },
  SP_ATTEST_COLLATERAL_INVALID: { http: 502, reason: 'InternalError', summary: 'the TCB collateral is missing, malformed or not signed by the vendor' },
  SP_ATTEST_TCB_STATUS: { http: 502, reason: 'InternalError', summary: 'the platform TCB status is not acceptable' },

  // agent and proxy <-> agent channel
  SP_AGENT_PROTOCOL: { http: 502, reason: 'InternalError', summary: 'the pod agent answered something the channel protocol does not allow' },
  SP_AGENT_BUSY: { http: 503, reason: 'ServiceUnavailable', summary: 'the pod agent is at its limit of concurrent operations' },
  SP_CONTAINER_NOT_RUNNING: { http: 400, reason: 'BadRequest', summary: 'the container workload is not running' },
  SP_EXEC_START_FAILED: { http: 500, reason: 'InternalError', summary: 'the command could not be started in the container' },
  SP_PORT_FORWARD_FAILED: { http: 502, reason: 'InternalError', summary: 'nothing accepts connections on that port inside the pod' },
  SP_LOGS_PREVIOUS_NOT_FOUND: { http: 400, reason: 'BadRequest', summary: 'the container has no previous run whose logs were kept' },

  // metrics (parse, scrub, scrape, serve)
  SP_METRICS_INVALID: { http: 502, reason: 'InternalError', summary: 'the workload metrics are not a valid exposition, so the whole scrape is dropped' },
  SP_METRICS_TOO_LARGE: { http: 502, reason: 'InternalError', summary: 'the workload metrics exceed a size limit, so the whole scrape is dropped' },
  SP_METRICS_SCRAPE_FAILED: { http: 502, reason: 'InternalError', summary: 'the workload metrics endpoint could not be scraped' },
  SP_METRICS_SCRAPE_TIMEOUT: { http: 504, reason: 'Timeout', summary: 'the workload metrics endpoint did not answer in time' },
  SP_METRICS_NOT_ACCEPTABLE: { http: 406, reason: 'NotAcceptable', summary: 'the Accept header names no metrics format this proxy can produce' },
  SP_METRICS_LABEL_REFUSED: { http: 500, reason: 'InternalError', summary: 'a label value of a shadowplane metric is not among its declared values' },

  // inject, install and image build
  SP_INJECT_INPUT_INVALID: { http: 400, reason: 'BadRequest', summary: 'an input document of inject is not valid YAML or not a Kubernetes object' },
  SP_INJECT_NO_COMMAND: { http: 400, reason: 'BadRequest', summary: 'a container has no explicit command and no --entrypoint for it' },
  SP_INJECT_CONFLICT: { http: 400, reason: 'BadRequest', summary: 'the pod spec already uses a name, path or variable that inject needs for something else' },
  SP_INSTALL_FAILED: { http: 500, reason: 'InternalError', summary: 'the agent runtime could not be installed into the shared volume' },

  // metrics serving and pod HTTP access (pods/proxy, services/proxy)
  SP_METRICS_NOT_CONFIGURED: { http: 404, reason: 'NotFound', summary: 'no metrics leave this pod: its workload has no metrics policy or no scrape target' },
  SP_METRICS_BUSY: { http: 503, reason: 'ServiceUnavailable', summary: 'the proxy is serving as many federations at once as it allows' },
  SP_METRICS_CALLER_BUSY: { http: 503, reason: 'ServiceUnavailable', summary: 'this caller has as many per-pod metrics requests in progress as the proxy allows one caller' },
  SP_SERVICE_NO_ENDPOINTS: { http: 503, reason: 'ServiceUnavailable', summary: 'no confidential pod with an address backs this service' },
  SP_POD_PROXY_FAILED: { http: 502, reason: 'InternalError', summary: 'the pod did not answer the proxied HTTP request with a usable response' },
  SP_POD_PROXY_TIMEOUT: { http: 504, reason: 'Timeout', summary: 'the pod did not answer the proxied HTTP request in time' },

  // internal
  SP_INTERNAL: { http: 500, reason: 'InternalError', summary: 'internal error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The only error type shadowplane throws across module boundaries.
 * `detail` must never contain workload data; it is shown to the client.
 */
export class ShadowplaneError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? ERRORS[code].summary : `${ERRORS[code].summary}: ${detail}`, options);
    this.name = 'ShadowplaneError';
    this.code = code;
    this.detail = detail;
  }

  get http(): number {
    return ERRORS[this.code].http;
  }

  get reason(): StatusReason {
    return ERRORS[this.code].reason;
  }
}

/** True when `err` is a ShadowplaneError, optionally with the given code. */
export function isShadowplaneError(err: unknown, code?: ErrorCode): err is ShadowplaneError {
  return err instanceof ShadowplaneError && (code === undefined || err.code === code);
}

/**
 * Wraps anything thrown by a dependency into the catalogue without copying its
 * message (a dependency message may quote input bytes).
 */
export function asShadowplaneError(err: unknown, fallback: ErrorCode = 'SP_INTERNAL'): ShadowplaneError {
  if (err instanceof ShadowplaneError) return err;
  return new ShadowplaneError(fallback, undefined, { cause: err });
}
