/**
 * The two images as OCI layouts (scripts/build-images.ts): valid, reproducible, and their
 * root filesystems run shadowplane with nothing from the host: the proxy from its image
 * serves kubectl against the API server stand-in, and the agent runtime, installed by the
 * init container that `shadowplane inject` writes, wraps a workload in a scratch root
 * filesystem (one static binary, no libc, no shell, no Node) under chroot.
 *
 * Needs root (chroot, mount namespaces), gcc, tar and the kubectl binaries.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, symlinkSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildImages, type BuildResult } from '../../../scripts/build-images.ts';
import { injectDocuments } from '../../../src/inject/inject.ts';
import { entrypointResolver, parseInjectOptions, podSpecPlan } from '../../../src/inject/options.ts';
import { CONFIDENTIAL_NS, createBed, REPO, type Bed } from '../../support/bed.ts';
import { runKubectl, runKubectlPty, type KubectlHome } from '../../support/kubectl.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8')) as unknown;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}
interface Manifest {
  schemaVersion: number;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface Config {
  architecture: string;
  os: string;
  created: string;
  config: { Entrypoint: string[]; User: string };
  rootfs: { type: string; diff_ids: string[] };
  history: unknown[];
}

function blob(layout: string, digest: string): Buffer {
  return readFileSync(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
}

function manifestOf(layout: string): { index: { schemaVersion: number; mediaType: string; manifests: (Descriptor & { annotations: Record<string, string>; platform: { os: string; architecture: string } })[] }; manifest: Manifest; config: Config } {
  const index = readJson(join(layout, 'index.json')) as ReturnType<typeof manifestOf>['index'];
  const manifest = JSON.parse(blob(layout, index.manifests[0]!.digest).toString('utf8')) as Manifest;
  const config = JSON.parse(blob(layout, manifest.config.digest).toString('utf8')) as Config;
  return { index, manifest, config };
}

/** Unpacks an image's layers, in order, with the system's tar (an independent reader). */
function unpack(layout: string, into: string): void {
  mkdirSync(into, { recursive: true });
  for (const layer of manifestOf(layout).manifest.layers) {
    const r = spawnSync('tar', ['-xzf', join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)), '-C', into, '--numeric-owner'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  }
}

function listFiles(dir: string, root = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    const st = statSync(full);
    return st.isDirectory() ? listFiles(full, root) : [full.slice(root.length + 1)];
  });
}

interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  /** R, S, Z... from /proc/PID/stat. */
  readonly state: string;
}

/** Every process on the machine, from /proc/PID/stat. */
function processes(): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ pid: Number(name), ppid: Number(ppid), state: state! });
  }
  return out;
}

function childrenOf(pid: number): ProcessEntry[] {
  return processes().filter((p) => p.ppid === pid);
}

function descendantsOf(pid: number): ProcessEntry[] {
  const all = processes();
  const found: ProcessEntry[] = [];
  const walk = (parent: number): void => {
    for (const p of all) {
      if (p.ppid !== parent) continue;
      found.push(p);
      walk(p.pid);
    }
  };
  walk(pid);
  return found;
}

