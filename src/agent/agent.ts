/**
 * The in-pod agent, wired in one visible place:
 *
 *   workload (supervisor) ──stdout/stderr──► log store ──► log file (→ previous)
 *   channel listener (TLS 1.3, verified proxy only) ─┐
 *   unix socket (the pod's other agents)  ───────────┴─► operations ─► exec | attach | logs
 *                                                        │              | port-forward | info
 *                                                        │              | metrics (scrape → scrub)
 *                                                        └─► container router (other containers)
 *
 * The agent lives as long as its workload: when the workload exits, the agent serves a
 * short grace period (so that `logs -f` and attach deliver the end and the exit code),
 * closes everything and reports the workload's exit code as its own. A workload that
 * cannot be started ends the agent at once with 127 (not found) or 126 (not executable).
 */
import { mkdirSync, statfsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { isShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { AgentListener, type OperationHandler } from '../channel/agent-listener.ts';
import type { ChannelCredentials, ProxyVerifier } from '../channel/trust.ts';
import type { AgentConfig } from '../config/agent-config.ts';
import { ContainerRouter, socketPathOf } from './container-router.ts';
import { LogFile, readPreviousLogs } from './log-file.ts';
import { LogStore } from './log-store.ts';
import { sharedPreviousLogs } from './logs-handler.ts';
import { systemNanoClock, type NanoClock } from './log-time.ts';
import { listenLocalSocket, type LocalSocket } from './local-socket.ts';
import { createMetricsState } from './metrics-handler.ts';
import { operationHandler, type OperationsContext } from './operations.ts';
import { PortHolder } from './port-holder.ts';
import { startWorkload, type SignalSource, type Workload } from './supervisor.ts';

export interface AgentDeps {
  readonly credentials: ChannelCredentials;
  readonly verifyProxy: ProxyVerifier;
  readonly logger: Logger;
  /** One line to the agent's real stdout (the host sees it). Never workload data. */
  readonly notice: (line: string) => void;
  readonly signals: SignalSource;
  readonly clock?: NanoClock;
  /** How long the agent keeps serving after the workload exited. Default 1000 ms. */
  readonly shutdownGraceMs?: number;
  /** How often an agent without the port tries to take it. Default 500 ms. */
  readonly portRetryMs?: number;
}

export interface RunningAgent {
  readonly workload: Workload;
  readonly logStore: LogStore;
  /** The channel's address while this agent holds the pod's port, else null. */
  address(): AddressInfo | null;
  /** Resolves with the agent's exit code (the workload's) once everything is closed. */
  readonly done: Promise<number>;
  /** Sends SIGTERM to the workload and resolves like `done`. */
  stop(): Promise<number>;
  /** New channel credentials for new connections (RA-TLS renewal). */
  setCredentials(credentials: ChannelCredentials): void;
}

/** The agent of a workload that never started: it serves nothing and ends at once. */
function notStarted(exitCode: number): RunningAgent {
  return {
    workload: { stdin: null, running: false, tty: false, exited: Promise.resolve({ code: exitCode, signal: null, exitCode }), kill: () => undefined, resize: () => undefined },
    logStore: new LogStore({ memoryBytes: 1, maxLineBytes: 1024, clock: systemNanoClock() }),
    address: () => null,
    done: Promise.resolve(exitCode),
    stop: () => Promise.resolve(exitCode),
    setCredentials: () => undefined,
  };
}

/** tmpfs and ramfs: what an emptyDir with medium Memory is (inside the guest, for Kata). */
const MEMORY_FILESYSTEMS = new Set([0x01021994, 0x858458f6]);

function isMemoryBacked(dir: string): boolean {
  try {
    return MEMORY_FILESYSTEMS.has(statfsSync(dir).type);
  } catch {
    return false;
  }
}

function tryLogFile(config: AgentConfig, logger: Logger): LogFile | null {
  try {
    mkdirSync(config.logs.dir, { recursive: true, mode: 0o700 });
    // A disk-backed directory may be a volume the host can read: never put log lines there.
    if (config.logs.requireMemoryBacked && !isMemoryBacked(config.logs.dir)) {
      logger.warn('log directory is not memory-backed (tmpfs); logs stay in memory only and previous will not be available');
      return null;
    }
    return LogFile.open({ dir: config.logs.dir, maxFileBytes: config.logs.fileBytes, maxFiles: config.logs.files, logger });
  } catch (err) {
    logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'log directory unusable; logs stay in memory and previous will not be available');
    return null;
  }
}

export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { logger } = deps;
  const clock = deps.clock ?? systemNanoClock();
  // Built first: invalid credentials fail here, before a workload was started.
  let serve: OperationHandler = () => undefined;
  const listener = new AgentListener({
    credentials: deps.credentials,
    verifyProxy: deps.verifyProxy,
    // Bound once the workload runs; the listener does not listen before that.
    serve: (stream, headers, proxy) => serve(stream, headers, proxy),
    logger,
    maxConcurrentStreams: config.limits.maxConcurrentOperations,
    handshakeTimeoutMs: config.limits.handshakeTimeoutMs,
    verifyTimeoutMs: config.limits.verifyTimeoutMs,
  });
  const file = tryLogFile(config, logger);
  const logStore = new LogStore({
    memoryBytes: config.logs.memoryBytes,
    maxLineBytes: config.logs.maxLineBytes,
    clock,
    ...(file === null ? {} : { persist: file.persist }),
  });
  if (config.proxy.allowSimulated) deps.notice('shadowplane agent: WARNING: simulated attestation is allowed; this pod is not protected');
  let workload: Workload;
  try {
    workload = await startWorkload(
      { command: config.workload.command, args: config.workload.args, env: config.workload.env, cwd: config.workload.cwd, stdin: config.attach.stdin, tty: config.attach.tty },
      { logStore, notice: deps.notice, signals: deps.signals, logger },
    );
  } catch (err) {
    if (!isShadowplaneError(err, 'SP_EXEC_START_FAILED')) throw err;
    // As a shell says it: 126 found but not executable, 127 not found. Nothing is served.
    file?.close();
    deps.notice('shadowplane agent: the workload could not be started');
    logger.error({ code: err.code, errno: err.detail }, 'workload could not be started');
    return notStarted(err.detail === 'EACCES' ? 126 : 127);
  }

  const router = new ContainerRouter({ shareDir: config.shareDir, ownContainer: config.container, logger });
  const base: Omit<OperationsContext, 'router'> = {
    namespace: config.pod.namespace,
    pod: config.pod.name,
    self: { name: config.container, attachStdin: config.attach.stdin },
    exec: { env: config.workload.env, cwd: config.workload.cwd, logger },
    attach: { logStore, workload, stdin: config.attach.stdin, stdinOnce: config.attach.stdinOnce, logger },
    logs: {
      current: logStore,
      previous: sharedPreviousLogs(() => (file === null ? undefined : readPreviousLogs(config.logs.dir, { maxLineBytes: config.logs.maxLineBytes, maxTotalBytes: config.logs.fileBytes * config.logs.files }))),
      ...(file === null ? { noFilesReason: 'this agent keeps no log files (its log directory is not memory-backed or not usable)' } : {}),
      clock,
      logger,
    },
    portForward: { logger },
    metrics: { port: config.metrics.port, path: config.metrics.path, state: createMetricsState(), logger },
    inFlight: { limit: config.limits.maxConcurrentOperations, running: 0 },
    logger,
  };

  serve = operationHandler({ ...base, router });

  let local: LocalSocket | null = null;
  try {
    mkdirSync(config.shareDir, { recursive: true, mode: 0o700 });
    local = await listenLocalSocket(socketPathOf(config.shareDir, config.container), operationHandler({ ...base, router: null }), {
      maxConcurrentStreams: config.limits.maxConcurrentOperations,
      logger,
    });
  } catch (err) {
    logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'container socket unavailable; other agents of the pod cannot reach this container');
  }

  const holder = new PortHolder(listener, { host: config.listen.address, port: config.listen.port, logger, ...(deps.portRetryMs === undefined ? {} : { retryMs: deps.portRetryMs }) });
  holder.start();

  const done = workload.exited.then(async (exit) => {
    await new Promise((resolve) => setTimeout(resolve, deps.shutdownGraceMs ?? 1000));
    await holder.stop();
    await local?.close();
    router.close();
    file?.close();
    return exit.exitCode;
  });

  return {
    workload,
    logStore,
    address: () => holder.address,
    done,
    stop: () => {
      workload.kill('SIGTERM');
      return done;
    },
    setCredentials: (credentials) => listener.setCredentials(credentials),
  };
}
