/**
 * Confidential streams benchmark (`npm run bench:streams`), every number from this run:
 *
 * - exec stdout throughput through proxy + agent, against one direct TLS hop on the same
 *   machine running the same command (the ratio is what the design aims at);
 * - port-forward download throughput through kubectl + proxy + agent, against one direct
 *   TLS hop to the same source;
 * - `logs -f` delivery latency (line written in the pod → line read by the client);
 * - 200 concurrent exec sessions and 1,000 concurrent port-forward connections: success
 *   rate, proxy and agent RSS.
 *
 * The proxy and the agent are separate processes (as deployed); the API server stand-in
 * records nothing. Aims (issue 3): port-forward ≥ 40 % of one direct TLS hop; logs -f
 * p99 ≤ 50 ms; 1,000 port-forward connections without failure and proxy RSS ≤ 300 MB.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createSelfSigned } from '../../src/tls/certificates.ts';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../support/bed.ts';
import { startKubectl } from '../support/kubectl.ts';
import { freePort } from '../support/transfer.ts';
import { deployedProxyRuntime } from './support/deployed.ts';
import { percentile } from './support/load.ts';
import { rssMb, table } from './support/processes.ts';

const quick = process.argv.includes('--quick');
const MB = 1024 * 1024;
const SIZE = (quick ? 64 : 256) * MB;
const SOURCE = fileURLToPath(new URL('./support/source-server.mjs', import.meta.url));
const TICKER = fileURLToPath(new URL('./support/ticker.mjs', import.meta.url));
const ECHO = fileURLToPath(new URL('../fixtures/workloads/echo.mjs', import.meta.url));

const rows: Record<string, string | number>[] = [];
const aims: string[] = [];

async function main(): Promise<void> {
  const deployed = deployedProxyRuntime();
  process.stdout.write(`proxy: ${deployed.cli}, Node flags from the Deployment: ${deployed.nodeFlags.join(' ')}\n`);
  const bed = await createBed({ proxyProcess: true, proxyCli: deployed.cli, proxyNodeArgs: deployed.nodeFlags, proxyCredential: 'in-cluster', api: { record: false } });
  try {
    const home = await bed.verifiedHome(bed.users.alice);
    const sourcePort = await freePort();
    const agent = await bed.startConfidentialPod({ name: 'conf-bench', command: [process.execPath, SOURCE, String(sourcePort), String(SIZE)] });
    await bed.startConfidentialPod({ name: 'conf-ticker', command: [process.execPath, TICKER, '20'] });
    process.stdout.write(`streams benchmark (${SIZE / MB} MB transfers, Node ${process.version})\n`);

    // exec stdout: `head -c SIZE /dev/zero` through proxy + agent, and over one TLS hop.
    const execCmd = ['head', '-c', String(SIZE), '/dev/zero'];
    const viaExec = await execThroughput(bed, execCmd);
    const directExec = await directTlsThroughput((socket) => {
      const child = spawn(execCmd[0]!, execCmd.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.pipe(socket);
    });
    rows.push({ stream: 'exec stdout', path: 'direct TLS hop', 'MB/s': directExec, ratio: 1 });
    rows.push({ stream: 'exec stdout', path: 'proxy + agent (WebSocket v5)', 'MB/s': viaExec, ratio: viaExec / directExec });

    // port-forward: download SIZE bytes from the source server in the pod.
    const pf = startKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'port-forward', 'pod/conf-bench', `:${sourcePort}`], { timeoutMs: 600_000 });
    const [, local] = await pf.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
    const viaPf = await downloadThroughput(Number(local));
    const directPf = await directTlsThroughput((socket) => {
      const c = connect({ host: '127.0.0.1', port: sourcePort }, () => c.pipe(socket));
    });
    rows.push({ stream: 'port-forward download', path: 'direct TLS hop', 'MB/s': directPf, ratio: 1 });
    rows.push({ stream: 'port-forward download', path: 'kubectl + proxy + agent (WS tunnel)', 'MB/s': viaPf, ratio: viaPf / directPf });
    aims.push(`port-forward vs one direct TLS hop: ${((viaPf / directPf) * 100).toFixed(0)} % (aim >= 40 %) ${viaPf / directPf >= 0.4 ? 'met' : 'NOT met'}`);

    pf.kill();
    await pf.result;

    // 1,000 concurrent port-forward connections through one kubectl, to an echo server:
    // all open at once, each echoes 1 KiB, none closes before all have answered.
    const echoPort = await freePort();
    const echo = await bed.startConfidentialPod({ name: 'conf-echo', command: [process.execPath, ECHO, String(echoPort)] });
    const pf2 = startKubectl('1.33', home, ['-n', CONFIDENTIAL_NS, 'port-forward', 'pod/conf-echo', `:${echoPort}`], { timeoutMs: 600_000 });
    const [, local2] = await pf2.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
    const many = await concurrentConnections(Number(local2), 1000, bed, echo.child.pid!);
    pf2.kill();
    await pf2.result;

    const logs = await followLatency(bed);
    const execs = await concurrentExecs(bed, 200, agent.child.pid!);

    process.stdout.write(`\n${table(rows)}\n\n${table([logs.row, execs.row, many.row])}\n`);
    aims.push(`logs -f delivery latency p99: ${logs.p99.toFixed(1)} ms (aim <= 50 ms) ${logs.p99 <= 50 ? 'met' : 'NOT met'}`);
    aims.push(`1,000 concurrent port-forward connections: ${many.ok}/1000 ok, proxy RSS ${many.proxyRss.toFixed(0)} MB (aim: no failure, <= 300 MB) ${many.ok === 1000 && many.proxyRss <= 300 ? 'met' : 'NOT met'}`);
    process.stdout.write(`\nagainst the aims:\n${aims.map((a) => `  ${a}`).join('\n')}\n`);
  } finally {
    await bed.close();
  }
}

function wsUrl(bed: Bed, pod: string, command: readonly string[]): string {
  const q = new URLSearchParams({ container: 'app', stdout: 'true' });
  for (const c of command) q.append('command', c);
  return `wss://127.0.0.1:${bed.proxy.port}/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/${pod}/exec?${q.toString()}`;
}

/** Runs a command over WebSocket v5 as kubectl 1.30+ would; resolves with stdout bytes and the status. */
function wsExec(bed: Bed, pod: string, command: readonly string[]): Promise<{ bytes: number; status: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const ws = new WebSocket(wsUrl(bed, pod, command), ['v5.channel.k8s.io'], { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, perMessageDeflate: false, maxPayload: 64 * MB });
    let bytes = 0;
    let status = '';
    ws.on('message', (data: Buffer) => {
      if (data[0] === 1) bytes += data.length - 1;
      else if (data[0] === 3) status += data.subarray(1).toString('utf8');
    });
    ws.on('close', () => resolve({ bytes, status, ms: performance.now() - t0 }));
    ws.on('error', reject);
  });
}