/** Spawns in its own process group so that the whole tree can be killed. */
function start(cmd: string, args: readonly string[], env: Record<string, string>): { child: ChildProcess; out: () => string; err: () => string; kill: () => void; exited: Promise<number | null> } {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  return {
    child,
    out: () => Buffer.concat(out).toString('utf8'),
    err: () => Buffer.concat(err).toString('utf8'),
    kill: () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    exited,
  };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A copy of what the image build reads, with node_modules linked. */
function snapshot(into: string): string {
  mkdirSync(into, { recursive: true });
  for (const p of ['src', 'kubeconfig-templates', 'scripts', 'package.json', 'package-lock.json', 'LICENSE']) cpSync(join(REPO, p), join(into, p), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(into, 'node_modules'));
  return into;
}

const isRoot = process.getuid?.() === 0;
/** What the spawned tools see: a fixed PATH, nothing else of this process's environment. */
const SYSTEM_PATH = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

describe.runIf(isRoot)('images (OCI layouts built from files)', () => {
  let dir: string;
  let first: BuildResult;
  let second: BuildResult;
  let proxyRoot: string;
  let agentRoot: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-images-'));
    // Two snapshots of the sources in two different directories: the same source must
    // give the same bytes wherever it is built (and others may edit the work tree meanwhile).
    const snapshotA = snapshot(join(dir, 'src-a'));
    const snapshotB = snapshot(join(dir, 'deeper', 'src-b'));
    first = await buildImages({ repo: snapshotA, out: join(dir, 'a') });
    second = await buildImages({ repo: snapshotB, out: join(dir, 'b') });
    proxyRoot = join(dir, 'proxy-rootfs');
    agentRoot = join(dir, 'agent-rootfs');
    unpack(join(dir, 'a', 'proxy'), proxyRoot);
    unpack(join(dir, 'a', 'agent-runtime'), agentRoot);
  }, 240_000);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('writes valid OCI image layouts: digests and sizes match their blobs, media types are right', () => {
    for (const image of first.images) {
      const layout = image.dir;
      expect(readJson(join(layout, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
      const { index, manifest, config } = manifestOf(layout);
      expect(index.schemaVersion).toBe(2);
      expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(index.manifests).toHaveLength(1);
      const entry = index.manifests[0]!;
      expect(entry.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(entry.annotations['org.opencontainers.image.ref.name']).toBe(`${image.name}-${first.version}`);
      expect(entry.platform).toEqual({ architecture: 'amd64', os: 'linux' });
      const referenced: Descriptor[] = [entry, manifest.config, ...manifest.layers];
      for (const d of referenced) {
        const bytes = blob(layout, d.digest);
        expect(sha256(bytes)).toBe(d.digest);
        expect(bytes.length).toBe(d.size);
      }
      expect(manifest.schemaVersion).toBe(2);
      expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
      for (const l of manifest.layers) expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      // diff_ids are the digests of the uncompressed layers, in order.
      expect(config.rootfs).toEqual({ type: 'layers', diff_ids: manifest.layers.map((l) => sha256(gunzipSync(blob(layout, l.digest)))) });
      expect(config.history).toHaveLength(manifest.layers.length);
      expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z' });
      expect(config.config.User).toBe('65532:65532');
      // Nothing in blobs/ that no descriptor names.
      expect(readdirSync(join(layout, 'blobs', 'sha256')).sort()).toEqual([...new Set(referenced.map((d) => d.digest.slice(7)))].sort());
    }
    expect(manifestOf(join(dir, 'a', 'proxy')).config.config.Entrypoint).toEqual(['/opt/shadowplane/bin/shadowplane', 'proxy']);
  });

  it('gives identical digests and bytes on a second build', () => {
    expect(readFileSync(join(dir, 'b', 'digests.json'), 'utf8')).toBe(readFileSync(join(dir, 'a', 'digests.json'), 'utf8'));
    expect(second.images.map((i) => i.manifest.digest)).toEqual(first.images.map((i) => i.manifest.digest));
    for (const name of ['proxy', 'agent-runtime']) {
      const files = listFiles(join(dir, 'a', name)).sort();
      expect(listFiles(join(dir, 'b', name)).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(join(dir, 'b', name, f)).equals(readFileSync(join(dir, 'a', name, f)))).toBe(true);
      expect(readFileSync(join(dir, 'b', `${name}.spdx.json`), 'utf8')).toBe(readFileSync(join(dir, 'a', `${name}.spdx.json`), 'utf8'));
    }
  });

  it('writes layers as sorted, root-owned tars with epoch timestamps', () => {
    const { manifest } = manifestOf(join(dir, 'a', 'proxy'));
    for (const layer of manifest.layers) {
      const r = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvzf', join(dir, 'a', 'proxy', 'blobs', 'sha256', layer.digest.slice(7))], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      const names = lines.map((l) => l.split(/\s+/)[5]!);
      expect(names).toEqual([...names].sort());
      for (const l of lines) {
        const [, owner, , date, time] = l.split(/\s+/);
        expect(owner).toBe('0/0');
        expect(`${date} ${time}`).toBe('1970-01-01 00:00:00');
      }
    }
  });

  it('ships Node 24, its libraries, node-pty and the bundle, and no Node outside /opt/shadowplane', () => {
    const files = listFiles(proxyRoot).sort();
    for (const f of ['opt/shadowplane/bin/shadowplane', 'opt/shadowplane/lib/node', 'opt/shadowplane/lib/ld-linux-x86-64.so.2', 'opt/shadowplane/lib/libc.so.6', 'opt/shadowplane/lib/libstdc++.so.6', 'opt/shadowplane/app/dist/cli/main.mjs', 'opt/shadowplane/app/node_modules/node-pty/build/Release/pty.node', 'opt/shadowplane/app/kubeconfig-templates/kubeconfig.yaml', 'etc/passwd']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => !f.startsWith('opt/shadowplane/'))).toEqual(['etc/group', 'etc/passwd']);
    expect(statSync(join(proxyRoot, 'tmp')).mode & 0o7777).toBe(0o1777);
    // The launcher is a static ELF: no PT_INTERP (loader) and no PT_DYNAMIC program header.
    const elf = readFileSync(join(proxyRoot, 'opt/shadowplane/bin/shadowplane'));
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    const phoff = Number(elf.readBigUInt64LE(0x20));
    const phentsize = elf.readUInt16LE(0x36);
    const types = Array.from({ length: elf.readUInt16LE(0x38) }, (_, i) => elf.readUInt32LE(phoff + i * phentsize));
    expect(types).toContain(1); // PT_LOAD
    expect(types.filter((t) => t === 2 || t === 3)).toEqual([]); // PT_DYNAMIC, PT_INTERP
  });

  it('describes every file and component in an SPDX SBOM, with versions from package-lock.json', () => {
    const lock = readJson(join(REPO, 'package-lock.json')) as { packages: Record<string, { version: string }> };
    for (const image of first.images) {
      const doc = readJson(image.sbomPath) as { spdxVersion: string; packages: { name: string; versionInfo: string; externalRefs?: { referenceLocator: string }[]; checksums?: { checksumValue: string }[] }[]; files: { fileName: string; checksums: { checksumValue: string }[] }[]; relationships: unknown[] };
      expect(doc.spdxVersion).toBe('SPDX-2.3');
      expect(doc.packages[0]?.checksums?.[0]?.checksumValue).toBe(image.manifest.digest.slice(7));
      const files = listFiles(image.name === 'proxy' ? proxyRoot : agentRoot).sort();
      expect(doc.files.map((f) => f.fileName.slice(2)).sort()).toEqual(files);
      for (const f of doc.files) {
        const bytes = readFileSync(join(image.name === 'proxy' ? proxyRoot : agentRoot, f.fileName.slice(2)));
        expect(`sha256:${f.checksums[0]!.checksumValue}`).toBe(sha256(bytes));
      }
      const version = (name: string) => doc.packages.find((p) => p.name === name)?.versionInfo;
      expect(version('pino')).toBe(lock.packages['node_modules/pino']?.version);
      expect(version('ws')).toBe(lock.packages['node_modules/ws']?.version);
      expect(version('node-pty')).toBe(lock.packages['node_modules/node-pty']?.version);
      expect(version('node')).toBe('24.21.0');
      expect(doc.packages.some((p) => p.externalRefs?.some((r) => r.referenceLocator.startsWith('pkg:deb/debian/libc6@')))).toBe(true);
      expect(doc.relationships.length).toBeGreaterThan(doc.packages.length);
    }
  });

  it('carries the licence texts of everything it ships: shadowplane, Node, the Debian libraries, each npm package', () => {
    const doc = readJson(first.images.find((i) => i.name === 'proxy')!.sbomPath) as { packages: { SPDXID: string; name: string }[]; relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[] };
    const licences = listFiles(proxyRoot).filter((f) => f.startsWith('opt/shadowplane/share/licenses/'));
    for (const f of ['shadowplane/LICENSE', 'node/LICENSE', 'debian/libc6/copyright', 'debian/libstdc++6/copyright', 'npm/ws/LICENSE', 'npm/pino/LICENSE', 'npm/stream-buffers/UNLICENSE']) {
      expect(licences).toContain(`opt/shadowplane/share/licenses/${f}`);
    }
    expect(readFileSync(join(proxyRoot, 'opt/shadowplane/share/licenses/shadowplane/LICENSE'), 'utf8')).toContain('Apache License');
    expect(readFileSync(join(proxyRoot, 'opt/shadowplane/share/licenses/node/LICENSE'), 'utf8')).toContain('Node.js is licensed for use as follows');
    // Every npm package bundled into the CLI has its licence text beside it.
    const npmNames = doc.packages.filter((p) => p.SPDXID.includes('npm-') && p.name !== 'node-pty').map((p) => p.name);
    expect(npmNames.length).toBeGreaterThan(20);
    for (const name of npmNames) expect(licences.some((f) => f.startsWith(`opt/shadowplane/share/licenses/npm/${name}/`)), name).toBe(true);
  });

  it('runs shadowplane from the proxy root filesystem with its own Node 24, with an empty environment', () => {
    const version = spawnSync('chroot', [proxyRoot, '/opt/shadowplane/bin/shadowplane', 'version'], { env: SYSTEM_PATH, encoding: 'utf8', timeout: 20_000 });
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe('shadowplane 0.1.0 (Node.js v24.21.0)\n');
    const help = spawnSync('chroot', [proxyRoot, '/opt/shadowplane/bin/shadowplane', 'proxy', '--help'], { env: SYSTEM_PATH, encoding: 'utf8', timeout: 20_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--manifest FILE');
  });

  describe('end to end from the images', () => {
    let bed: Bed;
    let proxy: ReturnType<typeof start> | undefined;
    let agent: ReturnType<typeof start> | undefined;
    let home: KubectlHome;
    let proxyUrl: string;
    const podIP = '127.0.9.21';

    beforeAll(async () => {
      bed = await createBed();
      // The proxy in its image: the bed's manifest, upstream kubeconfig and simulated
      // platform are copied into the root filesystem at the same absolute paths.
      cpSync(bed.dir, join(proxyRoot, bed.dir), { recursive: true });
      proxy = start('chroot', [proxyRoot, '/opt/shadowplane/bin/shadowplane', 'proxy', '--manifest', bed.manifestPath, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', bed.simulatedDir, '--allow-simulated-agents', '--log-level', 'debug'], SYSTEM_PATH);
      const running = proxy;
      const port = await waitFor('the proxy in its image to listen', () => /"listen":"127\.0\.0\.1:(\d+)"/.exec(running.err())?.[1]);
      proxyUrl = `https://127.0.0.1:${port}`;
      const h = mkdtempSync(join(dir, 'home-'));
      writeFileSync(join(h, 'user.crt'), bed.users.alice.certPem);
      writeFileSync(join(h, 'user.key'), bed.users.alice.keyPem, { mode: 0o600 });
      const kubeconfig = join(h, 'kubeconfig');
      const r = await bed.cli(['verify', '--server', proxyUrl, '--manifest', bed.manifestPath, '--reference-values', bed.referenceValuesPath, '--client-cert', join(h, 'user.crt'), '--client-key', join(h, 'user.key'), '--allow-simulated', '--out', kubeconfig]);
      if (r.code !== 0) throw new Error(`verify against the image's proxy failed: ${r.stderr}`);
      home = { dir: h, kubeconfig, dispose: () => undefined };
    }, 90_000);

    afterAll(async () => {
      agent?.kill();
      proxy?.kill();
      await Promise.all([agent?.exited, proxy?.exited]);
      await bed?.close();
    });

    it('serves kubectl through the proxy from its image', async () => {
      bed.api.addPod({ namespace: 'default', name: 'web-0', containers: [{ name: 'web' }] });
      const r = await runKubectl('1.33', home, ['get', 'pods', '-n', 'default', '-o', 'name']);
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('pod/web-0\n');
    });

    it('installs the agent runtime with the injected init container and wraps a workload in a scratch root filesystem', async () => {
      // The scratch root filesystem: one static binary, nothing else.
      const scratch = join(dir, 'scratch');
      mkdirSync(scratch);
      const cc = spawnSync('gcc', ['-static', '-nostdlib', '-no-pie', '-O2', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns', '-fno-stack-protector', '-o', join(scratch, 'workload'), join(REPO, 'test/fixtures/rootfs/workload.c')], { encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      expect(listFiles(scratch)).toEqual(['workload']);
      for (const d of ['shadowplane', 'run/shadowplane', 'dev', 'proc', 'sim']) mkdirSync(join(scratch, d), { recursive: true });
      cpSync(bed.simulatedDir, join(scratch, 'sim'), { recursive: true });
      expect(spawnSync('chown', ['-R', '1000:1000', join(scratch, 'sim')], { env: SYSTEM_PATH }).status).toBe(0);

      // What the owner runs: inject, pinned to the bed's proxy (simulated platform, manifest digest).
      const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: conf-img\n  namespace: secure\nspec:\n  containers:\n    - name: app\n      image: scratch-workload\n      command: [/workload]\n';
      const files: Record<string, string> = { 'rv.yaml': readFileSync(bed.referenceValuesPath, 'utf8'), 'manifest.yaml': readFileSync(bed.manifestPath, 'utf8') };
      const options = parseInjectOptions(['-f', 'pod.yaml', '--agent-image', 'registry.example/shadowplane/agent-runtime@sha256:4444444444444444444444444444444444444444444444444444444444444444', '--proxy-reference-values', 'rv.yaml', '--manifest', 'manifest.yaml', '--tee', 'simulated', '--simulated-dir', '/sim', '--allow-simulated-proxy'], (p) => files[p] as string);
      const injected = parseAllDocuments(injectDocuments([{ name: 'pod.yaml', text: pod }], podSpecPlan(options, entrypointResolver(options.entrypoints).lookup)).output)[0]!.toJS() as {
        spec: { initContainers: { command: string[]; securityContext: { runAsUser: number } }[]; containers: { command: string[]; env: { name: string }[] }[] };
      };
      const install = injected.spec.initContainers[0]!;
      const app = injected.spec.containers[0]!;
      expect(app.env.map((e) => e.name)).toEqual(['POD_NAME', 'POD_NAMESPACE', 'POD_IP']);

      // The kubelet's part: the memory-backed volumes, the init container in the agent
      // image (as its nonroot user), then the workload container with the volumes mounted.
      const volume = join(dir, 'volume-runtime');
      const run = join(dir, 'volume-run');
      mkdirSync(volume);
      mkdirSync(run);
      chmodSync(volume, 0o777);
      chmodSync(run, 0o777);
      mkdirSync(join(agentRoot, 'shadowplane'), { recursive: true });
      const init = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$1" "$2/shadowplane" && shift 2 && exec chroot --userspec=65532:65532 "$@"', 'sh', volume, agentRoot, agentRoot, ...install.command], { env: SYSTEM_PATH, encoding: 'utf8', timeout: 60_000 });
      expect(init.stderr).toBe('');
      expect(init.status).toBe(0);
      expect(install.securityContext.runAsUser).toBe(65532);
      expect(statSync(join(volume, 'etc', 'agent.json')).mode & 0o777).toBe(0o444);

      bed.api.addPod({ namespace: CONFIDENTIAL_NS, name: 'conf-img', containers: [{ name: 'app' }], podIP });
      // As every OCI runtime does, the container gets /dev and its own /proc (the agent's
      // terminals need /proc/self/fdinfo).
      const mounts = 'mount --bind "$1" "$3/shadowplane" && mount -o remount,bind,ro "$3/shadowplane" && mount --bind "$2" "$3/run/shadowplane" && mount --rbind /dev "$3/dev" && mount -t proc proc "$3/proc" && root="$3" && shift 3 && exec chroot --userspec=1000:1000 "$root" "$@"';
      // The container's NODE_OPTIONS, LD_PRELOAD and LD_AUDIT are the workload's: were the agent's
      // own Node to apply them, this --require of a missing file would stop it at start.
      const nodeOptions = '--require=/no/such/preload.js';
      const ldPreload = '/no/such/preload.so';
      // The container's own PID namespace: sh, then chroot, then the launcher are its PID 1.
      agent = start('unshare', ['--pid', '--fork', '--kill-child', '-m', 'sh', '-c', mounts, 'sh', volume, run, scratch, ...app.command], { ...SYSTEM_PATH, POD_NAME: 'conf-img', POD_NAMESPACE: CONFIDENTIAL_NS, POD_IP: podIP, NODE_OPTIONS: nodeOptions, LD_PRELOAD: ldPreload, LD_AUDIT: ldPreload });
      const running = agent;
      await waitFor('the agent to serve', async () => {
        if (running.child.exitCode !== null) throw new Error(`agent exited: ${running.err()}`);
        const r = await runKubectl('1.33', home, ['exec', '-n', CONFIDENTIAL_NS, 'conf-img', '--', '/workload', 'echo', 'hello', 'from', 'scratch']);
        return r.code === 0 ? r.stdout.toString() : undefined;
      }).then((out) => expect(out).toBe('hello from scratch\n'));
      // ...and exec'd commands get it back under its own name, and nothing of the agent's.
      const envOf = async (name: string): Promise<string> => (await runKubectl('1.33', home, ['exec', '-n', CONFIDENTIAL_NS, 'conf-img', '--', '/workload', 'env', name])).stdout.toString();
      expect(await envOf('NODE_OPTIONS')).toBe(`${nodeOptions}\n`);
      expect(await envOf('LD_PRELOAD')).toBe(`${ldPreload}\n`);
      expect(await envOf('SHADOWPLANE_WORKLOAD_NODE_OPTIONS')).toBe('(unset)\n');
      expect(await envOf('LD_AUDIT')).toBe(`${ldPreload}\n`);
      // PID 1 of the container is the launcher, staying as init; the agent's Node is its
      // child, and started with none of them: what the loader and Node saw is its initial
      // environment.
      const [podInit] = childrenOf(running.child.pid!);
      expect(readFileSync(`/proc/${podInit!.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/shadowplane/bin/shadowplane');
      const [node] = childrenOf(podInit!.pid);
      expect(readFileSync(`/proc/${node!.pid}/cmdline`, 'utf8')).toContain('/shadowplane/app/dist/cli/main.mjs');
      const agentEnv = readFileSync(`/proc/${node!.pid}/environ`, 'utf8').split('\0');
      expect(agentEnv.filter((e) => /^(NODE_OPTIONS|LD_PRELOAD|LD_AUDIT)=/.test(e))).toEqual([]);
      expect(agentEnv).toContain(`SHADOWPLANE_WORKLOAD_LD_PRELOAD=${ldPreload}`);

      // An exec'd command that leaves an orphan: it becomes PID 1's child, and PID 1 reaps it.
      const orphan = await runKubectl('1.33', home, ['exec', '-n', CONFIDENTIAL_NS, 'conf-img', '--', '/workload', 'orphan']);
      expect(orphan.stdout.toString()).toBe('orphaned\n');
      // The grandchild lives 0.2 s; give PID 1 a moment after that to reap it.
      await new Promise((r) => setTimeout(r, 1000));
      expect(descendantsOf(podInit!.pid).filter((p) => p.state === 'Z')).toEqual([]);

      // A terminal session: node-pty's native module loads from the runtime, in scratch.
      const tty = await runKubectlPty('1.33', home, ['exec', '-it', '-n', CONFIDENTIAL_NS, 'conf-img', '--', '/workload', 'echo', 'through', 'a', 'pty'], { cols: 80, rows: 24, script: async ({ waitFor: wait }) => wait(/through a pty/) });
      expect(tty.scriptError).toBeUndefined();
      expect(tty.code).toBe(0);
      expect(tty.output).toContain('through a pty\r\n');

      const exit = await runKubectl('1.33', home, ['exec', '-n', CONFIDENTIAL_NS, 'conf-img', '--', '/workload', 'exit', '3']);
      expect(exit.code).toBe(3);
      const logs = await runKubectl('1.33', home, ['logs', '-n', CONFIDENTIAL_NS, 'conf-img']);
      expect(logs.stdout.toString()).toContain('scratch workload up: LOG-LINE-SECRET-5d1e');
      // The workload's log line stayed inside: not on the agent's real stdout (the node's
      // log), not at the API server, not in the proxy's or the agent's own log.
      expect(running.out()).not.toContain('LOG-LINE-SECRET-5d1e');
      expect(running.err()).not.toContain('LOG-LINE-SECRET-5d1e');
      expect(proxy?.err()).not.toContain('LOG-LINE-SECRET-5d1e');
      expect(bed.api.recorder.contains('LOG-LINE-SECRET-5d1e')).toBe(false);
      expect(bed.api.recorder.contains('hello from scratch')).toBe(false);
      expect(existsSync(join(run, 'logs', 'app'))).toBe(true);

      // The kubelet stops the container with SIGTERM to its PID 1: the launcher forwards
      // it, the agent forwards it to the workload, and the exit status comes back up.
      process.kill(podInit!.pid, 'SIGTERM');
      expect(await running.exited).toBe(128 + 15);
    });
  });
});
