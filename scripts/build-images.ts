/**
 * Builds the two shadowplane images as OCI image layouts, without a container engine:
 *
 *   OUT/proxy/                  the attested proxy: ENTRYPOINT shadowplane proxy
 *   OUT/agent-runtime/          the agent runtime that inject's init container copies
 *   OUT/proxy.spdx.json         SBOMs (SPDX 2.3)
 *   OUT/agent-runtime.spdx.json
 *   OUT/digests.json            name, manifest digest and layer digests of both
 *
 * Both images share their two layers (the runtime directory at /opt/shadowplane, and a
 * minimal /etc with the nonroot user 65532 and /tmp); they differ in their config. Same
 * repository state and build machine → same digests (checked by
 * test/integration/deploy/images.test.ts).
 *
 * Usage: node scripts/build-images.ts --out DIR [--repository REGISTRY/PATH]
 * Push: skopeo copy oci:OUT/proxy:<version> docker://REGISTRY/PATH/proxy:<version>
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { IMAGE_RUNTIME_DIR, IMAGE_USER } from '../src/inject/layout.ts';
import { buildLayer, writeImageLayout, type ImageResult } from './build-image-oci.ts';
import { collectRuntime } from './build-image-runtime.ts';
import { spdxDocument } from './build-image-sbom.ts';
import type { LayerEntry } from './build-image-tar.ts';

export interface BuiltImage extends ImageResult {
  readonly name: 'proxy' | 'agent-runtime';
  readonly sbomPath: string;
}

export interface BuildResult {
  readonly version: string;
  readonly images: readonly BuiltImage[];
}

/** /etc/passwd and /etc/group with root and nonroot (65532), and /tmp. */
function baseEntries(): LayerEntry[] {
  const u = IMAGE_USER;
  return [
    { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from(`root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${u}:${u}:nonroot:/home/nonroot:/sbin/nologin\n`) },
    { type: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from(`root:x:0:\nnonroot:x:${u}:\n`) },
    { type: 'dir', path: 'home/nonroot', mode: 0o755 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ];
}

export async function buildImages(opts: { repo: string; out: string; repository?: string }): Promise<BuildResult> {
  const pkg = JSON.parse(readFileSync(join(opts.repo, 'package.json'), 'utf8')) as { version: string };
  const runtime = await collectRuntime({ repo: opts.repo, prefix: IMAGE_RUNTIME_DIR.slice(1) });
  const base = baseEntries();
  const layers = [buildLayer(base, 'base: /etc (nonroot 65532), /tmp'), buildLayer(runtime.entries, `runtime: ${IMAGE_RUNTIME_DIR}`)];
  const allEntries = [...base, ...runtime.entries];
  const launcher = `${IMAGE_RUNTIME_DIR}/bin/shadowplane`;
  const labels = (title: string, description: string) => ({
    'org.opencontainers.image.title': title,
    'org.opencontainers.image.description': description,
    'org.opencontainers.image.version': pkg.version,
    'org.opencontainers.image.licenses': 'Apache-2.0',
  });
  rmSync(opts.out, { recursive: true, force: true });
  mkdirSync(opts.out, { recursive: true });
  const specs = [
    {
      name: 'proxy' as const,
      config: {
        User: `${IMAGE_USER}:${IMAGE_USER}`,
        Entrypoint: [launcher, 'proxy'],
        Env: [`PATH=${IMAGE_RUNTIME_DIR}/bin`],
        WorkingDir: '/',
        ExposedPorts: { '8443/tcp': {} },
        Labels: labels('shadowplane-proxy', 'Trusted shadow control-plane proxy for confidential Kubernetes pods (runs in a TEE).'),
      },
    },
    {
      name: 'agent-runtime' as const,
      config: {
        User: `${IMAGE_USER}:${IMAGE_USER}`,
        Entrypoint: [launcher],
        Cmd: ['--help'],
        Env: [`PATH=${IMAGE_RUNTIME_DIR}/bin`],
        WorkingDir: '/',
        Labels: labels('shadowplane-agent-runtime', `Self-contained shadowplane agent runtime at ${IMAGE_RUNTIME_DIR}, copied into confidential pods by the init container that shadowplane inject adds.`),
      },
    },
  ];
  const images: BuiltImage[] = [];
  for (const spec of specs) {
    const refName = `${spec.name}-${pkg.version}`;
    const result = writeImageLayout(join(opts.out, spec.name), {
      refName,
      layers,
      config: spec.config,
      annotations: { ...spec.config.Labels, ...(opts.repository === undefined ? {} : { 'org.opencontainers.image.url': `${opts.repository}/${spec.name}` }) },
    });
    const sbomPath = join(opts.out, `${spec.name}.spdx.json`);
    writeFileSync(sbomPath, `${JSON.stringify(spdxDocument({ imageName: `shadowplane-${spec.name}`, version: pkg.version, manifestDigest: result.manifest.digest, entries: allEntries, components: runtime.components }), null, 2)}\n`);
    images.push({ ...result, name: spec.name, sbomPath });
  }
  writeFileSync(
    join(opts.out, 'digests.json'),
    `${JSON.stringify({ version: pkg.version, images: images.map((i) => ({ name: i.name, ref: i.refName, manifest: i.manifest.digest, config: i.config.digest, layers: i.layers.map((l) => l.digest) })) }, null, 2)}\n`,
  );
  return { version: pkg.version, images };
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { out: { type: 'string' }, repository: { type: 'string' } }, strict: true });
  if (values.out === undefined) throw new Error('usage: node scripts/build-images.ts --out DIR [--repository REGISTRY/PATH]');
  const repo = fileURLToPath(new URL('../', import.meta.url));
  const result = await buildImages({ repo, out: resolve(values.out), ...(values.repository === undefined ? {} : { repository: values.repository }) });
  for (const i of result.images) process.stdout.write(`${i.name}\t${i.refName}\t${i.manifest.digest}\t${i.dir}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`build-images: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
