/**
 * Publishing fetched CRLs as a ConfigMap, the way verifiers in a cluster receive them
 * (`inject --crl-configmap`, the proxy's `--crl` on a mounted ConfigMap): what a CronJob
 * running `shadowplane crl fetch --configmap NS/NAME` does with the API server.
 *
 * The API server is untrusted, and nothing here trusts it: CRLs read back from the
 * ConfigMap are parsed and only ever move a file forward (writeCrlFile), and every
 * verifier checks each CRL's signature and window again when it loads it. What the
 * ConfigMap adds is the previous run's CRLs: a run whose fetch fails, or is answered with
 * an older CRL, publishes what was there rather than dropping or rolling it back.
 *
 * Requests are bounded (answer size, time) and authenticated with the pod's service
 * account token; the body of a ConfigMap is never logged or put in an error.
 */
import { request } from 'node:https';
import { readBoundedFile } from '../config/bounded-file.ts';
import { ShadowplaneError } from '../errors.ts';
import { MAX_CRL_BYTES, parseCrl, type Crl } from './crl.ts';

/** A ConfigMap holds at most 1 MiB; its JSON (base64 inflates by 4/3) fits in this. */
const MAX_ANSWER_BYTES = 2 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
const CONFIGMAP_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** The keys this publishes: the file names `crl fetch` writes. */
const CRL_KEY = /^[a-z0-9][-a-z0-9.]{0,60}\.crl$/;

export interface ApiAccess {
  /** https://host:port of the API server. */
  readonly server: string;
  readonly ca: Buffer;
  /** Read again for every request: bound service-account tokens rotate. */
  readonly tokenFile: string;
}

export interface ConfigMapRef {
  readonly namespace: string;
  readonly name: string;
}

/** `NAMESPACE/NAME`, checked as Kubernetes names. */
export function parseConfigMapRef(value: string, option: string): ConfigMapRef {
  const [namespace, name, ...rest] = value.split('/');
  if (namespace === undefined || name === undefined || rest.length > 0 || !NAMESPACE_NAME.test(namespace) || !CONFIGMAP_NAME.test(name)) {
    throw new ShadowplaneError('SP_USAGE', `${option} must be NAMESPACE/NAME`);
  }
  return { namespace, name };
}

/** What the ConfigMap holds now: its CRLs by key (only keys that name CRLs and parse as one), and the object as read (its resourceVersion with it). */
export interface PublishedCrls {
  readonly exists: boolean;
  readonly crls: ReadonlyMap<string, Crl>;
  /** Every binaryData entry as served, kept as is when the ConfigMap is replaced. */
  readonly binaryData: Readonly<Record<string, string>>;
  /** The object as served: everything but binaryData's CRL keys is written back as it was. */
  readonly object: Readonly<Record<string, unknown>> | undefined;
  /** Keys that look like CRLs but do not parse as one: replaced by what this run has. */
  readonly unreadable: readonly string[];
}

export async function readPublishedCrls(access: ApiAccess, ref: ConfigMapRef): Promise<PublishedCrls> {
  const { status, body } = await call(access, 'GET', pathOf(ref), undefined);
  if (status === 404) return { exists: false, crls: new Map(), binaryData: {}, unreadable: [], object: undefined };
  if (status !== 200) throw refused(status, 'read', ref);
  const object = json(body, ref) as { kind?: unknown; binaryData?: unknown };
  if (typeof object !== 'object' || object === null || object.kind !== 'ConfigMap') throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `ConfigMap ${ref.namespace}/${ref.name}: the API server answered something else`);
  const binaryData: Record<string, string> = {};
  const crls = new Map<string, Crl>();
  const unreadable: string[] = [];
  if (typeof object.binaryData === 'object' && object.binaryData !== null) {
    for (const [key, value] of Object.entries(object.binaryData as Record<string, unknown>)) {
      if (typeof value !== 'string') continue;
      binaryData[key] = value;
      if (!CRL_KEY.test(key)) continue;
      try {
        const der = Buffer.from(value, 'base64');
        if (der.length > MAX_CRL_BYTES) throw new ShadowplaneError('SP_ATTEST_COLLATERAL_INVALID', 'too large');
        crls.set(key, parseCrl(der, `ConfigMap key ${key}`));
      } catch {
        unreadable.push(key);
      }
    }
  }
  return { exists: true, crls, binaryData, unreadable, object };
}

