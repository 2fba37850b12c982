/**
 * The audit record of confidential operations, kept inside the proxy's TEE.
 *
 * Every exec, attach, logs, port-forward and proxy operation on a confidential pod gets
 * one record: who, which pod and container, what, when, how many bytes each way, how it
 * ended, including operations refused before they began (with the refusal's code). Records hold no command arguments and no payload. They stay in memory (a bounded
 * ring) and are readable only by users with the `audit` verb, through
 * `GET /.well-known/shadowplane/audit`, for the namespaces they may audit.
 */
import { randomUUID } from 'node:crypto';
import type { Manifest } from '../config/manifest.ts';
import { userMay } from '../config/scope.ts';
import { ShadowplaneError, type ErrorCode } from '../errors.ts';
import type { Caller } from './identity.ts';
import type { AnyRequest } from './request.ts';
import { respondError, respondJson, type AnyResponse } from './respond.ts';

export type AuditOperation = 'exec' | 'attach' | 'logs' | 'portforward' | 'pod-proxy' | 'service-proxy';

export interface AuditRecord {
  readonly id: string;
  readonly user: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string | undefined;
  readonly operation: AuditOperation;
  /** Wire protocol (v5.channel.k8s.io, spdy/portforward.k8s.io, http …). */
  readonly protocol: string;
  readonly start: string;
  end: string | undefined;
  /** Payload bytes from the client to the pod and from the pod to the client. */
  bytesIn: number;
  bytesOut: number;
  exitCode: number | undefined;
  /** Error code when the operation failed. */
  error: ErrorCode | undefined;
}

/** What an operation needs of the log: open its record, then finish it. */
export type AuditWriter = Pick<AuditLog, 'begin' | 'finish'>;

export class AuditLog {
  readonly #records: AuditRecord[] = [];
  /** Refusals, in a ring of their own: a flood of refused requests cannot push out the records of operations. */
  readonly #refusals: AuditRecord[] = [];
  readonly #max: number;
  readonly #maxRefusals: number;
  readonly #now: () => Date;

  constructor(opts: { maxRecords?: number; maxRefusals?: number; now?: () => Date } = {}) {
    this.#max = opts.maxRecords ?? 100_000;
    this.#maxRefusals = opts.maxRefusals ?? 10_000;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Opens a record; the caller completes it with `finish`. */
  begin(fields: { user: string; namespace: string; pod: string; container: string | undefined; operation: AuditOperation; protocol: string }): AuditRecord {
    const record: AuditRecord = { id: randomUUID(), ...fields, start: this.#now().toISOString(), end: undefined, bytesIn: 0, bytesOut: 0, exitCode: undefined, error: undefined };
    this.#records.push(record);
    if (this.#records.length > this.#max) this.#records.splice(0, this.#records.length - this.#max);
    return record;
  }

  /**
   * Records an operation refused before it began (not authorised, agent unreachable or
   * not attested, a bad request): opened and finished at once with the refusal's code.
   */
  refused(fields: { user: string; namespace: string; pod: string; container: string | undefined; operation: AuditOperation; protocol: string }, error: ErrorCode): void {
    const at = this.#now().toISOString();
    this.#refusals.push({ id: randomUUID(), ...fields, start: at, end: at, bytesIn: 0, bytesOut: 0, exitCode: undefined, error });
    if (this.#refusals.length > this.#maxRefusals) this.#refusals.splice(0, this.#refusals.length - this.#maxRefusals);
  }

  finish(record: AuditRecord, outcome: { bytesIn?: number; bytesOut?: number; exitCode?: number; error?: ErrorCode }): void {
    if (record.end !== undefined) return;
    record.end = this.#now().toISOString();
    if (outcome.bytesIn !== undefined) record.bytesIn = outcome.bytesIn;
    if (outcome.bytesOut !== undefined) record.bytesOut = outcome.bytesOut;
    record.exitCode = outcome.exitCode;
    record.error = outcome.error;
  }

  /** Records (oldest first) of the given namespaces, optionally only since a time. */
  query(filter: { namespaces: (ns: string) => boolean; since?: Date; limit?: number }): AuditRecord[] {
    const since = filter.since?.toISOString();
    const keep = (r: AuditRecord): boolean => filter.namespaces(r.namespace) && (since === undefined || r.start >= since);
    // Both rings are in start order; merged, the result is too.
    const out = mergeByStart(this.#records.filter(keep), this.#refusals.filter(keep));
    return filter.limit === undefined ? out : out.slice(-filter.limit);
  }
}

function mergeByStart(a: readonly AuditRecord[], b: readonly AuditRecord[]): AuditRecord[] {
  if (b.length === 0) return [...a];
  const out: AuditRecord[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]!.start <= b[j]!.start) ? a[i++]! : b[j++]!);
  return out;
}

/** `GET /.well-known/shadowplane/audit[?namespace=NS&since=RFC3339&limit=N]`. */
export function createAuditEndpoint(audit: AuditLog, manifest: Manifest): (req: AnyRequest, res: AnyResponse, caller: Caller | undefined) => void {
  return (req, res, caller) => {
    if (caller === undefined) return respondError(res, new ShadowplaneError('SP_UNAUTHENTICATED'));
    if (req.method !== 'GET') return respondError(res, new ShadowplaneError('SP_BAD_REQUEST', 'use GET'));
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const ns = q.get('namespace');
    const sinceText = q.get('since');
    const since = sinceText === null ? undefined : new Date(sinceText);
    if (since !== undefined && Number.isNaN(since.getTime())) return respondError(res, new ShadowplaneError('SP_BAD_REQUEST', 'since must be an RFC 3339 time'));
    const limit = q.get('limit') === null ? 1000 : Number(q.get('limit'));
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) return respondError(res, new ShadowplaneError('SP_BAD_REQUEST', 'limit must be 1..100000'));
    const may = (namespace: string): boolean => userMay(manifest, caller.user, 'audit', namespace) && (ns === null || ns === namespace);
    if (ns !== null && !userMay(manifest, caller.user, 'audit', ns)) return respondError(res, new ShadowplaneError('SP_FORBIDDEN', `audit in ${ns}`));
    if (!manifest.confidential.some((c) => may(c.namespace))) return respondError(res, new ShadowplaneError('SP_FORBIDDEN', 'audit'));
    respondJson(res, { apiVersion: 'shadowplane.dev/v1alpha1', kind: 'AuditRecordList', items: audit.query({ namespaces: may, ...(since === undefined ? {} : { since }), limit }) });
  };
}
