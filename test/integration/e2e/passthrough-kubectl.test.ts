/**
 * Passthrough changes nothing kubectl relies on: the same everyday suite that runs against
 * the API server stand-in directly (test/support/kubectl-suite.ts) runs here through
 * shadowplane, for every kubectl from 1.27 to 1.33, with a kubeconfig written by
 * `shadowplane verify` (impersonation upstream). These are ordinary pods, so their
 * exec/attach/port-forward upgrades are tunnelled byte for byte to the API server.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { createBed, type Bed } from '../../support/bed.ts';
import { defineKubectlSuite } from '../../support/kubectl-suite.ts';

const ECHO_IP = '127.0.1.78';
let bed: Bed;
let echo: Server;
let echoPort = 0;

beforeAll(async () => {
  bed = await createBed();
  echo = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, ECHO_IP, resolve));
  echoPort = (echo.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  await bed?.close();
});

defineKubectlSuite('through the shadowplane proxy', () => ({
  server: bed.api,
  echoIp: ECHO_IP,
  echoPort,
  home: (_version, ns) => bed.verifiedHome(bed.users.alice, ['--namespace', ns]),
}));
