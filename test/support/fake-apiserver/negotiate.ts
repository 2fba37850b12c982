/**
 * Accept-header negotiation as kube-apiserver does it (`endpoints/handlers/negotiation`):
 * clauses are tried in the order the client lists them; a clause with `as=Table;g=
 * meta.k8s.io;v=v1|v1beta1` asks for a server-side Table; `as=APIGroupDiscoveryList;
 * g=apidiscovery.k8s.io;v=v2|v2beta1` for aggregated discovery; the first clause the
 * server can serve wins; none at all is 406.
 */

export interface MediaClause {
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Longest Accept header looked at. */
const MAX_ACCEPT = 4096;

export function parseAccept(header: string | undefined): MediaClause[] {
  if (header === undefined || header.trim() === '') return [{ type: '*/*', params: {} }];
  return header
    .slice(0, MAX_ACCEPT)
    .split(',')
    .map((clause) => {
      const [type = '', ...rest] = clause.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      }
      return { type: type.toLowerCase(), params };
    })
    .filter((c) => c.type !== '' && c.params['q'] !== '0');
}

export type Representation =
  | { readonly kind: 'json' }
  | { readonly kind: 'yaml' }
  | { readonly kind: 'protobuf' }
  | { readonly kind: 'table'; readonly version: 'v1' | 'v1beta1' }
  | { readonly kind: 'discovery'; readonly version: 'v2' | 'v2beta1' };

export interface NegotiationOptions {
  readonly table?: boolean;
  readonly protobuf?: boolean;
  readonly discovery?: readonly ('v2' | 'v2beta1')[];
}

const JSON_LIKE = new Set(['application/json', 'application/*', '*/*']);

/** Returns the representation to answer with, or null (answer 406). */
export function negotiate(accept: string | undefined, options: NegotiationOptions): Representation | null {
  for (const c of parseAccept(accept)) {
    const as = c.params['as'];
    if (as !== undefined) {
      if (c.type !== 'application/json') continue;
      const g = c.params['g'];
      const v = c.params['v'];
      if (as === 'Table' && g === 'meta.k8s.io' && options.table === true && (v === 'v1' || v === 'v1beta1')) {
        return { kind: 'table', version: v };
      }
      if (as === 'APIGroupDiscoveryList' && g === 'apidiscovery.k8s.io' && (v === 'v2' || v === 'v2beta1') && options.discovery?.includes(v) === true) {
        return { kind: 'discovery', version: v };
      }
      continue;
    }
    if (JSON_LIKE.has(c.type)) return { kind: 'json' };
    if (c.type === 'application/yaml') return { kind: 'yaml' };
    if (c.type === 'application/vnd.kubernetes.protobuf' && options.protobuf === true) return { kind: 'protobuf' };
  }
  return null;
}

/** The media type of a request body, without parameters, lower-cased. */
export function bodyMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
