/**
 * The everyday kubectl suite, for real kubectl 1.27 … 1.33: read commands, a watch ended by
 * its timeout, client-side and server-side apply, patches, logs with flags, and exec,
 * attach and port-forward of an ordinary pod through the stand-in's kubelet.
 *
 * Defined once and run twice: straight against the API server stand-in
 * (test/integration/fake-apiserver/kubectl.test.ts) and through shadowplane's proxy with
 * a kubeconfig written by `shadowplane verify` (test/integration/e2e/passthrough-kubectl.test.ts),
 * which proves that passthrough changes nothing kubectl relies on. Each version works in
 * its own namespace.
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeApiServer } from './fake-apiserver/index.ts';
import { KUBECTL_VERSIONS, runKubectl, runKubectlPty, startKubectl, type KubectlHome, type KubectlVersion } from './kubectl.ts';

export interface KubectlSuiteTarget {
  readonly server: FakeApiServer;
  /** A kubectl home whose kubeconfig's default namespace is `ns`. */
  home(version: KubectlVersion, ns: string): Promise<KubectlHome>;
  /** A loopback address with an echo server on `echoPort` (the seed pod's IP). */
  readonly echoIp: string;
  readonly echoPort: number;
}

function podYaml(name: string, image: string): string {
  return ['apiVersion: v1', 'kind: Pod', 'metadata:', `  name: ${name}`, '  labels:', '    app: web', 'spec:', '  containers:', '  - name: c1', `    image: ${image}`, ''].join('\n');
}

/** Sends `data` to 127.0.0.1:port and resolves with what came back before the server closed. */
function roundTrip(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('port-forward round trip timed out'));
    }, 10_000);
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.length >= data.length) {
        clearTimeout(timer);
        socket.end();
        resolve(got);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(data);
  });
}