/**
 * Publishes `files` (key → DER) into the ConfigMap, keeping its other binaryData keys:
 * created when `previous` found none, else replaced at the resourceVersion it was read at, so a
 * concurrent change makes this fail (HTTP 409) rather than be overwritten. Returns false
 * when nothing would change.
 */
export async function publishCrls(access: ApiAccess, ref: ConfigMapRef, previous: PublishedCrls, files: ReadonlyMap<string, Buffer>): Promise<boolean> {
  const binaryData: Record<string, string> = { ...previous.binaryData };
  for (const [key, der] of files) binaryData[key] = der.toString('base64');
  const changed = !previous.exists || Object.keys(binaryData).length !== Object.keys(previous.binaryData).length || Object.entries(binaryData).some(([k, v]) => previous.binaryData[k] !== v);
  if (!changed) return false;
  // The rest of the object (data, labels, annotations, owner references) goes back as read;
  // its resourceVersion makes a concurrent change fail the write.
  const object = previous.object === undefined ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ref.name, namespace: ref.namespace }, binaryData } : { ...previous.object, binaryData };
  const { status } = previous.exists ? await call(access, 'PUT', pathOf(ref), object) : await call(access, 'POST', `/api/v1/namespaces/${ref.namespace}/configmaps`, object);
  if (status === 409) throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `ConfigMap ${ref.namespace}/${ref.name} changed while CRLs were fetched (HTTP 409): nothing written; the next run publishes`);
  if (status !== 200 && status !== 201) throw refused(status, 'write', ref);
  return true;
}

function pathOf(ref: ConfigMapRef): string {
  return `/api/v1/namespaces/${ref.namespace}/configmaps/${ref.name}`;
}

function refused(status: number, what: 'read' | 'write', ref: ConfigMapRef): ShadowplaneError {
  const hint = status === 401 || status === 403 ? ': the service account needs get, update (and create) on this ConfigMap (deploy/kustomize/components/crl-refresh)' : '';
  return new ShadowplaneError(status === 401 || status === 403 ? 'SP_FORBIDDEN' : 'SP_UPSTREAM_PROTOCOL', `cannot ${what} ConfigMap ${ref.namespace}/${ref.name}: the API server answered HTTP ${status}${hint}`);
}

function json(body: Buffer, ref: ConfigMapRef): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `ConfigMap ${ref.namespace}/${ref.name}: the API server answered something that is not JSON`);
  }
}

/** One bounded request with the service account's token. */
function call(access: ApiAccess, method: 'GET' | 'PUT' | 'POST', path: string, object: unknown): Promise<{ status: number; body: Buffer }> {
  let token: string;
  try {
    token = readBoundedFile(access.tokenFile, 64 * 1024).toString('utf8').trim();
  } catch {
    return Promise.reject(new ShadowplaneError('SP_UPSTREAM_CREDENTIAL', `cannot read the service account token at ${access.tokenFile}`));
  }
  const payload = object === undefined ? undefined : Buffer.from(JSON.stringify(object), 'utf8');
  const url = new URL(path, access.server);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: access.ca,
        minVersion: 'TLSv1.2',
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            reject(new ShadowplaneError('SP_UPSTREAM_PROTOCOL', `the API server's answer for ${path} is larger than ${MAX_ANSWER_BYTES} bytes`));
          } else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', () => reject(new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', `the API server's answer for ${path} broke off`)));
      },
    );
    req.on('timeout', () => req.destroy(new ShadowplaneError('SP_UPSTREAM_TIMEOUT', `the API server did not answer ${method} ${path} within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_UPSTREAM_UNAVAILABLE', `cannot reach the API server at ${url.host} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)));
    req.end(payload);
  });
}
