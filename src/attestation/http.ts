/**
 * Bounded HTTP GET for the optional vendor services (AMD KDS, Intel PCS). Nothing in
 * verification needs the network; these are used only when a caller opts in.
 *
 * Invariant: a response is read up to `maxBytes` and no further, within `timeoutMs`;
 * redirects are not followed; failures are SP_ATTEST_COLLATERAL_INVALID naming the URL's
 * host and path (never its query, which may identify the chip).
 */
import { ShadowplaneError } from '../errors.ts';

export type FetchLike = (url: string, init: { signal: AbortSignal; redirect: 'manual'; headers: Record<string, string> }) => Promise<Response>;

export interface HttpGetOptions {
  readonly fetch?: FetchLike;
  readonly timeoutMs?: number;
  readonly maxBytes: number;
}

function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

/** GETs `url`; returns the body and headers of a 200 answer. */
export async function httpGet(url: string, opts: HttpGetOptions): Promise<{ body: Buffer; headers: Headers }> {
  const f: FetchLike = opts.fetch ?? globalThis.fetch;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  let res: Response;
  try {
    res = await f(url, { signal, redirect: 'manual', headers: { accept: '*/*' } });
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `cannot fetch ${where(url)}`, { cause: err });
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `${where(url)} answered HTTP ${res.status}`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    if (res.body !== null) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        n += chunk.length;
        if (n > opts.maxBytes) {
          await res.body.cancel().catch(() => undefined);
          throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `${where(url)} answered more than ${opts.maxBytes} bytes`);
        }
        chunks.push(Buffer.from(chunk));
      }
    }
  } catch (err) {
    if (err instanceof ShadowplaneError) throw err;
    throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', `reading ${where(url)} failed`, { cause: err });
  }
  return { body: Buffer.concat(chunks), headers: res.headers };
}
