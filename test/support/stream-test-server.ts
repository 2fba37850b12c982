/**
 * A minimal TLS API server for kubectl that serves exec, attach and port-forward through
 * shadowplane's own terminators (src/proxy/streams), the way a tiny kubelet would:
 * exec/attach run local processes, port-forward connects to local loopback ports.
 *
 * It answers just enough for kubectl to get there: legacy discovery (/api, /apis,
 * /api/v1), /version, and GET of any pod (Running, one container `c1`). Everything else
 * is a 404 Status. A bearer token is required. The fuller API server stand-in lives in
 * test/support/fake-apiserver/; this one exists to test the stream protocols in isolation.
 *
 * Tests can replace the exec and port-forward behaviour, refuse upgrades, and read which
 * protocol every session negotiated.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import pty from 'node-pty';
import type { Logger } from 'pino';
import { ShadowplaneError, asShadowplaneError } from '../../src/errors.ts';
import { statusForError } from '../../src/kube-streams/status.ts';
import { silentLogger } from '../../src/log.ts';
import { createSelfSigned } from '../../src/tls/certificates.ts';
import { acceptPortForward, acceptRemoteCommand, parseRemoteCommandOptions, rejectUpgrade, type AcceptOptions } from '../../src/proxy/streams/upgrade.ts';
import type { CommandResult, ForwardedConnection, RemoteCommandSession, StreamProtocol, UpgradeRequest } from '../../src/proxy/streams/types.ts';
import { splice } from '../../src/channel/splice.ts';


export type StreamOperation = 'exec' | 'attach' | 'portforward';

export interface ExecRequest {
  readonly operation: 'exec' | 'attach';
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
}

export interface StreamTestServerOptions {
  readonly logger?: Logger;
  /** Serves an exec/attach session; default runs the command as a local process (attach runs `cat`). */
  readonly exec?: (session: RemoteCommandSession, request: ExecRequest) => Promise<void>;
  /** Serves one forwarded connection; default connects to 127.0.0.1:<port>. */
  readonly forward?: (connection: ForwardedConnection) => void;
  /** Refuses an upgrade before it is accepted when this returns an error. */
  readonly refuse?: (operation: StreamOperation, req: IncomingMessage) => ShadowplaneError | undefined;
  readonly accept?: AcceptOptions;
}

export interface SessionRecord {
  readonly operation: StreamOperation;
  readonly protocol: StreamProtocol;
  /** The session's `aborted` signal (fires when the client went away first). */
  readonly aborted: AbortSignal;
  result?: CommandResult;
  counters?: { readonly bytesIn: number; readonly bytesOut: number };
}

export interface StreamTestServer {
  readonly url: string;
  readonly caPem: string;
  readonly token: string;
  /** Every session accepted, in order. */
  readonly sessions: SessionRecord[];
  /** Every upgrade attempt: its transport and whether it was refused. */
  readonly upgrades: Array<{ readonly operation: StreamOperation; readonly transport: string; readonly refused: boolean }>;
  close(): Promise<void>;
}

