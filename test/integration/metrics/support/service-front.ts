/**
 * A thin stand-in for the parts of the API server the stand-in in test/support does not
 * have: Services. It terminates TLS (h2) in front of the API server stand-in, answers
 * `GET /api/v1/namespaces/NS/services/NAME` from a map, and relays everything else
 * (lists, watches, the proxy's impersonated calls) to the stand-in unchanged.
 *
 * It is part of the untrusted side, so it records the de-framed bytes of every request
 * and answer it sees: `contains()` lets a test prove a secret never reached it either.
 */
import http2, { type ClientHttp2Session, type Http2SecureServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createSelfSigned } from '../../../../src/tls/certificates.ts';

export interface ServiceSpec {
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly { readonly name?: string; readonly port: number; readonly targetPort?: number | string }[];
  readonly publishNotReadyAddresses?: boolean;
}

export interface ServiceFront {
  readonly url: string;
  readonly caPem: string;
  readonly services: Map<string, ServiceSpec>;
  contains(needle: string | Buffer): boolean;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'proxy-connection', 'te']);

export async function startServiceFront(backend: { url: string; caPem: string }): Promise<ServiceFront> {
  const cert = await createSelfSigned({ commonName: 'service-front', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validityMs: 86_400_000, usage: 'server' });
  const services = new Map<string, ServiceSpec>();
  const recorded: Buffer[][] = [];
  let upstream: ClientHttp2Session | undefined;
  const session = (): ClientHttp2Session => {
    if (upstream === undefined || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(backend.url, { ca: backend.caPem });
      upstream.on('error', () => undefined);
    }
    return upstream;
  };
  const server: Http2SecureServer = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, allowHTTP1: false, minVersion: 'TLSv1.2' });
  server.on('stream', (stream, headers: IncomingHttpHeaders) => {
    const record: Buffer[] = [Buffer.from(JSON.stringify(headers))];
    recorded.push(record);
    stream.on('error', () => undefined);
    const path = String(headers[':path'] ?? '/');
    const m = /^\/api\/v1\/namespaces\/([^/?]+)\/services\/([^/?]+)$/.exec(path);
    if (m !== null && headers[':method'] === 'GET') {
      const spec = services.get(`${m[1]}/${m[2]}`);
      const body = spec === undefined
        ? JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 })
        : JSON.stringify({ kind: 'Service', apiVersion: 'v1', metadata: { name: m[2], namespace: m[1] }, spec: { selector: spec.selector, ports: spec.ports.map((p) => ({ protocol: 'TCP', ...p })), ...(spec.publishNotReadyAddresses === undefined ? {} : { publishNotReadyAddresses: spec.publishNotReadyAddresses }) } });
      record.push(Buffer.from(body));
      stream.respond({ ':status': spec === undefined ? 404 : 200, 'content-type': 'application/json' });
      stream.end(body);
      return;
    }
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && v !== undefined && (k.startsWith(':') ? k === ':method' || k === ':path' : true)) out[k] = v;
    let up: http2.ClientHttp2Stream;
    try {
      up = session().request(out, { endStream: stream.endAfterHeaders });
    } catch {
      stream.respond({ ':status': 502 });
      stream.end();
      return;
    }
    up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    up.on('response', (h) => {
      record.push(Buffer.from(JSON.stringify(h)));
      const back: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if (!HOP.has(k) && v !== undefined && (!k.startsWith(':') || k === ':status')) back[k] = v;
      if (!stream.destroyed) stream.respond(back);
    });
    up.on('data', (c: Buffer) => {
      record.push(Buffer.from(c));
      if (!stream.destroyed) stream.write(c);
    });
    up.on('end', () => {
      if (!stream.destroyed) stream.end();
    });
    stream.on('data', (c: Buffer) => {
      record.push(Buffer.from(c));
      up.write(c);
    });
    stream.on('end', () => {
      if (!up.destroyed) up.end();
    });
    stream.on('close', () => {
      if (!up.destroyed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caPem: cert.certPem,
    services,
    contains: (needle) => {
      const n = Buffer.isBuffer(needle) ? needle : Buffer.from(needle);
      return recorded.some((r) => Buffer.concat(r).includes(n));
    },
    close: () =>
      new Promise<void>((resolve) => {
        upstream?.destroy();
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
