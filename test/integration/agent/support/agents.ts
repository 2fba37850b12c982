/**
 * Starts in-process agents for integration tests: real TLS listeners on loopback
 * addresses, real workloads, log directories under a temporary root. Every log line
 * of shadowplane is captured so that tests can assert that no workload data reached it.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../../../../src/agent/agent.ts';
import type { ProxyVerifier } from '../../../../src/channel/trust.ts';
import { loadAgentConfig, type AgentConfig } from '../../../../src/config/agent-config.ts';
import { createLogger, type Logger } from '../../../../src/log.ts';
import type { TestCredentials } from './credentials.ts';

export const TEST_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' };

export interface TestAgentOptions {
  readonly address: string;
  readonly port?: number;
  readonly container?: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly command: readonly string[];
  readonly attachStdin?: boolean;
  readonly root: string;
  readonly credentials: TestCredentials;
  readonly verifyProxy: ProxyVerifier;
  readonly logLines: string[];
  readonly shutdownGraceMs?: number;
  /** The workload's (and exec's) working directory. Default the test's cwd. */
  readonly cwd?: string;
  /** limits.maxConcurrentOperations, when not the default. */
  readonly maxConcurrentOperations?: number;
}

export interface TestAgent {
  readonly agent: RunningAgent;
  readonly config: AgentConfig;
  readonly notices: string[];
  readonly signals: EventEmitter;
}

export function captureLogger(lines: string[], name = 'test'): Logger {
  return createLogger({ level: 'debug', name, destination: { write: (line: string) => void lines.push(line) } });
}

/** Under /dev/shm (tmpfs) where there is one, as a pod's memory-backed volume would be. */
export function tempRoot(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sp-agent-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startTestAgent(options: TestAgentOptions): Promise<TestAgent> {
  const container = options.container ?? 'app';
  const loaded = loadAgentConfig({
    argv: [
      '--container',
      container,
      '--listen-address',
      options.address,
      '--share-dir',
      join(options.root, 'share'),
      '--log-dir',
      join(options.root, 'logs', container),
      ...(options.attachStdin === true ? ['--attach-stdin'] : []),
      '--',
      ...options.command,
    ],
    env: { ...TEST_ENV, POD_NAMESPACE: options.namespace ?? 'payments', POD_NAME: options.pod ?? 'api-0' },
    cwd: options.cwd ?? process.cwd(),
  });
  // Port 0 for the first agent of a test; the others reuse the port it got.
  const config: AgentConfig = {
    ...loaded,
    listen: { address: options.address, port: options.port ?? 0 },
    ...(options.maxConcurrentOperations === undefined ? {} : { limits: { ...loaded.limits, maxConcurrentOperations: options.maxConcurrentOperations } }),
  };
  const notices: string[] = [];
  const signals = new EventEmitter();
  const agent = await startAgent(config, {
    credentials: options.credentials,
    verifyProxy: options.verifyProxy,
    logger: captureLogger(options.logLines, `agent-${container}`),
    notice: (line) => void notices.push(line),
    signals: signals,
    shutdownGraceMs: options.shutdownGraceMs ?? 100,
    portRetryMs: 100,
  });
  return { agent, config, notices, signals };
}

/** Waits until the agent holds its port and returns it. */
export async function heldPort(agent: RunningAgent, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const address = agent.address();
    if (address !== null) return address.port;
    if (Date.now() > deadline) throw new Error('agent did not take its port in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
