/**
 * Passthrough at the byte level, with an HTTP/2 (and HTTP/1.1) client holding a manifest
 * user's certificate: representations go through unchanged, large lists and watches stream,
 * stalled clients hold the upstream back instead of growing a buffer, bad input is refused
 * with the right status, and hop-by-hop headers never reach the upstream.
 */
import { randomBytes } from 'node:crypto';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, type Bed } from '../../support/bed.ts';

let bed: Bed;
let session: ClientHttp2Session;

beforeAll(async () => {
  bed = await createBed();
  session = connectAs(bed.users.alice);
  for (let i = 0; i < 5000; i++) bed.api.addPod({ namespace: 'bulk', name: `pod-${String(i).padStart(5, '0')}`, containers: [{ name: 'c' }] });
}, 120_000);

afterAll(async () => {
  session?.close();
  await bed?.close();
});

function connectAs(user: { certPem: string; keyPem: string }): ClientHttp2Session {
  // maxSendHeaderBlockLength: Node's client refuses to send header blocks over 64 KiB by default.
  const s = http2.connect(bed.proxy.url, { ca: bed.proxy.servingCertPem, cert: user.certPem, key: user.keyPem, maxSendHeaderBlockLength: 1 << 20 });
  s.on('error', () => undefined);
  return s;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function call(s: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}, body?: string | Buffer, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': method, ':path': path, ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

/** The same request straight to the stand-in, as the proxy's service account impersonating alice. */
function direct(path: string, headers: OutgoingHttpHeaders = {}): Promise<Answer> {
  const s = http2.connect(bed.api.url, { ca: bed.api.caPem });
  s.on('error', () => undefined);
  return call(s, path, { authorization: `Bearer ${bed.api.tokens.proxy}`, 'impersonate-user': 'alice', 'impersonate-group': 'developers', ...headers }).finally(() => s.close());
}

describe('representations pass through byte for byte', () => {
  it('protobuf', async () => {
    const accept = 'application/vnd.kubernetes.protobuf';
    const [viaProxy, straight] = await Promise.all([call(session, '/api/v1/namespaces/bulk/pods/pod-00001', { accept }), direct('/api/v1/namespaces/bulk/pods/pod-00001', { accept })]);
    expect(viaProxy.status).toBe(200);
    expect(viaProxy.headers['content-type']).toBe(accept);
    expect(viaProxy.body.subarray(0, 4).toString('latin1')).toBe('k8s\0');
    expect(viaProxy.body.equals(straight.body)).toBe(true);
  });

  it('a list of 5,000 pods (several megabytes), identical to the direct answer', async () => {
    const [viaProxy, straight] = await Promise.all([call(session, '/api/v1/namespaces/bulk/pods'), direct('/api/v1/namespaces/bulk/pods')]);
    expect(viaProxy.status).toBe(200);
    expect(viaProxy.body.length).toBeGreaterThan(2 * 1024 * 1024);
    const strip = (b: Buffer): unknown => {
      const doc = JSON.parse(b.toString('utf8')) as { metadata: { resourceVersion: string }; items: unknown[] };
      return doc.items;
    };
    expect(strip(viaProxy.body)).toEqual(strip(straight.body));
  });

  it('server-side apply (application/apply-patch+yaml)', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: ssa-pod\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n';
    const r = await call(session, '/api/v1/namespaces/default/pods/ssa-pod?fieldManager=test&force=true', { 'content-type': 'application/apply-patch+yaml' }, yaml, 'PATCH');
    expect(r.status).toBe(201);
    expect((JSON.parse(r.body.toString()) as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image).toBe('nginx:1.27');
  });
});

describe('streaming', () => {
  it('delivers watch events as they happen, on one open stream', async () => {
    const req = session.request({ ':path': '/api/v1/namespaces/watched/pods?watch=1&resourceVersion=0' });
    const lines: string[] = [];
    let buf = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    for (let i = 0; i < 3; i++) {
      bed.api.addPod({ namespace: 'watched', name: `w-${i}`, containers: [{ name: 'c' }] });
      const deadline = Date.now() + 5000;
      while (!lines.some((l) => l.includes(`"w-${i}"`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(lines.some((l) => l.includes(`"w-${i}"`))).toBe(true);
    }
    req.close();
  });

  it('holds the upstream back when a client stops reading, instead of buffering the answer', async () => {
    const slow = connectAs(bed.users.alice);
    const full = (await direct('/api/v1/namespaces/bulk/pods')).body.length;
    bed.api.recorder.reset();
    const req = slow.request({ ':path': '/api/v1/namespaces/bulk/pods' });
    req.pause();
    await new Promise((r) => setTimeout(r, 1500));
    // What the stand-in managed to send is bounded by HTTP/2 flow control, far below the answer.
    expect(bed.api.recorder.sent().length).toBeLessThan(full / 2);
    req.resume();
    let got = 0;
    for await (const c of req) got += (c as Buffer).length;
    expect(got).toBe(full);
    slow.close();
  });
});

describe('bad input', () => {
  it('answers 431 to oversized request headers, over HTTP/2 and HTTP/1.1', async () => {
    const big = 'x'.repeat(40 * 1024);
    const h2 = await call(connectAs(bed.users.alice), '/api/v1/namespaces', { 'x-big-1': big, 'x-big-2': big });
    expect(h2.status).toBe(431);
    expect(JSON.parse(h2.body.toString())).toMatchObject({ kind: 'Status', code: 431 });
    const h1 = await new Promise<number>((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: bed.proxy.port, path: '/api/v1/namespaces', ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, headers: { 'x-big': big + big } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(-1));
      req.end();
    });
    expect(h1).toBe(431);
    // The session still works for well-formed requests.
    expect((await call(connectAs(bed.users.alice), '/version')).status).toBe(200);
  });

  it('refuses every client Impersonate-* header, Uid and Extra included', async () => {
    for (const h of ['impersonate-user', 'impersonate-group', 'impersonate-uid', 'impersonate-extra-scopes']) {
      const r = await call(session, '/api/v1/namespaces', { [h]: 'system:admin' });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body.toString())).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    }
  });

  it('answers 401 with a Status to a client without a manifest key', async () => {
    const anon = http2.connect(bed.proxy.url, { ca: bed.proxy.servingCertPem });
    anon.on('error', () => undefined);
    const r = await call(anon, '/api/v1/namespaces');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body.toString())).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    anon.close();
  });

  it('refuses TLS below 1.3', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: bed.proxy.port, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
      s.on('secureConnect', () => resolve('connected'));
      s.on('error', () => resolve('refused'));
    });
    expect(outcome).toBe('refused');
  });

  it('strips hop-by-hop headers, and whatever Connection names, before the upstream', async () => {
    const marker = `hop-${randomBytes(6).toString('hex')}`;
    bed.api.clearRequests();
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: bed.proxy.port,
          path: '/api/v1/namespaces/default/pods',
          ca: bed.proxy.servingCertPem,
          cert: bed.users.alice.certPem,
          key: bed.users.alice.keyPem,
          headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': marker, 'keep-alive': 'timeout=5', 'proxy-authorization': `Basic ${marker}`, 'x-kept': 'yes' },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    const seen = bed.api.requests.find((r) => r.path === '/api/v1/namespaces/default/pods');
    expect(seen?.headers['x-kept']).toEqual(['yes']);
    expect(seen?.headers['x-secret-hop']).toBeUndefined();
    expect(seen?.headers['keep-alive']).toBeUndefined();
    expect(bed.api.recorder.contains(marker)).toBe(false);
  });

  it('forwards a non-101 answer to an upgrade and then closes the connection', async () => {
    const { status, closed } = await new Promise<{ status: string; closed: boolean }>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: bed.proxy.port, ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, servername: 'localhost' });
      let text = '';
      s.on('secureConnect', () =>
        s.write('POST /api/v1/namespaces/default/pods/no-such-pod/exec?command=true&stdout=true HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n'),
      );
      s.on('data', (c: Buffer) => (text += c.toString('latin1')));
      s.on('close', () => resolve({ status: text.split('\r\n')[0] ?? '', closed: true }));
      setTimeout(() => resolve({ status: text.split('\r\n')[0] ?? '', closed: false }), 5000);
    });
    expect(status).toMatch(/^HTTP\/1\.1 404/);
    expect(closed).toBe(true);
  });
});