async function execThroughput(bed: Bed, command: readonly string[]): Promise<number> {
  await wsExec(bed, 'conf-bench', ['true']);
  const r = await wsExec(bed, 'conf-bench', command);
  if (r.bytes !== SIZE || !r.status.includes('Success')) throw new Error(`exec moved ${r.bytes} bytes, status ${r.status}`);
  return SIZE / MB / (r.ms / 1000);
}

/** One TLS hop on loopback: the server pipes `feed` into the socket, the client counts. */
async function directTlsThroughput(feed: (socket: Socket) => void): Promise<number> {
  const cert = await createSelfSigned({ commonName: 'direct', ipAddresses: ['127.0.0.1'], validityMs: 3600_000, usage: 'server' });
  const server = createTlsServer({ key: cert.keyPem, cert: cert.certPem, minVersion: 'TLSv1.3' }, (s) => feed(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const t0 = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    const c = tlsConnect({ host: '127.0.0.1', port, ca: cert.certPem });
    let n = 0;
    c.on('data', (d: Buffer) => (n += d.length));
    c.on('end', () => resolve(n));
    c.on('error', reject);
  });
  const ms = performance.now() - t0;
  server.close();
  if (bytes !== SIZE) throw new Error(`direct hop moved ${bytes} bytes`);
  return SIZE / MB / (ms / 1000);
}

