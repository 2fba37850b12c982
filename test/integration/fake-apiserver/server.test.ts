/**
 * The API server stand-in over real TLS sockets, with Node's own HTTP/2 and HTTP/1.1
 * clients: transport, recording, authentication, impersonation, authorization, error
 * shapes, representations (Table, protobuf), pagination, watch, followed logs, a large
 * list, and a bounded close.
 */
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApiServer } from '../../support/fake-apiserver/index.ts';
import { h1request, h2request, h2stream, json } from './client.ts';

/** Reads protobuf fields (number → raw values) of one message; enough to check structure. */
function protoFields(buf: Buffer): Map<number, Array<Buffer | bigint>> {
  const out = new Map<number, Array<Buffer | bigint>>();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    let value: Buffer | bigint;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = Number(varint());
      value = buf.subarray(i, i + len);
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

function field(m: Map<number, Array<Buffer | bigint>>, n: number, index = 0): Buffer {
  const v = m.get(n)?.[index];
  if (!Buffer.isBuffer(v)) throw new Error(`field ${n} is not bytes`);
  return v;
}

let server: FakeApiServer;

beforeAll(async () => {
  server = await startFakeApiServer({ watchBookmarkIntervalMs: 200 });
  server.addPod({ namespace: 'default', name: 'alpha', containers: [{ name: 'c1', image: 'nginx:1.25' }], podIP: '127.0.1.5', labels: { app: 'web' } });
});

afterAll(async () => {
  await server.close();
});

describe('transport and recording', () => {
  it('negotiates h2 for ordinary calls and records the connection and the de-framed request', async () => {
    server.recorder.reset();
    const reply = await h2request(server, '/api/v1/namespaces/default/pods/alpha', { headers: { 'x-probe': 'probe-h2-7f3a' } });
    expect(reply.alpn).toBe('h2');
    expect(reply.status).toBe(200);
    expect(json(reply)['metadata']).toMatchObject({ name: 'alpha', namespace: 'default' });
    expect(server.recorder.connections().some((c) => c.alpn === 'h2' && c.received.length > 0 && c.sent.length > 0)).toBe(true);
    // The response body crosses the wire as-is; the header value is HPACK-coded there,
    // so only the payload view (decoded headers) shows it.
    expect(server.recorder.contains('nginx:1.25', 'wire')).toBe(true);
    expect(server.recorder.contains('probe-h2-7f3a', 'payload')).toBe(true);
    expect(server.recorder.contains('probe-h2-7f3a')).toBe(true);
  });

  it('finds a request body secret that HTTP/2 split across DATA frames', async () => {
    server.recorder.reset();
    const secret = 'body-secret-' + 'x'.repeat(40);
    // 16,384 bytes is the default HTTP/2 frame size: the secret straddles two DATA frames.
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'straddle', annotations: { pad: 'p'.repeat(16_384 - 130), s: secret } }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const reply = await h2request(server, '/api/v1/namespaces/default/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(reply.status).toBe(201);
    expect(server.recorder.contains(secret, 'wire')).toBe(false);
    expect(server.recorder.contains(secret)).toBe(true);
    server.deletePod('default', 'straddle');
  });

  it('serves HTTP/1.1 too and records it', async () => {
    server.recorder.reset();
    const reply = await h1request(server, '/version', { headers: { 'x-probe': 'probe-h1-2b9c' } });
    expect(reply.status).toBe(200);
    expect(json(reply)['gitVersion']).toBe('v1.31.4');
    expect(server.recorder.received().toString()).toContain('x-probe: probe-h1-2b9c');
    expect(server.recorder.sent().toString()).toContain('"gitVersion"');
  });

  it('answers with the API server headers', async () => {
    const reply = await h2request(server, '/api/v1/namespaces/default/pods');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['audit-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.headers['cache-control']).toBe('no-cache, private');
  });

  it('records nothing at all when started with record: false', async () => {
    const quiet = await startFakeApiServer({ record: false });
    try {
      const reply = await h2request(quiet, '/api/v1/namespaces', { token: quiet.tokens.admin, headers: { 'x-probe': 'not-recorded' } });
      expect(reply.status).toBe(200);
      expect(quiet.recorder.totalBytes).toBe(0);
      expect(quiet.recorder.contains('not-recorded')).toBe(false);
    } finally {
      await quiet.close();
    }
  });
});

describe('authentication, impersonation and authorization', () => {
  it('answers 401 Unauthorized to anonymous requests and unknown tokens', async () => {
    for (const token of [null, 'not-a-token']) {
      const reply = await h2request(server, '/api/v1/namespaces', { token });
      expect(reply.status).toBe(401);
      expect(json(reply)).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
  });

  it('authenticates a client certificate from the client CA as CN/O, and refuses one from another CA', async () => {
    const cert = await server.clientCa.issue('carol', ['ops']);
    server.clearRequests();
    const ok = await h2request(server, '/api/v1/namespaces/default/pods', { token: null, cert });
    expect(ok.status).toBe(200);
    const entry = server.requests.at(-1);
    expect(entry?.authMethod).toBe('certificate');
    expect(entry?.clientCertificatePresented).toBe(true);
    expect(entry?.effectiveUser).toEqual({ user: 'carol', groups: ['ops', 'system:authenticated'] });

    const stranger = await startFakeApiServer();
    try {
      const foreign = await stranger.clientCa.issue('mallory', ['system:masters']);
      const refused = await h2request(server, '/api/v1/namespaces', { token: null, cert: foreign });
      expect(refused.status).toBe(401);
    } finally {
      await stranger.close();
    }
  });

  it('lets the proxy impersonate a user and records who the upstream saw, without the token', async () => {
    server.clearRequests();
    const reply = await h2request(server, '/api/v1/namespaces/default/pods', {
      token: server.tokens.proxy,
      headers: { 'impersonate-user': 'alice', 'impersonate-group': ['dev', 'ops'], 'impersonate-extra-reason': 'audit' },
    });
    expect(reply.status).toBe(200);
    const entry = server.requests.at(-1);
    expect(entry?.authenticatedUser?.user).toBe(server.users.proxy);
    expect(entry?.effectiveUser).toEqual({ user: 'alice', groups: ['dev', 'ops', 'system:authenticated'], extra: { reason: ['audit'] } });
    expect(entry?.impersonationHeaders['impersonate-group']).toEqual(['dev', 'ops']);
    expect(entry?.bearerTokenPresented).toBe(true);
    expect(JSON.stringify(server.requests)).not.toContain(server.tokens.proxy);
  });

  it('refuses impersonation by a user who is not an impersonator', async () => {
    const limited = await startFakeApiServer({ tokens: { 'bob-token': { user: 'bob', groups: [] } } });
    try {
      const reply = await h2request(limited, '/api/v1/namespaces', { token: 'bob-token', headers: { 'impersonate-user': 'admin' } });
      expect(reply.status).toBe(403);
      expect(json(reply)['message']).toBe('users "admin" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope');
    } finally {
      await limited.close();
    }
  });

  it('applies per-user allow rules to the effective user', async () => {
    const ruled = await startFakeApiServer({ authorization: { alice: [{ verbs: ['get'], resources: ['pods'] }] } });
    try {
      ruled.addPod({ namespace: 'default', name: 'p', containers: [{ name: 'c' }] });
      const as = { token: ruled.tokens.proxy, headers: { 'impersonate-user': 'alice' } };
      expect((await h2request(ruled, '/api/v1/namespaces/default/pods/p', as)).status).toBe(200);
      const denied = await h2request(ruled, '/api/v1/namespaces/default/pods/p/log', as);
      expect(denied.status).toBe(403);
      expect(json(denied)).toMatchObject({
        reason: 'Forbidden',
        message: 'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "default"',
        details: { name: 'p', kind: 'pods' },
      });
    } finally {
      await ruled.close();
    }
  });
});

describe('errors shaped like kube-apiserver', () => {
  it('404 NotFound', async () => {
    const reply = await h2request(server, '/api/v1/namespaces/default/pods/nope');
    expect(reply.status).toBe(404);
    expect(json(reply)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
  });

  it('409 AlreadyExists and 422 Invalid on create', async () => {
    const create = (body: unknown) =>
      h2request(server, '/api/v1/namespaces/default/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const dup = await create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'alpha' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    expect(dup.status).toBe(409);
    expect(json(dup)).toMatchObject({ reason: 'AlreadyExists', message: 'pods "alpha" already exists', details: { name: 'alpha', kind: 'pods' } });
    const bad = await create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'empty' }, spec: { containers: [] } });
    expect(bad.status).toBe(422);
    expect(json(bad)).toMatchObject({
      reason: 'Invalid',
      message: 'Pod "empty" is invalid: spec.containers: Required value',
      details: { name: 'empty', kind: 'Pod', causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }] },
    });
  });

  it('404 for a path it does not serve and 406 for a representation it cannot make', async () => {
    expect(json(await h2request(server, '/apis/apps/v1/deployments'))['message']).toBe('the server could not find the requested resource');
    const reply = await h2request(server, '/api/v1/namespaces', { headers: { accept: 'application/cbor' } });
    expect(reply.status).toBe(406);
  });
});

