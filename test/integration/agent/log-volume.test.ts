/**
 * Log lines may be written to files only where the host cannot read them: a memory-backed
 * volume. The agent checks the file system of its log directory.
 */
import { existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import { agentVerifier, makeCredentials, proxyVerifier } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent } from './support/agents.ts';
import { readAll } from './support/streams.ts';

const TMPFS = 0x01021994;
const IDENTITY = { namespace: 'payments', pod: 'api-0' };

describe('log files and the volume under them', () => {
  const candidates = [...(existsSync('/dev/shm') ? ['/dev/shm'] : []), tmpdir()];

  for (const base of candidates) {
    const memoryBacked = statfsSync(base).type === TMPFS;
    it(`${memoryBacked ? 'writes' : 'never writes'} log files under ${base} (${memoryBacked ? 'tmpfs' : 'not memory-backed'})`, async () => {
      const root = mkdtempSync(join(base, 'sp-logvol-'));
      const logLines: string[] = [];
      try {
        const [proxyCreds, agentCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent')]);
        const test = await startTestAgent({
          address: '127.0.6.1',
          command: ['sh', '-c', 'echo volume-line; exec sleep 30'],
          root,
          credentials: agentCreds,
          verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])),
          logLines,
        });
        const pool = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]])), logger: captureLogger(logLines, 'proxy') });
        const conn = await pool.connect({ address: '127.0.6.1', port: await heldPort(test.agent), identity: IDENTITY });
        const deadline = Date.now() + 5000;
        while ((await readAll(await conn.logs({ container: 'app' }))).toString() !== 'volume-line\n') {
          if (Date.now() > deadline) throw new Error('log line did not arrive');
          await new Promise((r) => setTimeout(r, 20));
        }
        pool.close();
        await test.agent.stop();
        expect(existsSync(join(root, 'logs', 'app', 'current.log'))).toBe(memoryBacked);
        if (!memoryBacked) expect(logLines.join('')).toContain('log directory is not memory-backed');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
