/**
 * Several containers, one pod network namespace: only one agent can hold the TCP port.
 * Every agent also serves its own container on a unix socket, `<shareDir>/<container>.sock`,
 * in a memory-backed volume all containers of the pod mount (inside the TEE). The agent
 * that holds the port relays an operation for another container to that container's
 * socket, as the same HTTP/2 request (cleartext: both ends are inside the pod's TEE).
 *
 * A container whose socket is missing or refuses is SP_CONTAINER_NOT_FOUND. Relayed
 * streams keep their backpressure (stream.pipeline both ways) and their half-close.
 */
import { connect as h2Connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { readdirSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { proxyH2Options } from '../channel/h2-options.ts';
import { CHANNEL_PATHS, PROTOCOL_LIMITS, decodeInfo, isContainerName, type ContainerInfo } from '../channel/protocol.ts';
import { readBody, respondError } from '../channel/stream-util.ts';

export interface ContainerRouterOptions {
  readonly shareDir: string;
  readonly ownContainer: string;
  readonly logger: Logger;
  /** Default 1000. */
  readonly connectTimeoutMs?: number;
}

export function socketPathOf(shareDir: string, container: string): string {
  return join(shareDir, `${container}.sock`);
}

export class ContainerRouter {
  readonly #options: ContainerRouterOptions;
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();

  constructor(options: ContainerRouterOptions) {
    this.#options = options;
  }

  /** Relays one operation to the agent of `container` (a validated DNS label). */
  relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, container: string): void {
    stream.pause();
    this.#session(container).then(
      (session) => this.#forward(session, stream, headers),
      (err: unknown) => respondError(stream, err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_CONTAINER_NOT_FOUND')),
    );
  }

  /** The other containers whose agents answer, each as it describes itself. */
  async siblings(): Promise<ContainerInfo[]> {
    let names: string[];
    try {
      names = readdirSync(this.#options.shareDir)
        .filter((f) => f.endsWith('.sock'))
        .map((f) => f.slice(0, -'.sock'.length))
        .filter((n) => isContainerName(n) && n !== this.#options.ownContainer)
        .slice(0, PROTOCOL_LIMITS.maxContainers);
    } catch {
      return [];
    }
    const answers = await Promise.all(names.map((name) => this.#describe(name).catch(() => undefined)));
    return answers.filter((c): c is ContainerInfo => c !== undefined);
  }

  close(): void {
    for (const pending of this.#sessions.values()) void pending.then((s) => s.destroy(), () => undefined);
    this.#sessions.clear();
  }

  async #describe(container: string): Promise<ContainerInfo | undefined> {
    const session = await this.#session(container);
    const req = session.request({ ':method': 'GET', ':path': CHANNEL_PATHS.info }, { endStream: true });
    const timer = setTimeout(() => req.close(constants.NGHTTP2_CANCEL), this.#options.connectTimeoutMs ?? 1000);
    try {
      const status = await new Promise<unknown>((resolve, reject) => {
        req.once('response', (h) => resolve(h[':status']));
        req.once('error', reject);
        req.once('close', () => reject(new Error('closed')));
      });
      if (status !== 200) return undefined;
      const info = decodeInfo(await readBody(req, PROTOCOL_LIMITS.maxJsonBody));
      const own = info.containers[0];
      return own !== undefined && own.name === container ? own : undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #session(container: string): Promise<ClientHttp2Session> {
    const existing = this.#sessions.get(container);
    if (existing !== undefined) return existing;
    const path = socketPathOf(this.#options.shareDir, container);
    const pending = new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = h2Connect('http://localhost', { ...proxyH2Options(), createConnection: () => netConnect(path) });
      const timer = setTimeout(() => {
        session.destroy();
        reject(new ShadowplaneError('SP_CONTAINER_NOT_FOUND', container));
      }, this.#options.connectTimeoutMs ?? 1000);
      session.once('connect', () => {
        clearTimeout(timer);
        resolve(session);
      });
      session.once('error', () => {
        clearTimeout(timer);
        reject(new ShadowplaneError('SP_CONTAINER_NOT_FOUND', container));
      });
      session.once('close', () => {
        if (this.#sessions.get(container) === pending) this.#sessions.delete(container);
      });
      session.on('error', () => undefined);
    });
    pending.catch(() => {
      if (this.#sessions.get(container) === pending) this.#sessions.delete(container);
    });
    this.#sessions.set(container, pending);
    return pending;
  }

  #forward(session: ClientHttp2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    if (stream.destroyed) return;
    const method = headers[':method'];
    const contentType = headers['content-type'];
    const hasBody = method !== 'GET';
    let upstream;
    try {
      upstream = session.request(
        { ':method': method, ':path': headers[':path'], ...(contentType === undefined ? {} : { 'content-type': contentType }) },
        { endStream: !hasBody },
      );
    } catch {
      respondError(stream, new ShadowplaneError('SP_CONTAINER_NOT_FOUND'));
      return;
    }
    const broken = (): void => {
      if (!stream.headersSent) respondError(stream, new ShadowplaneError('SP_AGENT_SESSION_LOST', 'the container agent went away'));
      else if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      if (!upstream.destroyed) upstream.close(constants.NGHTTP2_CANCEL);
    };
    upstream.on('error', () => undefined);
    stream.once('close', () => {
      if (!upstream.destroyed) upstream.close(constants.NGHTTP2_CANCEL);
    });
    upstream.once('response', (h) => {
      if (stream.destroyed) return;
      const type = h['content-type'];
      stream.respond({ ':status': h[':status'], ...(type === undefined ? {} : { 'content-type': type }) });
      pipeline(upstream, stream, (err) => {
        if (err) broken();
      });
    });
    upstream.once('close', () => {
      if (!stream.headersSent) broken();
    });
    if (hasBody) {
      pipeline(stream, upstream, (err) => {
        if (err && !stream.destroyed) broken();
      });
    }
  }
}
