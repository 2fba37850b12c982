/**
 * The design card's http-proxy, configured as shadowplane's passthrough would need it
 * (TLS in with a client certificate, impersonation headers added, TLS out to the API
 * server), as a baseline process for the passthrough benchmark. HTTP/1.1 only: http-proxy
 * speaks no HTTP/2.
 *
 * argv: upstreamUrl; env SP_BENCH_HTTP_PROXY: JSON {caPem, token, serving: {keyPem, certPem}}; prints "listening PORT".
 */
import { createServer } from 'node:https';
import { Agent } from 'node:https';
import httpProxy from 'http-proxy';

const cfg = JSON.parse(process.env.SP_BENCH_HTTP_PROXY ?? '{}') as { caPem: string; token: string; serving: { keyPem: string; certPem: string } };
const proxy = httpProxy.createProxyServer({ target: process.argv[2], secure: true, changeOrigin: true, agent: new Agent({ keepAlive: true, maxSockets: 256, ca: cfg.caPem }) });
proxy.on('proxyReq', (req) => {
  req.setHeader('authorization', `Bearer ${cfg.token}`);
  req.setHeader('impersonate-user', 'alice');
});
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res) {
    res.writeHead(502);
    res.end();
  }
});
const server = createServer({ key: cfg.serving.keyPem, cert: cfg.serving.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
