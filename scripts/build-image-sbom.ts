/**
 * SPDX 2.3 JSON software bill of materials for one image: the image as the described
 * package, every component (npm packages from package-lock.json, Node, Debian libraries,
 * the launcher) with its purl, and every file of the image with its SHA-256. Deterministic:
 * creation time is the epoch, the namespace is derived from the image digest.
 */
import { sha256Hex, type LayerEntry } from './build-image-tar.ts';
import { EPOCH } from './build-image-oci.ts';
import type { Component } from './build-image-runtime.ts';

const spdxId = (s: string): string => `SPDXRef-${s.replace(/[^A-Za-z0-9.-]/g, '-')}`;

export function spdxDocument(opts: { imageName: string; version: string; manifestDigest: string; entries: readonly LayerEntry[]; components: readonly Component[] }): unknown {
  const imageId = spdxId(`image-${opts.imageName}`);
  const files = opts.entries
    .filter((e): e is Extract<LayerEntry, { type: 'file' }> => e.type === 'file')
    .map((e) => e)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const fileId = new Map(files.map((f) => [f.path.replace(/^\/+/, ''), spdxId(`file-${f.path}`)]));
  const packages = [
    {
      SPDXID: imageId,
      name: opts.imageName,
      versionInfo: opts.version,
      downloadLocation: 'NOASSERTION',
      primaryPackagePurpose: 'CONTAINER',
      checksums: [{ algorithm: 'SHA256', checksumValue: opts.manifestDigest.replace(/^sha256:/, '') }],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      filesAnalyzed: false,
    },
    ...opts.components.map((c) => ({
      SPDXID: spdxId(`component-${c.id}`),
      name: c.name,
      versionInfo: c.version,
      supplier: c.supplier,
      downloadLocation: 'NOASSERTION',
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: /^[A-Za-z0-9.+-]+( (OR|AND) [A-Za-z0-9.+-]+)*$/.test(c.license) ? c.license : 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      filesAnalyzed: false,
      ...(c.purl === undefined ? {} : { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: c.purl }] }),
    })),
  ];
  const relationships = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
    ...opts.components.map((c) => ({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: spdxId(`component-${c.id}`) })),
    ...opts.components.flatMap((c) =>
      c.files.filter((f) => fileId.has(f)).map((f) => ({ spdxElementId: spdxId(`component-${c.id}`), relationshipType: 'CONTAINS', relatedSpdxElement: fileId.get(f) as string })),
    ),
  ];
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${opts.imageName}-${opts.version}`,
    documentNamespace: `https://spdx.org/spdxdocs/${opts.imageName}-${opts.version}-${opts.manifestDigest.replace(/^sha256:/, '')}`,
    creationInfo: { created: EPOCH, creators: ['Tool: shadowplane-deploy-build'] },
    packages,
    files: files.map((f) => ({
      SPDXID: fileId.get(f.path) as string,
      fileName: `./${f.path}`,
      checksums: [{ algorithm: 'SHA256', checksumValue: sha256Hex(f.data) }],
      licenseConcluded: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
    })),
    relationships,
  };
}