async function downloadThroughput(port: number): Promise<number> {
  const t0 = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port });
    let n = 0;
    c.on('data', (d: Buffer) => (n += d.length));
    c.on('end', () => resolve(n));
    c.on('error', reject);
  });
  if (bytes !== SIZE) throw new Error(`port-forward moved ${bytes} bytes`);
  return SIZE / MB / ((performance.now() - t0) / 1000);
}

/** n connections open at once through one kubectl port-forward; each echoes 1 KiB; all close at the end. */
async function concurrentConnections(port: number, n: number, bed: Bed, agentPid: number): Promise<{ ok: number; proxyRss: number; row: Record<string, string | number> }> {
  const sockets: Socket[] = [];
  let ok = 0;
  const t0 = performance.now();
  const payload = Buffer.alloc(1024, 'x');
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve) => {
        const c = connect({ host: '127.0.0.1', port }, () => c.write(payload));
        sockets.push(c);
        let got = 0;
        const timer = setTimeout(resolve, 60_000);
        c.on('data', (d: Buffer) => {
          got += d.length;
          if (got === payload.length) {
            ok++;
            clearTimeout(timer);
            resolve();
          }
        });
        c.on('error', () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const proxyRss = rssMb(bed.proxy.pid!);
  const agentRss = rssMb(agentPid);
  for (const s of sockets) s.destroy();
  return { ok, proxyRss, row: { test: `${n} concurrent port-forward connections`, succeeded: `${ok}/${n}`, seconds, 'proxy RSS MB': proxyRss, 'agent RSS MB': agentRss } };
}

async function concurrentExecs(bed: Bed, n: number, agentPid: number): Promise<{ row: Record<string, string | number> }> {
  const t0 = performance.now();
  let peakProxy = 0;
  let peakAgent = 0;
  const sampler = setInterval(() => {
    peakProxy = Math.max(peakProxy, rssMb(bed.proxy.pid!));
    peakAgent = Math.max(peakAgent, rssMb(agentPid));
  }, 100);
  const results = await Promise.allSettled(Array.from({ length: n }, () => wsExec(bed, 'conf-bench', ['sh', '-c', 'sleep 1; head -c 65536 /dev/zero'])));
  clearInterval(sampler);
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.bytes === 65536 && r.value.status.includes('Success')).length;
  return { row: { test: `${n} concurrent exec sessions`, succeeded: `${ok}/${n}`, seconds: (performance.now() - t0) / 1000, 'proxy RSS MB': peakProxy, 'agent RSS MB': peakAgent } };
}

/** Follows the ticker's log; each line carries the time it was written. */
async function followLatency(bed: Bed): Promise<{ p99: number; row: Record<string, string | number> }> {
  const s = http2.connect(bed.proxy.url, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
  const req = s.request({ ':path': `/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/conf-ticker/log?container=app&follow=true&tailLines=0` });
  const latencies: number[] = [];
  let buf = '';
  req.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    req.on('data', (c: string) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const sent = Number(buf.slice(0, i).split(' ')[1]);
        buf = buf.slice(i + 1);
        if (Number.isFinite(sent)) latencies.push(performance.timeOrigin + performance.now() - sent);
        if (latencies.length >= (quick ? 100 : 300)) resolve();
      }
    });
  });
  req.close();
  s.close();
  const sorted = Float64Array.from(latencies).sort();
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  return { p99, row: { test: `logs -f, ${latencies.length} lines`, 'p50 ms': p50, 'p99 ms': p99 } };
}

await main();