describe('writes', () => {
  it('updates with PUT, refusing a stale resourceVersion with 409 Conflict', async () => {
    const created = server.addPod({ namespace: 'writes', name: 'w', containers: [{ name: 'c', image: 'a:1' }] });
    const put = (rv: string, image: string) =>
      h2request(server, '/api/v1/namespaces/writes/pods/w', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...created.object, metadata: { ...created.object.metadata, resourceVersion: rv }, spec: { ...(created.object['spec'] as object), containers: [{ name: 'c', image }] } }),
      });
    const ok = await put(String(created.rv), 'a:2');
    expect(ok.status).toBe(200);
    expect(Number((json(ok)['metadata'] as { resourceVersion: string }).resourceVersion)).toBeGreaterThan(created.rv);
    const stale = await put(String(created.rv), 'a:3');
    expect(stale.status).toBe(409);
    expect(json(stale)['message']).toBe('Operation cannot be fulfilled on pods "w": the object has been modified; please apply your changes to the latest version and try again');
  });

  it('deletes a collection by label selector and answers the deleted list', async () => {
    for (const [name, tier] of [['a', 'x'], ['b', 'y'], ['c', 'x']] as const) server.addPod({ namespace: 'dc', name, containers: [{ name: 'c' }], labels: { tier } });
    const reply = await h2request(server, '/api/v1/namespaces/dc/pods?labelSelector=tier%3Dx', { method: 'DELETE' });
    expect(reply.status).toBe(200);
    expect((json(reply) as { kind: string; items: Array<{ metadata: { name: string } }> }).items.map((i) => i.metadata.name)).toEqual(['a', 'c']);
    expect(server.cluster.store.list('pods', 'dc').map((p) => p.name)).toEqual(['b']);
  });

  it('honours dryRun=All without storing anything', async () => {
    const before = server.cluster.store.resourceVersion;
    const reply = await h2request(server, '/api/v1/namespaces/default/pods?dryRun=All', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dry' }, spec: { containers: [{ name: 'c', image: 'x' }] } }),
    });
    expect(reply.status).toBe(201);
    expect(server.cluster.store.get('pods', 'default', 'dry')).toBeUndefined();
    expect(server.cluster.store.resourceVersion).toBe(before);
  });
});

