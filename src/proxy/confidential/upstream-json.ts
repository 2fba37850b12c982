/**
 * One bounded GET of a JSON object from the (untrusted) API server: a deadline on the
 * whole answer and a size cap enforced while it arrives, before anything is parsed.
 * What comes back is only ever used as an address book (pod IPs, service selectors,
 * ports); the attested channel decides whom shadowplane talks to.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ShadowplaneError } from '../../errors.ts';
import type { Upstream } from '../upstream.ts';

export interface JsonAnswer {
  readonly status: number;
  /** The parsed body when the status is 200, else undefined. */
  readonly value: unknown;
}

export async function getUpstreamJson(
  upstream: Upstream,
  path: string,
  auth: OutgoingHttpHeaders,
  limits: { readonly maxBytes: number; readonly timeoutMs: number; readonly what: string },
): Promise<JsonAnswer> {
  const stream = await upstream.request('GET', path, { ...auth, accept: 'application/json' }, { endStream: true });
  const body = await new Promise<{ status: number; bytes: Buffer }>((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: ShadowplaneError): void => {
      clearTimeout(timer);
      stream.close();
      reject(err);
    };
    const timer = setTimeout(() => fail(new ShadowplaneError('SP_UPSTREAM_TIMEOUT', limits.what)), limits.timeoutMs);
    stream.on('response', (h: IncomingHttpHeaders & { ':status'?: number }) => (status = h[':status'] ?? 0));
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limits.maxBytes) fail(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `${limits.what}: answer too large`));
      else chunks.push(c);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ status, bytes: Buffer.concat(chunks, size) });
    });
    stream.on('error', () => fail(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', limits.what)));
  });
  if (body.status !== 200) return { status: body.status, value: undefined };
  try {
    return { status: 200, value: JSON.parse(body.bytes.toString('utf8')) as unknown };
  } catch {
    throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `${limits.what}: the API server answered something that is not JSON`);
  }
}

/** Maps the statuses every lookup treats alike; 200 passes. */
export function checkLookupStatus(status: number, what: string): void {
  if (status === 200) return;
  if (status === 404) throw new ShadowplaneError('SP_POD_NOT_FOUND', what);
  if (status === 401 || status === 403) throw new ShadowplaneError('SP_FORBIDDEN', `the API server refused to look up ${what}`);
  throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `${what}: the API server answered HTTP ${status}`);
}
