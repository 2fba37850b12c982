/**
 * Runs `shadowplane agent` (fixtures/agent-main.ts) as a child process in its own process
 * group, so that a test can kill the agent and its workload together, as a container
 * runtime would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TEST_ENV } from './agents.ts';

const FIXTURE = new URL('../fixtures/agent-main.ts', import.meta.url).pathname;

export interface ProcessAgent {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole process group (agent and workload). */
  killGroup(): void;
}

export interface ProcessAgentOptions {
  readonly root: string;
  readonly address: string;
  readonly port: number;
  readonly container?: string;
  readonly simulatedDir: string;
  readonly proxyReferenceFile: string;
  readonly command: readonly string[];
  readonly extraConfig?: Record<string, unknown>;
}

export function startProcessAgent(options: ProcessAgentOptions): ProcessAgent {
  const container = options.container ?? 'app';
  const configPath = join(options.root, `agent-${container}-${Date.now()}.yaml`);
  writeFileSync(
    configPath,
    stringify({
      container,
      listen: { address: options.address, port: options.port },
      shareDir: join(options.root, 'share'),
      logs: { dir: join(options.root, 'logs', container) },
      proxy: { referenceValuesFile: options.proxyReferenceFile, allowSimulated: true },
      attestation: { tee: 'simulated', simulatedDir: options.simulatedDir },
      logLevel: 'debug',
      ...options.extraConfig,
    }),
  );
  const child = spawn(process.execPath, [FIXTURE, '--config', configPath, '--', ...options.command], {
    env: { ...TEST_ENV, POD_NAMESPACE: 'payments', POD_NAME: 'api-0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    killGroup: () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/** A port that was free a moment ago on `address` (for agents that must reuse one port). */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