/** Registers the suite; `target()` is read in beforeAll hooks, after the caller's setup ran. */
export function defineKubectlSuite(title: string, target: () => KubectlSuiteTarget, versions: readonly KubectlVersion[] = KUBECTL_VERSIONS): void {
    describe.each(versions)(`kubectl %s ${title}`, (version: KubectlVersion) => {
    const ns = `kv-${version.replace('.', '-')}`;
    let home: KubectlHome;
    let server: FakeApiServer;
    const kubectl = (args: readonly string[], stdin?: string) => runKubectl(version, home, args, { timeoutMs: 20_000, ...(stdin === undefined ? {} : { stdin }) });

    beforeAll(async () => {
      server = target().server;
      home = await target().home(version, ns);
      server.addPod({ namespace: ns, name: 'seed', containers: [{ name: 'c1', image: 'nginx:1.25' }], podIP: target().echoIp, labels: { app: 'seed' } });
      server.appendLog(ns, 'seed', 'c1', 'line one\nline two\nline three\n');
    });

    afterAll(() => home.dispose());

    it('reports the server version', async () => {
      const r = await kubectl(['version']);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/v1\.31\.4/);
    });

    it('lists namespaces and API resources', async () => {
      const nsOut = await kubectl(['get', 'ns']);
      expect(nsOut.code).toBe(0);
      expect(nsOut.stdout.toString()).toMatch(/^NAME\s+STATUS\s+AGE$/m);
      expect(nsOut.stdout.toString()).toMatch(new RegExp(`^${ns}\\s+Active\\s+\\d+s$`, 'm'));
      const res = await kubectl(['api-resources']);
      expect(res.code).toBe(0);
      expect(res.stdout.toString()).toMatch(/^namespaces\s+ns\s+v1\s+false\s+Namespace$/m);
      expect(res.stdout.toString()).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
    });

    it('creates, gets and deletes a namespace with its pods (JSON or protobuf bodies, as each version sends them)', async () => {
      const tmp = `tmp-${ns}`;
      server.clearRequests();
      const created = await kubectl(['create', 'namespace', tmp]);
      expect(created.stdout.toString()).toBe(`namespace/${tmp} created\n`);
      const post = server.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/namespaces');
      expect(post?.status).toBe(201);
      expect(['application/json', 'application/vnd.kubernetes.protobuf']).toContain(post?.headers['content-type']?.[0]);
      expect((await kubectl(['run', 'r1', '-n', tmp, '--image=busybox'])).stdout.toString()).toBe('pod/r1 created\n');
      expect((await kubectl(['get', 'ns', tmp])).stdout.toString()).toMatch(new RegExp(`^${tmp}\\s+Active\\s+`, 'm'));
      const deleted = await kubectl(['delete', 'namespace', tmp]);
      expect(deleted.code).toBe(0);
      expect(deleted.stdout.toString()).toBe(`namespace "${tmp}" deleted\n`);
      expect(server.cluster.store.get('namespaces', '', tmp)).toBeUndefined();
      expect(server.cluster.store.list('pods', tmp)).toEqual([]);
    });

    it('patches with --type merge and json, and labels', async () => {
      expect((await kubectl(['patch', 'pod', 'seed', '--type=merge', '-p', '{"metadata":{"labels":{"merged":"yes"}}}'])).stdout.toString()).toBe('pod/seed patched\n');
      expect((await kubectl(['patch', 'pod', 'seed', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/jsonpatched","value":"yes"}]'])).stdout.toString()).toBe('pod/seed patched\n');
      expect((await kubectl(['label', 'pod', 'seed', 'labelled=yes', '--overwrite'])).code).toBe(0);
      const labels = server.cluster.store.get('pods', ns, 'seed')?.object.metadata['labels'];
      expect(labels).toMatchObject({ app: 'seed', merged: 'yes', jsonpatched: 'yes', labelled: 'yes' });
      const refused = await kubectl(['patch', 'pod', 'seed', '--type=json', '-p', '[{"op":"test","path":"/metadata/name","value":"other"}]']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('is invalid');
    });

    it('prints pods as the server-side Table and as JSON', async () => {
      const table = await kubectl(['get', 'pods']);
      expect(table.code).toBe(0);
      expect(table.stdout.toString()).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
      expect(table.stdout.toString()).toMatch(/^seed\s+1\/1\s+Running\s+0\s+\d+s$/m);
      const wide = await kubectl(['get', 'pods', '-o', 'wide']);
      expect(wide.stdout.toString()).toMatch(new RegExp(`^seed\\s+1/1\\s+Running\\s+0\\s+\\d+s\\s+${target().echoIp.replace(/\./g, '\\.')}\\s+fake-node`, 'm'));
      const asJson = await kubectl(['get', 'pods', '-o', 'json']);
      expect(asJson.code).toBe(0);
      const list = JSON.parse(asJson.stdout.toString()) as { items: Array<{ metadata: { name: string }; status: { podIP: string } }> };
      expect(list.items.map((p) => p.metadata.name)).toContain('seed');
      expect(list.items.find((p) => p.metadata.name === 'seed')?.status.podIP).toBe(target().echoIp);
    });

    it('watches with -w until the request timeout ends it, printing changes as they happen', async () => {
      const run = startKubectl(version, home, ['get', 'pods', '-w', '--request-timeout=2s'], { timeoutMs: 20_000 });
      await run.waitForStdout(/^seed\s/m);
      server.addPod({ namespace: ns, name: 'late', containers: [{ name: 'c1' }] });
      await run.waitForStdout(/^late\s+1\/1\s+Running/m);
      const r = await run.result;
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(0);
      server.deletePod(ns, 'late');
    });

    it('applies, re-applies (strategic merge patch) and deletes a pod', async () => {
      const file = join(home.dir, 'web.yaml');
      writeFileSync(file, podYaml('web', 'nginx:1.25'));
      const created = await kubectl(['apply', '-f', file]);
      expect(created.stderr).toBe('');
      expect(created.stdout.toString()).toBe('pod/web created\n');
      writeFileSync(file, podYaml('web', 'nginx:1.26'));
      server.clearRequests();
      const configured = await kubectl(['apply', '-f', file]);
      expect(configured.stdout.toString()).toBe('pod/web configured\n');
      const patch = server.requests.find((r) => r.method === 'PATCH');
      expect(patch?.headers['content-type']).toEqual(['application/strategic-merge-patch+json']);
      const spec = server.cluster.store.get('pods', ns, 'web')?.object['spec'] as { containers: Array<{ image: string }> };
      expect(spec.containers[0]?.image).toBe('nginx:1.26');
      const deleted = await kubectl(['delete', '-f', file]);
      expect(deleted.code).toBe(0);
      expect(deleted.stdout.toString()).toBe('pod "web" deleted\n');
      expect(server.cluster.store.get('pods', ns, 'web')).toBeUndefined();
    });

    it('applies on the server side and records the field manager', async () => {
      const file = join(home.dir, 'ssa.yaml');
      writeFileSync(file, podYaml('ssa', 'nginx:1.25'));
      const applied = await kubectl(['apply', '--server-side', '-f', file]);
      expect(applied.stdout.toString()).toBe('pod/ssa serverside-applied\n');
      writeFileSync(file, podYaml('ssa', 'nginx:1.27'));
      expect((await kubectl(['apply', '--server-side', '-f', file])).code).toBe(0);
      const pod = server.cluster.store.get('pods', ns, 'ssa')?.object;
      expect((pod?.['spec'] as { containers: Array<{ image: string }> }).containers[0]?.image).toBe('nginx:1.27');
      expect((pod?.metadata['managedFields'] as Array<{ manager: string; operation: string }>).map((m) => `${m.manager}/${m.operation}`)).toContain('kubectl/Apply');
      expect((await kubectl(['delete', 'pod', 'ssa'])).code).toBe(0);
    });

    it('shows logs with --tail, --timestamps, --limit-bytes and --since, and refuses --previous without one', async () => {
      expect((await kubectl(['logs', 'seed'])).stdout.toString()).toBe('line one\nline two\nline three\n');
      expect((await kubectl(['logs', 'seed', '--tail=1'])).stdout.toString()).toBe('line three\n');
      expect((await kubectl(['logs', 'seed', '-c', 'c1', '--limit-bytes=6'])).stdout.toString()).toBe('line o');
      expect((await kubectl(['logs', 'seed', '--since=1h'])).stdout.toString()).toBe('line one\nline two\nline three\n');
      expect((await kubectl(['logs', 'seed', '--since-time=2000-01-01T00:00:00Z'])).stdout.toString()).toBe('line one\nline two\nline three\n');
      expect((await kubectl(['logs', 'seed', '--since-time=2999-01-01T00:00:00Z'])).stdout.toString()).toBe('');
      expect((await kubectl(['logs', 'seed', '--timestamps', '--tail=1'])).stdout.toString()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line three\n$/);
      const previous = await kubectl(['logs', 'seed', '--previous']);
      expect(previous.code).toBe(1);
      expect(previous.stderr).toContain('previous terminated container "c1" in pod "seed" not found');
      server.appendLog(ns, 'seed', 'c1', 'from the previous run\n', { previous: true });
      expect((await kubectl(['logs', 'seed', '-p'])).stdout.toString()).toBe('from the previous run\n');
    });

    // One retry: once in a full-suite run (2026-12-02, kubectl 1.30) the command's stdout
    // never reached kubectl although its stderr and exit code did, which a byte tunnel
    // cannot do (stdout is sent before the status, on the same connection); 240 repeated runs, idle and
    // under CPU load, did not reproduce it. Compare kubernetes/kubernetes#124571 (kubectl
    // exec over WebSocket truncating stdout).
    it('runs exec through the kubelet with exit codes, stderr and stdin, and the recorder sees the payload', { retry: 1 }, async () => {
      const secret = `exec-payload-${version}-${Math.random().toString(36).slice(2)}`;
      const r = await kubectl(['exec', 'seed', '--', 'sh', '-c', `echo ${secret}; echo err >&2; exit 3`]);
      expect(r.code).toBe(3);
      expect(r.stdout.toString()).toBe(`${secret}\n`);
      expect(r.stderr).toContain('err\n');
      expect(server.recorder.contains(secret)).toBe(true);
      const missing = await kubectl(['exec', 'seed', '--', 'no-such-executable-here']);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toContain('executable file not found in $PATH');
      const cat = await kubectl(['exec', '-i', 'seed', '--', 'cat'], 'round trip through stdin\n');
      expect(cat.code).toBe(0);
      expect(cat.stdout.toString()).toBe('round trip through stdin\n');
    });

    it('runs an interactive TTY exec under a pseudo-terminal sized like the client', async () => {
      const run = await runKubectlPty(version, home, ['exec', '-it', 'seed', '--', 'sh', '-c', 'stty size; read answer; echo "got-$answer"'], {
        cols: 101,
        rows: 33,
        timeoutMs: 20_000,
        script: async (io) => {
          await io.waitFor(/33 101/);
          io.write('tty-ok\r');
          await io.waitFor(/got-tty-ok/);
        },
      });
      expect(run.scriptError).toBeUndefined();
      expect(run.code).toBe(0);
    });

    it('attaches to the container process and ends with it (stdinOnce)', async () => {
      server.addPod({ namespace: ns, name: 'attachee', containers: [{ name: 'c1', command: ['sh', '-c', 'read line; echo "got $line"'], stdin: true, stdinOnce: true }] });
      const r = await kubectl(['attach', '-i', 'attachee', '-c', 'c1'], 'hello\n');
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toContain('got hello');
      expect((await kubectl(['logs', 'attachee'])).stdout.toString()).toBe('got hello\n');
      server.deletePod(ns, 'attachee');
    });

    it('port-forwards to the pod IP', async () => {
      const run = startKubectl(version, home, ['port-forward', 'pod/seed', `:${target().echoPort}`], { timeoutMs: 20_000 });
      try {
        const [, port] = await run.waitForStdout(/Forwarding from 127\.0\.0\.1:(\d+)/);
        expect(await roundTrip(Number(port), `hello through port-forward ${version}`)).toBe(`hello through port-forward ${version}`);
        expect(server.recorder.contains(`hello through port-forward ${version}`, 'payload')).toBe(true);
      } finally {
        run.kill();
        await run.result;
      }
    });
  });
}
