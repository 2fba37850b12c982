/**
 * OCI image layouts (image-spec v1.1) written straight from layer entries, the way ko and
 * apko build images without a container engine: deterministic tar layers, gzip without a
 * timestamp, config and manifest JSON with fixed key order, index.json and oci-layout.
 *
 *   DIR/oci-layout                 {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json                 one manifest, tagged by org.opencontainers.image.ref.name
 *   DIR/blobs/sha256/<hex>         config, manifest and layers, named by their digest
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256Hex, tarLayer, type LayerEntry } from './build-image-tar.ts';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Every timestamp in an image: the epoch, so that nothing depends on when it was built. */
export const EPOCH = '1970-01-01T00:00:00Z';

export interface Layer {
  /** Digest of the uncompressed tar (the config's diff_id). */
  readonly diffId: string;
  /** The gzip blob and its digest. */
  readonly blob: Buffer;
  readonly digest: string;
  readonly comment: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** Builds one layer: tar, then gzip (level 6: level 9 takes five times as long for 0.3% less; no name, mtime 0). */
export function buildLayer(entries: readonly LayerEntry[], comment: string): Layer {
  const tar = tarLayer(entries);
  const blob = gzipSync(tar, { level: 6 });
  return { diffId: `sha256:${sha256Hex(tar)}`, blob, digest: `sha256:${sha256Hex(blob)}`, comment };
}

export interface ImageConfig {
  readonly User: string;
  readonly Entrypoint: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Env: readonly string[];
  readonly WorkingDir: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Labels: Readonly<Record<string, string>>;
}

export interface ImageResult {
  readonly dir: string;
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** `name@sha256:…` as it will be after pushing under `name`. */
  readonly refName: string;
}

function writeBlob(dir: string, data: Buffer): Descriptor & { data: Buffer } {
  const hex = sha256Hex(data);
  writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
  return { mediaType: '', digest: `sha256:${hex}`, size: data.length, data };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

/** Writes an OCI image layout for one linux/amd64 image. */
export function writeImageLayout(dir: string, opts: { refName: string; layers: readonly Layer[]; config: ImageConfig; annotations: Readonly<Record<string, string>> }): ImageResult {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  const layers = opts.layers.map((l) => ({ ...writeBlob(dir, l.blob), mediaType: MEDIA_TYPES.layerGzip }));
  const config = {
    created: EPOCH,
    architecture: 'amd64',
    os: 'linux',
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => l.diffId) },
    history: opts.layers.map((l) => ({ created: EPOCH, created_by: 'shadowplane deploy/build', comment: l.comment })),
  };
  const configBlob = { ...writeBlob(dir, json(config)), mediaType: MEDIA_TYPES.config };
  const descriptor = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: descriptor(configBlob),
    layers: layers.map(descriptor),
    annotations: { ...opts.annotations, 'org.opencontainers.image.created': EPOCH },
  };
  const manifestBlob = { ...writeBlob(dir, json(manifest)), mediaType: MEDIA_TYPES.manifest };
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ ...descriptor(manifestBlob), annotations: { 'org.opencontainers.image.ref.name': opts.refName }, platform: { architecture: 'amd64', os: 'linux' } }],
  };
  writeFileSync(join(dir, 'index.json'), json(index));
  return { dir, manifest: descriptor(manifestBlob), config: descriptor(configBlob), layers: layers.map(descriptor), refName: opts.refName };
}
