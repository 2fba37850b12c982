/**
 * The stream routes: exec, attach and port-forward upgrades of the stand-in's ordinary
 * pods. The request was authenticated and authorized already; here the pod is checked
 * the way the API server does before it dials the kubelet (completed pods, unknown
 * containers), the upgrade is accepted with shadowplane's own terminators
 * (`src/proxy/streams/upgrade.ts`), and the session is handed to the Kubelet.
 *
 * Refusals before the upgrade are answered with the Kubernetes Status and
 * `Connection: close`; after a non-101 answer the connection is never reused.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { isShadowplaneError } from '../../../src/errors.ts';
import { acceptPortForward, acceptRemoteCommand, parseRemoteCommandOptions, type AcceptOptions } from '../../../src/proxy/streams/upgrade.ts';
import type { UpgradeRequest } from '../../../src/proxy/streams/types.ts';
import { isObject } from './json.ts';
import type { Kubelet } from './kubelet.ts';
import type { ResourceRequestInfo } from './request-info.ts';
import { Errors, type ApiError } from './status.ts';
import type { JsonObject, StoredObject } from './store.ts';
import { tapSession } from './payload-taps.ts';
import type { RecorderTap } from './recorder.ts';

export interface StreamRoutes {
  readonly kubelet: Kubelet;
  readonly accept: AcceptOptions;
}

export interface StreamUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly pod: StoredObject;
  readonly info: ResourceRequestInfo;
  readonly query: URLSearchParams;
  /** Records the session's de-framed payload (null: recording is off). */
  readonly tap: RecorderTap | null;
}

/** How long a refused client gets to read the answer before the socket is destroyed. */
const REJECT_LINGER_MS = 5000;

/** Answers an upgrade with a non-101 Status and closes the connection. */
export function writeUpgradeError(socket: Duplex, err: ApiError): void {
  socket.on('error', () => undefined);
  if (socket.destroyed || socket.writableEnded) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(err.status) + '\n';
  const head = [
    `HTTP/1.1 ${err.code} ${STATUS_CODES[err.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-cache, private',
    'Connection: close',
  ].join('\r\n');
  socket.resume();
  socket.end(`${head}\r\n\r\n${body}`);
  const timer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);
const strings = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

/** Checks the pod and container like the API server's pod strategy does before streaming. */
function target(u: StreamUpgrade): { container: JsonObject; containerName: string; podIP: string } {
  const pod = u.pod.object;
  const spec = obj(pod['spec']);
  const status = obj(pod['status']);
  const phase = typeof status['phase'] === 'string' ? status['phase'] : '';
  const op = u.info.subresource === 'portforward' ? 'port-forward' : u.info.subresource;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw Errors.badRequest(`cannot ${op} into a container in a completed pod; current phase is ${phase}`);
  }
  if (typeof spec['nodeName'] !== 'string' || spec['nodeName'] === '') throw Errors.badRequest(`pod ${u.pod.name} does not have a host assigned`);
  const podIP = typeof status['podIP'] === 'string' ? status['podIP'] : '';
  const containers = arr(spec['containers']).map(obj);
  if (u.info.subresource === 'portforward') return { container: {}, containerName: '', podIP };
  let name = u.query.get('container') ?? '';
  if (name === '') {
    if (containers.length !== 1) {
      throw Errors.badRequest(`a container name must be specified for pod ${u.pod.name}, choose one of: [${containers.map((c) => (typeof c['name'] === 'string' ? c['name'] : '')).join(' ')}]`);
    }
    const only = containers[0]?.['name'];
    name = typeof only === 'string' ? only : '';
  }
  const container = containers.find((c) => c['name'] === name);
  if (container === undefined) throw Errors.badRequest(`container ${name} is not valid for pod ${u.pod.name}`);
  return { container, containerName: name, podIP };
}

/**
 * Serves one stream upgrade to completion of its acceptance and returns the HTTP status
 * the client got (101, or the refusal's code). Never throws: every refusal is answered.
 */
export async function serveStreamUpgrade(routes: StreamRoutes, u: StreamUpgrade): Promise<number> {
  const request: UpgradeRequest = { method: u.req.method ?? 'GET', url: u.req.url ?? '/', headers: u.req.headers, rawHeaders: u.req.rawHeaders };
  let t: ReturnType<typeof target>;
  let options: ReturnType<typeof parseRemoteCommandOptions> | null = null;
  try {
    t = target(u);
    if (u.info.subresource !== 'portforward') options = parseRemoteCommandOptions(u.query);
  } catch (err) {
    const apiErr = isShadowplaneError(err) ? Errors.badRequest(err.detail ?? err.message) : (err as ApiError);
    writeUpgradeError(u.socket, apiErr);
    return apiErr.code;
  }
  const kubelet = routes.kubelet;
  try {
    if (options === null) {
      const session = await acceptPortForward(request, u.socket, u.head, routes.accept);
      kubelet.track(kubelet.forward(session.connections(), t.podIP));
      return 101;
    }
    const accepted = await acceptRemoteCommand(request, u.socket, u.head, options, routes.accept);
    const session = u.tap === null ? accepted : tapSession(accepted, u.tap);
    const execRequest = {
      operation: u.info.subresource === 'attach' ? ('attach' as const) : ('exec' as const),
      namespace: u.pod.namespace,
      pod: u.pod.name,
      container: t.containerName,
      command: u.info.subresource === 'attach' ? [...strings(t.container['command']), ...strings(t.container['args'])] : u.query.getAll('command'),
      podIP: t.podIP,
      stdinOnce: t.container['stdinOnce'] === true,
    };
    kubelet.track(execRequest.operation === 'attach' ? kubelet.attach(session, execRequest) : kubelet.exec(session, execRequest));
    return 101;
  } catch (err) {
    // The terminators answered the client already (a Status before the 101, or a close after it).
    if (!u.socket.destroyed) setTimeout(() => u.socket.destroy(), REJECT_LINGER_MS).unref();
    return isShadowplaneError(err) ? err.http : 500;
  }
}
