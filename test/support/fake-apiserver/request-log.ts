/**
 * The structured log of every request the stand-in received, so tests can assert who the
 * upstream saw (authenticated and effective user), which Impersonate-* headers arrived
 * and how the request was answered. Credentials are never stored: a bearer token is
 * recorded as the identity it maps to, a client certificate as its subject.
 */
import type { AuthMethod, UserInfo } from './authn.ts';

export interface RecordedRequest {
  readonly id: number;
  readonly time: number;
  /** '1.1' or '2.0'. */
  readonly httpVersion: string;
  readonly alpn: string;
  readonly connectionId: number;
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, readonly string[]>>;
  /** Every header (lower-cased, each repeated line a separate value) except Authorization and Cookie. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  /** The Impersonate-* headers as received. */
  readonly impersonationHeaders: Readonly<Record<string, readonly string[]>>;
  readonly bearerTokenPresented: boolean;
  readonly clientCertificatePresented: boolean;
  /** True for an HTTP/1.1 Upgrade request (SPDY or WebSocket). */
  readonly upgrade: string | null;
  /** How the caller authenticated, and as whom (null when authentication failed). */
  authMethod: AuthMethod | null;
  authenticatedUser: UserInfo | null;
  /** The user after impersonation (null when the request was refused before that). */
  effectiveUser: UserInfo | null;
  /** The HTTP status answered (101 for an accepted upgrade); null while in flight. */
  status: number | null;
}

export class RequestLog {
  readonly #entries: RecordedRequest[] = [];
  readonly #limit: number;
  #nextId = 1;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  nextId(): number {
    return this.#nextId++;
  }

  add(entry: RecordedRequest): RecordedRequest {
    this.#entries.push(entry);
    if (this.#entries.length > this.#limit) this.#entries.splice(0, this.#entries.length - this.#limit);
    return entry;
  }

  /** Every request still kept, oldest first. */
  all(): readonly RecordedRequest[] {
    return [...this.#entries];
  }

  clear(): void {
    this.#entries.length = 0;
  }
}

/** Header map from Node's rawHeaders: lower-cased names, every line a separate value. */
export function distinctHeaders(rawHeaders: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    (out[name] ??= []).push(rawHeaders[i + 1] ?? '');
  }
  return out;
}
