/**
 * The manifest: the workload owner's trusted policy, given to the proxy at start and
 * bound into its attestation by digest. A change of manifest is a change of attested
 * identity. The schema is documented in docs/manifest.md.
 *
 * Parsing is bounded (document size, YAML alias count, nesting) before anything is
 * interpreted, every error names the field, and the result is deep-frozen.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { PRIVATE_KEY_REFUSED, publicKeyOfPem } from './public-key.ts';
import { FileRefused, readBoundedFile } from './bounded-file.ts';
import { LineCounter, parseDocument } from 'yaml';
import { parseReferenceValues, type ReferenceValues } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import { parseScrubPolicy, type ScrubPolicy } from '../metrics/policy.ts';
import { canonicalDigest } from './canonical-json.ts';
import { compileGlobs, NAME_PATTERN, NAME_PATTERN_HINT, type NameMatcher } from './glob.ts';
import { deepFreeze, FieldReader } from './validate.ts';
import { DNS_LABEL } from './dns-names.ts';

export const MANIFEST_API_VERSION = 'shadowplane.dev/v1alpha1';
/** Largest manifest accepted, in bytes. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

export const VERBS = ['exec', 'attach', 'logs', 'portforward', 'proxy', 'metrics', 'audit'] as const;
export type Verb = (typeof VERBS)[number];

export const UPSTREAM_AUTH_MODES = ['impersonate', 'forward-token'] as const;
export type UpstreamAuthMode = (typeof UPSTREAM_AUTH_MODES)[number];

const DNS_LABEL_HINT = 'must be a DNS-1123 label (lower-case letters, digits and "-")';

export interface ConfidentialScope {
  readonly namespace: string;
  /** Pod name patterns as written. */
  readonly pods: readonly string[];
  readonly matches: NameMatcher;
}

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly pods: readonly string[];
  readonly matches: NameMatcher;
  /** Reference values the workload's agents must attest to. */
  readonly referenceValues: ReferenceValues;
  /** Scrub rules for the workload's metrics; undefined: no metrics leave the pod. */
  readonly metrics: ScrubPolicy | undefined;
  /**
   * The same rules as written in the manifest (plain JSON values): what the proxy sends
   * to the workload's agents, which validate it themselves (docs/channel-protocol.md).
   */
  readonly metricsDocument: unknown;
}

export interface Permission {
  /** Namespace names, or `*` for every confidential namespace. */
  readonly namespaces: readonly string[];
  readonly verbs: readonly Verb[];
}

export interface ManifestUser {
  readonly name: string;
  readonly groups: readonly string[];
  readonly publicKey: KeyObject;
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo: how client certificates are matched. */
  readonly publicKeySha256: string;
  readonly permissions: readonly Permission[];
}

/**
 * A metrics scraper (a Prometheus, an autoscaler): a narrow credential that may read the
 * scrubbed metrics of confidential pods in its namespaces and nothing else. It
 * authenticates with a client certificate (matched by public key, like users) or with a
 * bearer token whose SHA-256 the manifest holds (the token itself never appears here).
 */
export interface ManifestScraper {
  readonly name: string;
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo, when the scraper uses a client certificate. */
  readonly publicKeySha256: string | undefined;
  /** SHA-256 of the bearer token (32 bytes), when the scraper uses a token. */
  readonly tokenSha256: Buffer | undefined;
  /** Confidential namespace names, or `*` for every confidential namespace. */
  readonly namespaces: readonly string[];
}

export type UpstreamCredential =
  | { readonly source: 'kubeconfig'; readonly path: string; readonly context: string | undefined }
  | { readonly source: 'in-cluster' }
  | { readonly source: 'none' };

export interface Upstream {
  readonly server: string;
  /** PEM of the CA that signs the upstream serving certificate; undefined: take it from the credential source. */
  readonly certificateAuthority: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly auth: UpstreamAuthMode;
  readonly credential: UpstreamCredential;
}

