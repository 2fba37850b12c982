import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../../../src/channel/agent-pool.ts';
import type { AgentConnection } from '../../../src/channel/agent-client.ts';
import type { AgentIdentity } from '../../../src/channel/trust.ts';
import { agentVerifier, makeCredentials, proxyVerifier } from './support/credentials.ts';
import { captureLogger, heldPort, startTestAgent, tempRoot, type TestAgent } from './support/agents.ts';
import { commandStreams } from './support/streams.ts';

const ADDRESS = '127.0.4.1';
const IDENTITY: AgentIdentity = { namespace: 'payments', pod: 'api-0' };

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)));
}

function write(stream: Duplex | Socket, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(chunk)) resolve();
    else {
      const onDrain = (): void => {
        stream.off('error', onError);
        resolve();
      };
      const onError = (err: Error): void => {
        stream.off('drain', onDrain);
        reject(err);
      };
      stream.once('drain', onDrain);
      stream.once('error', onError);
    }
  });
}

describe('port-forward through the agent', () => {
  const root = tempRoot();
  const logLines: string[] = [];
  const servers: Server[] = [];
  let test: TestAgent;
  let pool: AgentPool;
  let conn: AgentConnection;

  beforeAll(async () => {
    const [proxyCreds, agentCreds] = await Promise.all([makeCredentials('proxy'), makeCredentials('agent')]);
    test = await startTestAgent({ address: ADDRESS, command: ['sleep', '120'], root: root.path, credentials: agentCreds, verifyProxy: proxyVerifier(new Set([proxyCreds.fingerprint256])), logLines });
    const port = await heldPort(test.agent);
    pool = new AgentPool({ credentials: proxyCreds, verifyAgent: agentVerifier(new Map([[agentCreds.fingerprint256, IDENTITY]])), logger: captureLogger(logLines, 'proxy') });
    conn = await pool.connect({ address: ADDRESS, port, identity: IDENTITY });
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    pool.close();
    await test.agent.stop();
    root.remove();
  });

  it('moves 100 MB each way intact, checked by sha256', async () => {
    const MB = 1024 * 1024;
    const chunks = Array.from({ length: 100 }, () => randomBytes(MB));
    const back = Array.from({ length: 100 }, () => randomBytes(MB));
    const expectUp = createHash('sha256');
    chunks.forEach((c) => expectUp.update(c));
    const expectDown = createHash('sha256');
    back.forEach((c) => expectDown.update(c));
    let targetReceived = '';
    const targetDone = new Promise<void>((resolve) => {
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        const hash = createHash('sha256');
        socket.on('data', (c: Buffer) => hash.update(c));
        socket.once('end', () => {
          targetReceived = hash.digest('hex');
          resolve();
        });
        void (async () => {
          for (const c of back) await write(socket, c);
          socket.end();
        })();
      });
      servers.push(server);
    });
    const targetPort = await listen(servers.at(-1) as Server, '127.0.0.1');
    const started = performance.now();
    const stream = await conn.portForward(targetPort);
    const downHash = createHash('sha256');
    const downDone = new Promise<void>((resolve, reject) => {
      stream.on('data', (c: Buffer) => downHash.update(c));
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    for (const c of chunks) await write(stream, c);
    stream.end();
    await Promise.all([downDone, targetDone]);
    const seconds = (performance.now() - started) / 1000;
    console.log(`port-forward through agent: 200 MB moved in ${seconds.toFixed(2)} s (${(200 / seconds).toFixed(0)} MB/s combined)`);
    expect(targetReceived).toBe(expectUp.digest('hex'));
    expect(downHash.digest('hex')).toBe(expectDown.digest('hex'));
  });

  it('half-closes toward the target and still carries its answer', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      let received = 0;
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.once('end', () => socket.end(`got ${received} bytes after your FIN`));
    });
    servers.push(server);
    const port = await listen(server, '127.0.0.1');
    const stream = await conn.portForward(port);
    stream.end(Buffer.alloc(12_345));
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString()));
      stream.once('end', () => resolve(text));
      stream.once('error', reject);
    });
    expect(answer).toBe('got 12345 bytes after your FIN');
  });

  it('reaches a workload that listens on ::1 only', async () => {
    const server = createServer((socket) => socket.end('v6'));
    servers.push(server);
    const port = await listen(server, '::1');
    const stream = await conn.portForward(port);
    stream.end();
    const text = await new Promise<string>((resolve) => {
      let t = '';
      stream.on('data', (c: Buffer) => (t += c.toString()));
      stream.once('end', () => resolve(t));
    });
    expect(text).toBe('v6');
  });

  it('answers a port nobody listens on with SP_PORT_FORWARD_FAILED', async () => {
    const server = createServer();
    const port = await listen(server, '127.0.0.1');
    await new Promise<void>((r) => server.close(() => r()));
    await expect(conn.portForward(port)).rejects.toMatchObject({ code: 'SP_PORT_FORWARD_FAILED' });
  });

  it('stops taking bytes from the target while the proxy side does not read', async () => {
    let written = 0;
    let blocked: (() => void) | undefined;
    const isBlocked = new Promise<void>((r) => (blocked = r));
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      const pump = (): void => {
        for (;;) {
          written += 64 * 1024;
          if (!socket.write(Buffer.alloc(64 * 1024))) {
            setTimeout(() => {
              if (socket.writableLength > 0) blocked?.();
            }, 300);
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    servers.push(server);
    const port = await listen(server, '127.0.0.1');
    const stream = await conn.portForward(port);
    await isBlocked;
    await new Promise((r) => setTimeout(r, 300));
    // Everything in flight is bounded by the stream window and socket buffers, not by 1 GB.
    expect(written).toBeLessThan(24 * 1024 * 1024);
    stream.destroy();
  });

  it('refuses attach with stdin when the container keeps no stdin open', async () => {
    const result = await conn.attach({ container: 'app', stdin: true, stdout: true, stderr: true, tty: false }, commandStreams());
    expect(result).toMatchObject({ kind: 'error', error: { code: 'SP_BAD_REQUEST' } });
  });

  it('serves 1,000 concurrent port-forward connections on one session', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (c: Buffer) => socket.write(c));
      socket.once('end', () => socket.end());
    });
    servers.push(server);
    const port = await listen(server, '127.0.0.1');
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const stream = await conn.portForward(port);
        const payload = Buffer.from(`connection ${i} `.repeat(64));
        stream.end(payload);
        const echoed = await new Promise<Buffer>((resolve, reject) => {
          const parts: Buffer[] = [];
          stream.on('data', (c: Buffer) => parts.push(c));
          stream.once('end', () => resolve(Buffer.concat(parts)));
          stream.once('error', reject);
        });
        return echoed.equals(payload);
      }),
    );
    console.log(`1,000 concurrent port-forward connections: ${(performance.now() - started).toFixed(0)} ms`);
    expect(results.every(Boolean)).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('runs 200 concurrent execs with their own exit codes', async () => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const io = commandStreams();
        const result = await conn.exec({ container: 'app', command: ['sh', '-c', `echo ${i}; exit ${i % 7}`], stdin: false, stdout: true, stderr: true, tty: false }, io);
        return result.kind === 'exit' && result.code === i % 7 && io.stdout.text() === `${i}\n`;
      }),
    );
    console.log(`200 concurrent execs: ${(performance.now() - started).toFixed(0)} ms`);
    expect(results.every(Boolean)).toBe(true);
  });
});