describe('untrusted input', () => {
  it('answers malformed requests with a 4xx Status and keeps serving', async () => {
    const post = (body: string | Buffer, contentType = 'application/json') =>
      h2request(server, '/api/v1/namespaces/default/pods', { method: 'POST', headers: { 'content-type': contentType }, body });
    const cases: Array<[Promise<{ status: number }>, number]> = [
      [post('{not json'), 400],
      [post('[1,2,3]'), 400],
      [post(Buffer.alloc(3 * 1024 * 1024 + 1, 0x20)), 413],
      [post('a: b', 'text/plain'), 415],
      [post(Buffer.from('k8s\0\x0a\xff', 'latin1'), 'application/vnd.kubernetes.protobuf'), 400],
      [h2request(server, '/api/v1/namespaces/default/pods/alpha', { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: '{"op":"add"}' }), 422],
      [h2request(server, '/api/v1/namespaces/default/pods/alpha', { method: 'PATCH', headers: { 'content-type': 'application/xml' }, body: '<x/>' }), 415],
      [h2request(server, '/api/v1/pods?labelSelector=a%20in%20(b'), 400],
      [h2request(server, '/api/v1/pods?limit=-1'), 400],
      [h2request(server, '/api/v1/pods?limit=1&continue=%%%'), 400],
      [h2request(server, '/api/v1/pods?watch=true&resourceVersion=abc'), 400],
      [h2request(server, '/api/v1/pods?resourceVersionMatch=Exact'), 422],
      [h2request(server, '/api/v1/namespaces/default/pods/alpha/log?tailLines=-3'), 422],
      [h2request(server, '/api/v1/namespaces/default/pods/alpha/log?container=nope'), 400],
      [h2request(server, '/api/v1/namespaces/../pods'), 404],
      [h2request(server, '/api/v2/pods'), 404],
      [h2request(server, '/api/v1/namespaces/default/pods/alpha/exec?command=ls'), 400],
    ];
    const statuses = await Promise.all(cases.map(([p]) => p.then((r) => r.status)));
    expect(statuses).toEqual(cases.map(([, code]) => code));
    expect((await h2request(server, '/api/v1/namespaces/default/pods/alpha')).status).toBe(200);
  });
});