function selfSignedCertificate(): Promise<{ certPem: string; keyPem: string }> {
  return createSelfSigned({ commonName: 'shadowplane stream test server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validityMs: 24 * 3600_000, usage: 'server' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const API_VERSIONS = { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
const API_GROUPS = { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const API_V1 = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs, shortNames: ['po'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs },
  ],
};
const VERSION = { major: '1', minor: '33', gitVersion: 'v1.33.0', platform: 'linux/amd64' };

function pod(namespace: string, name: string): unknown {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace, uid: '00000000-0000-4000-8000-000000000001', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c1', image: 'stand-in', stdin: true, tty: false }] },
    status: { phase: 'Running', podIP: '127.0.0.1', containerStatuses: [{ name: 'c1', ready: true, restartCount: 0, image: 'stand-in', imageID: '', state: { running: { startedAt: '2024-01-01T00:00:00Z' } } }] },
  };
}

const POD_PATH = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/pods\/([a-z0-9.-]+)(?:\/(exec|attach|portforward))?$/;

/** Runs the command of an exec (or `cat` for attach) and reports its exit code. */
export async function runLocalProcess(session: RemoteCommandSession, request: ExecRequest): Promise<void> {
  const [file, ...args] = request.operation === 'attach' ? ['cat'] : request.command;
  if (file === undefined) {
    await session.finish({ kind: 'error', error: new ShadowplaneError('SP_BAD_REQUEST', 'no command') });
    return;
  }
  if (session.options.tty) {
    await runUnderPty(session, file, args);
    return;
  }
  const child = spawn(file, args, {
    stdio: [session.stdin ? 'pipe' : 'ignore', session.stdout ? 'pipe' : 'ignore', session.stderr ? 'pipe' : 'ignore'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  const copies: Array<Promise<void>> = [];
  const copy = (from: Readable, to: Writable, end: boolean): Promise<void> => pipelineAsync(from, to, { end }).catch(() => undefined);
  if (session.stdin && child.stdin) void copy(session.stdin, child.stdin, true);
  if (session.stdout && child.stdout) copies.push(copy(child.stdout, session.stdout, false));
  if (session.stderr && child.stderr) copies.push(copy(child.stderr, session.stderr, false));
  const onAbort = (): void => void child.kill('SIGKILL');
  session.aborted.addEventListener('abort', onAbort);
  const result = await new Promise<CommandResult>((resolve) => {
    child.once('error', () => resolve({ kind: 'error', error: new ShadowplaneError('SP_BAD_REQUEST', 'the command cannot be started') }));
    child.once('close', (code, signal) => resolve({ kind: 'exit', code: code ?? (signal ? 128 + 9 : 1) }));
  });
  await Promise.all(copies);
  session.aborted.removeEventListener('abort', onAbort);
  await session.finish(result);
}

/** TTY sessions: the command runs under a pseudo-terminal sized by the client's resizes. */
async function runUnderPty(session: RemoteCommandSession, file: string, args: string[]): Promise<void> {
  const sizes = session.resizes;
  const first = await new Promise<{ width: number; height: number }>((resolve) => {
    if (!sizes) return resolve({ width: 80, height: 24 });
    const timer = setTimeout(() => resolve({ width: 80, height: 24 }), 2000);
    sizes.once('data', (size: { width: number; height: number }) => {
      clearTimeout(timer);
      resolve(size);
    });
  });
  const term = pty.spawn(file, args, { name: 'xterm', cols: first.width || 80, rows: first.height || 24, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' } });
  sizes?.on('data', (size: { width: number; height: number }) => {
    if (size.width > 0 && size.height > 0) term.resize(size.width, size.height);
  });
  session.stdin?.on('data', (chunk: Buffer) => term.write(chunk.toString('utf8')));
  const stdout = session.stdout;
  term.onData((data) => {
    if (stdout && !stdout.write(data)) {
      term.pause();
      stdout.once('drain', () => term.resume());
    }
  });
  const onAbort = (): void => term.kill('SIGKILL');
  session.aborted.addEventListener('abort', onAbort);
  const code = await new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  session.aborted.removeEventListener('abort', onAbort);
  // node-pty may deliver the last output just after the exit event.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await session.finish({ kind: 'exit', code });
}

/** Connects a forwarded connection to 127.0.0.1:<port>, half-closing each way. */
function forwardToLoopback(connection: ForwardedConnection): void {
  const target: Socket = connect({ host: '127.0.0.1', port: connection.port, allowHalfOpen: true });
  let connected = false;
  target.once('connect', () => {
    connected = true;
    splice(connection.data, target, () => connection.close());
  });
  target.once('error', () => {
    if (connected) return;
    connection.fail(`nothing listens on port ${connection.port}`);
    connection.close();
  });
}

export async function startStreamTestServer(options: StreamTestServerOptions = {}): Promise<StreamTestServer> {
  const logger = options.logger ?? silentLogger();
  const { certPem, keyPem } = await selfSignedCertificate();
  const token = randomBytes(16).toString('hex');
  const sessions: SessionRecord[] = [];
  const upgrades: Array<{ operation: StreamOperation; transport: string; refused: boolean }> = [];
  const sockets = new Set<Duplex>();
  const children = new Set<Promise<void>>();

  const authorized = (req: IncomingMessage): boolean => req.headers.authorization === `Bearer ${token}`;

  const server: Server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    if (!authorized(req)) return json(res, 401, statusForError(new ShadowplaneError('SP_UNAUTHENTICATED')));
    const path = new URL(req.url ?? '/', 'https://stand-in').pathname;
    if (req.method === 'GET' && path === '/api') return json(res, 200, API_VERSIONS);
    if (req.method === 'GET' && path === '/apis') return json(res, 200, API_GROUPS);
    if (req.method === 'GET' && path === '/api/v1') return json(res, 200, API_V1);
    if (req.method === 'GET' && path === '/version') return json(res, 200, VERSION);
    const match = POD_PATH.exec(path);
    if (match && match[3] === undefined && req.method === 'GET') return json(res, 200, pod(match[1]!, match[2]!));
    if (match && match[3] !== undefined) return json(res, 400, statusForError(new ShadowplaneError('SP_UPGRADE_REQUIRED')));
    return json(res, 404, statusForError(new ShadowplaneError('SP_POD_NOT_FOUND')));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://stand-in');
    const match = POD_PATH.exec(url.pathname);
    const operation = match?.[3] as StreamOperation | undefined;
    if (!authorized(req)) return rejectUpgrade(socket, new ShadowplaneError('SP_UNAUTHENTICATED'));
    if (match === null || operation === undefined) return rejectUpgrade(socket, new ShadowplaneError('SP_POD_NOT_FOUND'));
    const transport = String(req.headers.upgrade ?? '').toLowerCase();
    const refusal = options.refuse?.(operation, req);
    upgrades.push({ operation, transport, refused: refusal !== undefined });
    if (refusal) return rejectUpgrade(socket, refusal);
    const request: UpgradeRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders };
    const accept = { logger, ...options.accept };

    const work = (async () => {
      if (operation === 'portforward') {
        const session = await acceptPortForward(request, socket, head, accept);
        const record: SessionRecord = { operation, protocol: session.protocol, aborted: session.aborted };
        sessions.push(record);
        for await (const connection of session.connections()) (options.forward ?? forwardToLoopback)(connection);
        record.counters = session.counters;
        return;
      }
      let execOptions;
      try {
        execOptions = parseRemoteCommandOptions(url.searchParams);
      } catch (err) {
        rejectUpgrade(socket, asShadowplaneError(err, 'SP_BAD_REQUEST'));
        return;
      }
      const session = await acceptRemoteCommand(request, socket, head, execOptions, accept);
      const record: SessionRecord = { operation, protocol: session.protocol, aborted: session.aborted };
      sessions.push(record);
      const originalFinish = session.finish.bind(session);
      const recorded: RemoteCommandSession = {
        ...session,
        get counters() {
          return session.counters;
        },
        finish: (result) => {
          // Recorded before finishing: kubectl may exit before finish() resolves.
          record.result = result;
          record.counters = session.counters;
          return originalFinish(result).finally(() => (record.counters = session.counters));
        },
      };
      const execRequest: ExecRequest = {
        operation,
        namespace: match[1]!,
        pod: match[2]!,
        container: url.searchParams.get('container') ?? 'c1',
        command: url.searchParams.getAll('command'),
      };
      await (options.exec ?? runLocalProcess)(recorded, execRequest);
    })().catch((err: unknown) => logger.debug({ code: asShadowplaneError(err).code }, 'stream test server session failed'));
    children.add(work);
    void work.finally(() => children.delete(work));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: certPem,
    token,
    sessions,
    upgrades,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.race([Promise.allSettled([...children]), new Promise((resolve) => setTimeout(resolve, 2000))]);
    },
  };
}