export interface Manifest {
  readonly apiVersion: typeof MANIFEST_API_VERSION;
  readonly name: string;
  readonly confidential: readonly ConfidentialScope[];
  readonly workloads: readonly Workload[];
  readonly users: readonly ManifestUser[];
  /** Metrics scrapers; default none. */
  readonly scrapers: readonly ManifestScraper[];
  readonly upstream: Upstream;
  readonly agent: { readonly port: number };
  /** SHA-256 of the canonical JSON of the document: what the attestation binds. */
  readonly digest: Buffer;
  readonly digestHex: string;
  /** The document as parsed (plain JSON values), for re-serialisation and inspection. */
  readonly document: unknown;
}

/** Reads and validates a manifest file (YAML or JSON). */
export function loadManifest(path: string): Manifest {
  let text: string;
  try {
    text = readBoundedFile(path, MANIFEST_MAX_BYTES).toString('utf8');
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${path}: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`);
  }
  return parseManifestText(text, path);
}

/** Parses manifest text (YAML 1.2 core schema, which includes JSON). */
export function parseManifestText(text: string, source = 'manifest'): Manifest {
  return parseManifest(parseConfigText(text, source, MANIFEST_MAX_BYTES), source);
}

/**
 * Parses a YAML/JSON configuration text into plain JSON values, bounded: size first, then
 * the YAML parser with a small alias budget (no billion-laughs), then a depth check.
 */
export function parseConfigText(text: string, source: string, maxBytes: number): unknown {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${source}: larger than ${maxBytes} bytes`);
  }
  // prettyErrors stays off (it would copy the source around the error into the message);
  // the line and column come from the error's offset instead.
  const lines = new LineCounter();
  const doc = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: false, strict: true, lineCounter: lines });
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${source}: not valid YAML/JSON at line ${line}, column ${col}: ${first.code}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch {
    throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${source}: too many YAML aliases`);
  }
  checkDepth(value, 0, source);
  return value;
}

function checkDepth(value: unknown, depth: number, source: string): void {
  if (depth > 32) throw new ShadowplaneError('SP_MANIFEST_UNREADABLE', `${source}: nested deeper than 32 levels`);
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) checkDepth(v, depth + 1, source);
  }
}

/** Validates a parsed manifest document. */
export function parseManifest(document: unknown, _source = 'manifest'): Manifest {
  const root = new FieldReader(document, '').object(['apiVersion', 'kind', 'metadata', 'confidential', 'workloads', 'users', 'scrapers', 'upstream', 'agent']);
  const apiVersion = root.required('apiVersion').string();
  if (apiVersion !== MANIFEST_API_VERSION) root.field('apiVersion').fail(`must be ${JSON.stringify(MANIFEST_API_VERSION)}`);
  root.required('kind').oneOf(['Manifest'] as const);
  const metadata = root.required('metadata').object(['name']);
  const name = metadata.required('name').string({ maxLength: 253, pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, patternHint: 'must be a DNS-1123 subdomain' });

  const confidential = root.required('confidential').array({ minItems: 1, maxItems: 1000 }).map((r) => {
    const o = r.object(['namespace', 'pods']);
    const namespace = o.required('namespace').string({ maxLength: 63, pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
    const pods = o.optional('pods')?.stringList({ minItems: 1, maxItems: 100, item: { pattern: NAME_PATTERN, patternHint: NAME_PATTERN_HINT } }) ?? ['*'];
    return { namespace, pods, matches: compileGlobs(pods) };
  });
  unique(confidential.map((c) => c.namespace), 'confidential', 'namespace');

  const workloads = (root.optional('workloads')?.array({ maxItems: 1000 }) ?? []).map((r) => {
    const o = r.object(['name', 'namespace', 'pods', 'referenceValues', 'metrics']);
    const wname = o.required('name').string({ maxLength: 63, pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
    const namespace = o.required('namespace').string({ maxLength: 63, pattern: DNS_LABEL, patternHint: DNS_LABEL_HINT });
    if (!confidential.some((c) => c.namespace === namespace)) {
      o.field('namespace').fail(`namespace ${JSON.stringify(namespace)} is not listed under confidential`);
    }
    const pods = o.optional('pods')?.stringList({ minItems: 1, maxItems: 100, item: { pattern: NAME_PATTERN, patternHint: NAME_PATTERN_HINT } }) ?? ['*'];
    const rvField = o.required('referenceValues');
    const referenceValues = parseReferenceValues(rvField.raw, `manifest ${rvField.path}`);
    const metricsField = o.optional('metrics');
    const metrics = metricsField === undefined ? undefined : parseScrubPolicy(metricsField.raw, metricsField.path);
    return { name: wname, namespace, pods, matches: compileGlobs(pods), referenceValues, metrics, metricsDocument: metricsField?.raw };
  });
  unique(workloads.map((w) => w.name), 'workloads', 'name');

  const users = root.required('users').array({ minItems: 1, maxItems: 10_000 }).map((r) => parseUser(r));
  unique(users.map((u) => u.name), 'users', 'name');
  unique(users.map((u) => u.publicKeySha256), 'users', 'publicKey');

  const confidentialNamespaces = new Set(confidential.map((c) => c.namespace));
  const scraperReaders = root.optional('scrapers')?.array({ maxItems: 1000 }) ?? [];
  const scrapers = scraperReaders.map((r) => parseScraper(r, confidentialNamespaces));
  unique(scrapers.map((s) => s.name), 'scrapers', 'name');
  const userKeys = new Set(users.map((u) => u.publicKeySha256));
  scrapers.forEach((s, i) => {
    if (s.publicKeySha256 === undefined) return;
    if (userKeys.has(s.publicKeySha256)) scraperReaders[i]!.object(SCRAPER_KEYS).field('publicKey').fail('is also the key of a user: a scraper needs a key of its own');
  });
  unique(scrapers.flatMap((s) => (s.publicKeySha256 === undefined ? [] : [s.publicKeySha256])), 'scrapers', 'publicKey');
  unique(scrapers.flatMap((s) => (s.tokenSha256 === undefined ? [] : [s.tokenSha256.toString('hex')])), 'scrapers', 'tokenSha256');

  const upstream = parseUpstream(root.required('upstream'));
  const agentReader = root.optional('agent')?.object(['port']);
  const agent = { port: agentReader?.optional('port')?.integer({ min: 1, max: 65535 }) ?? 15443 };

  const digest = canonicalDigest(document);
  return deepFreeze({
    apiVersion: MANIFEST_API_VERSION,
    name,
    confidential,
    workloads,
    users,
    scrapers,
    upstream,
    agent,
    digest,
    digestHex: digest.toString('hex'),
    document,
  });
}

function parseUser(r: FieldReader): ManifestUser {
  const o = r.object(['name', 'groups', 'publicKey', 'permissions']);
  const name = o.required('name').string({ maxLength: 256, pattern: /^[^\s:][^\r\n]*$/, patternHint: 'must be a user name without line breaks' });
  const groups = o.optional('groups')?.stringList({ maxItems: 100, item: { maxLength: 256 } }) ?? [];
  const keyField = o.required('publicKey');
  const publicKey = publicKeyField(keyField);
  if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'ed25519') {
    keyField.fail('must be an EC, RSA or Ed25519 key');
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const permissions = (o.optional('permissions')?.array({ maxItems: 1000 }) ?? []).map((p) => {
    const po = p.object(['namespaces', 'verbs']);
    const namespaces = po.required('namespaces').stringList({ minItems: 1, maxItems: 1000, item: { maxLength: 63, pattern: /^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/, patternHint: `${DNS_LABEL_HINT}, or "*"` } });
    const verbs = po.required('verbs').array({ minItems: 1, maxItems: VERBS.length }).map((v) => v.oneOf(VERBS));
    return { namespaces, verbs };
  });
  return { name, groups, publicKey, publicKeySha256: createHash('sha256').update(spki).digest('hex'), permissions };
}

const SCRAPER_KEYS = ['name', 'publicKey', 'tokenSha256', 'namespaces'] as const;

function parseScraper(r: FieldReader, confidentialNamespaces: ReadonlySet<string>): ManifestScraper {
  const o = r.object(SCRAPER_KEYS);
  const name = o.required('name').string({ maxLength: 253, pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, patternHint: 'must be a DNS-1123 subdomain' });
  if (o.has('publicKey') === o.has('tokenSha256')) o.field('publicKey').fail('exactly one of publicKey and tokenSha256 is required');
  let publicKeySha256: string | undefined;
  let tokenSha256: Buffer | undefined;
  if (o.has('publicKey')) {
    const keyField = o.required('publicKey');
    const publicKey = publicKeyField(keyField);
    if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'ed25519') keyField.fail('must be an EC, RSA or Ed25519 key');
    publicKeySha256 = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  } else {
    const hex = o.required('tokenSha256').string({ maxLength: 64, pattern: /^[0-9a-f]{64}$/, patternHint: 'must be the SHA-256 of the token as 64 lower-case hex digits (sha256sum)' });
    tokenSha256 = Buffer.from(hex, 'hex');
  }
  const nsField = o.required('namespaces');
  const namespaces = nsField.stringList({ minItems: 1, maxItems: 1000, item: { maxLength: 63, pattern: /^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/, patternHint: `${DNS_LABEL_HINT}, or "*"` } });
  namespaces.forEach((ns, i) => {
    if (ns !== '*' && !confidentialNamespaces.has(ns)) new FieldReader(ns, `${nsField.path}[${i}]`).fail(`namespace ${JSON.stringify(ns)} is not listed under confidential`);
  });
  return { name, publicKeySha256, tokenSha256, namespaces };
}

function parseUpstream(r: FieldReader): Upstream {
  const o = r.object(['server', 'certificateAuthority', 'tlsServerName', 'auth', 'credential']);
  const server = o.required('server').string({ maxLength: 2048 });
  const url = URL.parse(server) ?? o.field('server').fail('must be an https:// URL');
  if (url.protocol !== 'https:') o.field('server').fail('must be an https:// URL');
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    o.field('server').fail('must be scheme, host and port only');
  }
  const caField = o.optional('certificateAuthority');
  const certificateAuthority = caField?.string({ maxLength: 64 * 1024, pattern: /-----BEGIN CERTIFICATE-----/, patternHint: 'must be PEM certificate data' });
  const tlsServerName = o.optional('tlsServerName')?.string({ maxLength: 253 });
  const auth = o.required('auth').oneOf(UPSTREAM_AUTH_MODES);
  const credReader = o.optional('credential');
  let credential: UpstreamCredential = { source: 'none' };
  if (credReader !== undefined) {
    const co = credReader.object(['source', 'path', 'context']);
    const source = co.required('source').oneOf(['kubeconfig', 'in-cluster', 'none'] as const);
    if (source === 'kubeconfig') {
      credential = { source, path: co.required('path').string({ maxLength: 4096 }), context: co.optional('context')?.string({ maxLength: 253 }) };
    } else {
      if (co.has('path') || co.has('context')) co.field(co.has('path') ? 'path' : 'context').fail(`is only allowed with source "kubeconfig"`);
      credential = { source };
    }
  }
  if (auth === 'impersonate' && credential.source === 'none') {
    o.field('credential').fail('impersonate mode needs the proxy\'s own credential (source "kubeconfig" or "in-cluster")');
  }
  return { server: url.origin, certificateAuthority, tlsServerName, auth, credential };
}

/** The key of a publicKey field, or the field's failure (a private key is named as such). */
function publicKeyField(field: { string(o: { maxLength: number }): string; fail(message: string): never }): KeyObject {
  const key = publicKeyOfPem(field.string({ maxLength: 16 * 1024 }));
  if (key === 'private') field.fail(PRIVATE_KEY_REFUSED);
  if (key === 'invalid') field.fail('must be a PEM public key (SubjectPublicKeyInfo) or certificate');
  return key;
}

function unique(values: readonly string[], listPath: string, key: string): void {
  const seen = new Map<string, number>();
  values.forEach((v, i) => {
    const prev = seen.get(v);
    if (prev !== undefined) {
      throw new ShadowplaneError('SP_MANIFEST_INVALID', `${listPath}[${i}].${key}: duplicates ${listPath}[${prev}].${key}`);
    }
    seen.set(v, i);
  });
}