/** Sends a raw HTTP/1.1 upgrade request and returns what the server answered before closing. */
function rawUpgrade(target: FakeApiServer, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: target.host, port: target.port, ca: target.caPem, ALPNProtocols: [] }, () => {
      const lines = [`POST ${path} HTTP/1.1`, `Host: ${target.host}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io', 'Content-Length: 0'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('upgrade answer timed out'));
    }, 5000);
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (got += c));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('stream upgrades', () => {
  it('refuses an unauthenticated, a forbidden and a completed-pod upgrade with a Status and Connection: close', async () => {
    const ruled = await startFakeApiServer({ authorization: { alice: [{ verbs: ['get'], resources: ['pods'] }] } });
    try {
      ruled.addPod({ namespace: 'default', name: 'p', containers: [{ name: 'c' }] });
      ruled.addPod({ namespace: 'default', name: 'done', containers: [{ name: 'c' }], phase: 'Succeeded' });
      const exec = '/api/v1/namespaces/default/pods/p/exec?command=true&container=c&stdout=true';
      const anonymous = await rawUpgrade(ruled, exec, {});
      expect(anonymous).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
      expect(anonymous).toContain('Connection: close');
      const forbidden = await rawUpgrade(ruled, exec, { Authorization: `Bearer ${ruled.tokens.proxy}`, 'Impersonate-User': 'alice' });
      expect(forbidden).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(forbidden).toContain('pods \\"p\\" is forbidden: User \\"alice\\" cannot create resource \\"pods/exec\\" in API group \\"\\" in the namespace \\"default\\"');
      const completed = await rawUpgrade(ruled, '/api/v1/namespaces/default/pods/done/exec?command=true&container=c&stdout=true', { Authorization: `Bearer ${ruled.tokens.admin}` });
      expect(completed).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(completed).toContain('cannot exec into a container in a completed pod; current phase is Succeeded');
      expect(ruled.requests.filter((r) => r.upgrade === 'SPDY/3.1').map((r) => r.status)).toEqual([401, 403, 400]);
    } finally {
      await ruled.close();
    }
  });
});

describe('representations', () => {
  it('answers a Table with the pod columns when asked like kubectl get', async () => {
    const reply = await h2request(server, '/api/v1/namespaces/default/pods?limit=500', {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' },
    });
    const table = json(reply) as { kind: string; columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[]; object: { kind: string } }> };
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c) => c.name).slice(0, 5)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    const row = table.rows.find((r) => r.cells[0] === 'alpha');
    expect(row?.cells.slice(0, 4)).toEqual(['alpha', '1/1', 'Running', '0']);
    expect(row?.object.kind).toBe('PartialObjectMetadata');
  });

  it('answers protobuf for pods and namespaces with the k8s envelope', async () => {
    const reply = await h2request(server, '/api/v1/namespaces/default/pods/alpha', { headers: { accept: 'application/vnd.kubernetes.protobuf, application/json' } });
    expect(reply.headers['content-type']).toBe('application/vnd.kubernetes.protobuf');
    expect(reply.body.subarray(0, 4)).toEqual(Buffer.from('k8s\0', 'binary'));
    const unknown = protoFields(reply.body.subarray(4));
    const typeMeta = protoFields(field(unknown, 1));
    expect(field(typeMeta, 1).toString()).toBe('v1');
    expect(field(typeMeta, 2).toString()).toBe('Pod');
    const pod = protoFields(field(unknown, 2));
    const meta = protoFields(field(pod, 1));
    expect(field(meta, 1).toString()).toBe('alpha');
    const status = protoFields(field(pod, 3));
    expect(field(status, 6).toString()).toBe('127.0.1.5');

    const list = await h2request(server, '/api/v1/namespaces', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    const listMsg = protoFields(field(protoFields(list.body.subarray(4)), 2));
    const names = (listMsg.get(2) ?? []).map((item) => field(protoFields(field(protoFields(item as Buffer), 1)), 1).toString());
    expect(names).toEqual(expect.arrayContaining(['default', 'kube-system']));
  });

  it('serves aggregated discovery only to clients that ask for it, by Content-Type', async () => {
    const aggregated = await h2request(server, '/api', { headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    expect(aggregated.headers['content-type']).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(json(aggregated)['kind']).toBe('APIGroupDiscoveryList');
    const legacy = await h2request(server, '/api', { headers: { accept: 'application/json' } });
    expect(json(legacy)).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
  });
});

describe('lists', () => {
  it('pages with limit and continue and counts what remains', async () => {
    for (let i = 0; i < 5; i++) server.addPod({ namespace: 'paging', name: `p${i}`, containers: [{ name: 'c' }] });
    const first = json(await h2request(server, '/api/v1/namespaces/paging/pods?limit=2')) as { metadata: { continue: string; remainingItemCount: number; resourceVersion: string }; items: Array<{ metadata: { name: string } }> };
    expect(first.items.map((i) => i.metadata.name)).toEqual(['p0', 'p1']);
    expect(first.metadata.remainingItemCount).toBe(3);
    const second = json(await h2request(server, `/api/v1/namespaces/paging/pods?limit=2&continue=${encodeURIComponent(first.metadata.continue)}`)) as typeof first;
    expect(second.items.map((i) => i.metadata.name)).toEqual(['p2', 'p3']);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    const last = json(await h2request(server, `/api/v1/namespaces/paging/pods?limit=2&continue=${encodeURIComponent(second.metadata.continue)}`)) as typeof first;
    expect(last.items.map((i) => i.metadata.name)).toEqual(['p4']);
    expect(last.metadata.continue).toBeUndefined();
  });

  it('filters by label and field selectors', async () => {
    const byLabel = json(await h2request(server, '/api/v1/pods?labelSelector=app%3Dweb')) as { items: Array<{ metadata: { name: string } }> };
    expect(byLabel.items.map((i) => i.metadata.name)).toEqual(['alpha']);
    const byField = json(await h2request(server, '/api/v1/pods?fieldSelector=status.podIP%3D127.0.1.5')) as typeof byLabel;
    expect(byField.items.map((i) => i.metadata.name)).toEqual(['alpha']);
    expect((await h2request(server, '/api/v1/pods?fieldSelector=spec.image%3Dx')).status).toBe(400);
  });

  it('streams a 5,000-pod list in chunks that a client parses whole', async () => {
    const big = await startFakeApiServer({ record: false });
    try {
      for (let i = 0; i < 5000; i++) {
        big.addPod({ namespace: 'bulk', name: `pod-${String(i).padStart(5, '0')}`, containers: [{ name: 'app', image: 'registry.example/app:1.0' }], labels: { app: 'bulk', shard: String(i % 16) } });
      }
      const started = performance.now();
      const reply = await h2request(big, '/api/v1/namespaces/bulk/pods', { token: big.tokens.admin, timeoutMs: 30_000 });
      const ms = performance.now() - started;
      const list = json(reply) as { items: unknown[] };
      expect(list.items).toHaveLength(5000);
      expect(reply.body.length).toBeGreaterThan(5 * 1024 * 1024);
      console.log(`5000-pod list: ${(reply.body.length / 1048576).toFixed(1)} MiB in ${ms.toFixed(0)} ms`);

      // kube-apiserver gzips answers of 128 KiB or more for clients that accept it.
      const zipped = await h2request(big, '/api/v1/namespaces/bulk/pods', { token: big.tokens.admin, headers: { 'accept-encoding': 'gzip' }, timeoutMs: 30_000 });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(zipped.headers['vary']).toBe('Accept-Encoding');
      expect(zipped.body.length).toBeLessThan(reply.body.length / 5);
      expect((JSON.parse(gunzipSync(zipped.body).toString('utf8')) as { items: unknown[] }).items).toHaveLength(5000);
      const small = await h2request(big, '/api/v1/namespaces/bulk/pods/pod-00001', { token: big.tokens.admin, headers: { 'accept-encoding': 'gzip' } });
      expect(small.headers['content-encoding']).toBeUndefined();
    } finally {
      await big.close();
    }
  });
});

describe('watch and followed logs', () => {
  it('flushes each watch event as it happens and sends bookmarks when allowed', async () => {
    const rv = server.cluster.store.resourceVersion;
    const w = h2stream(server, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    try {
      expect(await w.status).toBe(200);
      server.addPod({ namespace: 'default', name: 'watched', containers: [{ name: 'c' }] });
      await w.waitFor(/"type":"ADDED","object":\{"kind":"Pod".*"name":"watched"/);
      await w.waitFor(/"type":"BOOKMARK"/, 3000);
    } finally {
      w.close();
    }
  });

  it('writes followed log lines as they are appended and ends when the pod goes away', async () => {
    server.addPod({ namespace: 'default', name: 'talker', containers: [{ name: 'c' }] });
    server.appendLog('default', 'talker', 'c', 'first line\n');
    const f = h2stream(server, '/api/v1/namespaces/default/pods/talker/log?follow=true&timestamps=true');
    try {
      await f.waitFor(/Z first line\n$/);
      server.appendLog('default', 'talker', 'c', 'second line\n');
      await f.waitFor(/Z second line\n$/);
      expect(f.chunkCount()).toBeGreaterThanOrEqual(2);
      server.deletePod('default', 'talker');
      await Promise.race([f.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('follow did not end')), 3000))]);
    } finally {
      f.close();
    }
  });

  it('closes within its bound while watches and follows are open', async () => {
    const s = await startFakeApiServer();
    s.addPod({ namespace: 'default', name: 'p', containers: [{ name: 'c' }] });
    const w = h2stream(s, '/api/v1/pods?watch=true', { token: s.tokens.admin });
    const f = h2stream(s, '/api/v1/namespaces/default/pods/p/log?follow=true', { token: s.tokens.admin });
    await w.waitFor(/ADDED/);
    await f.status;
    const started = Date.now();
    await s.close();
    expect(Date.now() - started).toBeLessThan(2500);
    await Promise.all([w.ended, f.ended]);
    expect(s.openConnections).toBe(0);
  });
});

describe('request log', () => {
  it('records HTTP version, headers without credentials, and the status answered', async () => {
    server.clearRequests();
    await h2request(server, '/api/v1/namespaces/default/pods/alpha', { headers: { 'user-agent': 'probe/1.0', cookie: 'c=1' } });
    await h1request(server, '/api/v1/namespaces/default/pods/missing');
    const [a, b] = server.requests;
    expect(a).toMatchObject({ httpVersion: '2.0', alpn: 'h2', method: 'GET', path: '/api/v1/namespaces/default/pods/alpha', status: 200, authMethod: 'token' });
    expect(a?.headers['user-agent']).toEqual(['probe/1.0']);
    expect(a?.headers['authorization']).toBeUndefined();
    expect(a?.headers['cookie']).toBeUndefined();
    expect(b).toMatchObject({ httpVersion: '1.1', status: 404 });
  });

  it('keeps trailers-free h2 streams intact for a raw HTTP/2 client (no connection-specific headers)', async () => {
    const session = http2.connect(server.url, { ca: server.caPem });
    try {
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = session.request({ ':path': '/api/v1/namespaces', authorization: `Bearer ${server.tokens.admin}` });
        req.on('response', resolve);
        req.on('error', reject);
        req.resume();
        req.end();
      });
      expect(headers['connection']).toBeUndefined();
      expect(headers['transfer-encoding']).toBeUndefined();
      expect(headers[':status']).toBe(200);
    } finally {
      session.close();
    }
  });
});
