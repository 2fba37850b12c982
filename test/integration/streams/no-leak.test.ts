/**
 * Workload data never reaches shadowplane's own log: command arguments, stdin, stdout,
 * stderr and port-forward payloads carry a secret marker, and the terminators' log
 * (captured at trace level) must contain none of it.
 */
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { createKubectlHome, runKubectl, startKubectl, type KubectlHome } from '../../support/kubectl.ts';
import { startStreamTestServer, type StreamTestServer } from '../../support/stream-test-server.ts';

const SECRET = 'sp-secret-7f3a9c';
const lines: string[] = [];
let server: StreamTestServer;
let home: KubectlHome;
let echo: Server;

beforeAll(async () => {
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
  server = await startStreamTestServer({ logger });
  home = createKubectlHome({ server: server.url, caPem: server.caPem, token: server.token });
  echo = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => echo.close(resolve));
  home.dispose();
});

describe('log hygiene of the terminators', () => {
  it('logs sessions but none of their arguments or bytes (SPDY and WebSocket, exec and port-forward)', async () => {
    for (const version of ['1.27', '1.33'] as const) {
      const result = await runKubectl(version, home, ['exec', '-i', 'p1', '--', 'sh', '-c', `cat; echo ${SECRET}-out; echo ${SECRET}-err >&2; exit 4`], { stdin: `${SECRET}-in\n` });
      expect(result.code).toBe(4);
      expect(result.stdout.toString()).toContain(`${SECRET}-in`);
      expect(result.stdout.toString()).toContain(`${SECRET}-out`);

      const kubectl = startKubectl(version, home, ['port-forward', '--address', '127.0.0.1', 'pod/p1', `:${(echo.address() as AddressInfo).port}`]);
      try {
        const [, port] = await kubectl.waitForStdout(/127\.0\.0\.1:(\d+) ->/);
        const echoed = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1');
          let got = '';
          socket.on('connect', () => socket.end(`${SECRET}-forwarded`));
          socket.on('data', (d: Buffer) => (got += d.toString()));
          socket.on('close', () => resolve(got));
          socket.on('error', reject);
        });
        expect(echoed).toBe(`${SECRET}-forwarded`);
      } finally {
        kubectl.kill();
        await kubectl.result;
      }
    }
    const log = lines.join('');
    expect(log).toContain('exec session over');
    expect(log).toContain('port-forward session over');
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(server.token);
  });
});
