/**
 * services/proxy of a confidential namespace: which pod, which port. The service (its
 * selector and ports) and the pods it selects come from the untrusted API server and are
 * used only as an address book:
 *
 * - only pods the manifest declares confidential are candidates, whatever the selector
 *   picks (a selector that also matches an ordinary pod never sends the request there);
 * - the chosen pod is then reached through its attested agent like any other, so a lying
 *   API server can misdirect a request to another confidential pod of the namespace or
 *   another port of the pod (availability), never to anything outside the TEEs.
 *
 * Port mapping as the API server does it: the request names the service port by name or
 * number (it may be left out when the service has exactly one port); its `targetPort` is
 * a number, a container port name looked up in each pod's spec, or, when absent, the
 * service port itself. Only TCP ports. Candidates come back in random order.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Manifest } from '../../config/manifest.ts';
import { isConfidentialPod } from '../../config/scope.ts';
import { ShadowplaneError } from '../../errors.ts';
import type { Upstream } from '../upstream.ts';
import type { PodDirectory, PodEndpoint } from './pod-directory.ts';
import { checkLookupStatus, getUpstreamJson } from './upstream-json.ts';

export interface ServiceCandidate {
  readonly pod: PodEndpoint;
  readonly port: number;
}

interface ServicePort {
  readonly name: string | undefined;
  readonly port: number;
  readonly targetPort: number | string;
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const MAX_SERVICE_BYTES = 1024 * 1024;

export interface ServiceResolverOptions {
  readonly manifest: Manifest;
  readonly upstream: Upstream;
  readonly pods: PodDirectory;
  /** Headers of the proxy's own upstream credential; undefined: use the caller's. */
  readonly ownAuth: (() => Promise<OutgoingHttpHeaders>) | undefined;
}

export async function resolveService(opts: ServiceResolverOptions, namespace: string, service: string, portSpec: string | undefined, callerAuth: OutgoingHttpHeaders): Promise<ServiceCandidate[]> {
  const auth = opts.ownAuth === undefined ? callerAuth : await opts.ownAuth();
  const what = `service ${namespace}/${service}`;
  const { status, value } = await getUpstreamJson(opts.upstream, `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}`, auth, { maxBytes: MAX_SERVICE_BYTES, timeoutMs: 10_000, what });
  if (status === 404) throw new ShadowplaneError('SP_SERVICE_NO_ENDPOINTS', `${what} does not exist`);
  checkLookupStatus(status, what);
  const spec = (value as { spec?: { selector?: unknown; ports?: unknown; publishNotReadyAddresses?: unknown } } | null)?.spec;
  // As the service's endpoints: ready pods only, unless the service publishes not-ready ones.
  const notReadyToo = spec?.publishNotReadyAddresses === true;
  const selector = selectorOf(spec?.selector);
  if (selector === undefined) throw new ShadowplaneError('SP_SERVICE_NO_ENDPOINTS', `${what} has no usable pod selector`);
  const port = pickPort(portsOf(spec?.ports), portSpec, what);

  const candidates: ServiceCandidate[] = [];
  for (const pod of await opts.pods.select(namespace, selector, callerAuth)) {
    if (!pod.running || (!pod.ready && !notReadyToo) || !isConfidentialPod(opts.manifest, namespace, pod.name)) continue;
    const target = typeof port.targetPort === 'number' ? port.targetPort : pod.ports.get(port.targetPort);
    if (target !== undefined) candidates.push({ pod, port: target });
  }
  if (candidates.length === 0) throw new ShadowplaneError('SP_SERVICE_NO_ENDPOINTS', what);
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }
  return candidates;
}

/** The selector as a labelSelector query value, or undefined when empty or not plain labels. */
function selectorOf(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0 || entries.length > 64) return undefined;
  const parts: string[] = [];
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) return undefined;
    parts.push(`${k}=${v}`);
  }
  return parts.join(',');
}

function portsOf(raw: unknown): ServicePort[] {
  if (!Array.isArray(raw)) return [];
  const out: ServicePort[] = [];
  for (const p of raw.slice(0, 256)) {
    const { name, port, targetPort, protocol } = (p ?? {}) as { name?: unknown; port?: unknown; targetPort?: unknown; protocol?: unknown };
    if (protocol !== undefined && protocol !== 'TCP') continue;
    if (!isPort(port)) continue;
    const target = targetPort === undefined ? port : isPort(targetPort) ? targetPort : typeof targetPort === 'string' && /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/.test(targetPort) ? targetPort : undefined;
    if (target === undefined) continue;
    out.push({ name: typeof name === 'string' ? name : undefined, port, targetPort: target });
  }
  return out;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65_535;
}

function pickPort(ports: readonly ServicePort[], spec: string | undefined, what: string): ServicePort {
  if (spec === undefined || spec === '') {
    if (ports.length === 1) return ports[0]!;
    throw new ShadowplaneError('SP_BAD_REQUEST', `${what} has ${ports.length === 0 ? 'no TCP port' : 'several ports'}: name one (services/NAME:PORT/proxy)`);
  }
  const found = /^[0-9]{1,5}$/.test(spec) ? ports.find((p) => p.port === Number(spec)) : ports.find((p) => p.name === spec);
  if (found === undefined) throw new ShadowplaneError('SP_SERVICE_NO_ENDPOINTS', `${what} has no such TCP port`);
  return found;
}
