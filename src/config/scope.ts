/**
 * Questions asked of a validated manifest. Every answer comes from the manifest alone
 * (trusted input) and the names in the request path; never from an API server answer.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Manifest, ManifestScraper, ManifestUser, Verb, Workload } from './manifest.ts';

/** True when the manifest declares `namespace` confidential (for any pod pattern). */
export function isConfidentialNamespace(manifest: Manifest, namespace: string): boolean {
  return manifest.confidential.some((c) => c.namespace === namespace);
}

/** True when the manifest declares the pod `namespace/pod` confidential. */
export function isConfidentialPod(manifest: Manifest, namespace: string, pod: string): boolean {
  return manifest.confidential.some((c) => c.namespace === namespace && c.matches(pod));
}

/** The workload whose reference values a pod's agent must attest to, if any. */
export function workloadFor(manifest: Manifest, namespace: string, pod: string): Workload | undefined {
  return manifest.workloads.find((w) => w.namespace === namespace && w.matches(pod));
}

/** The manifest user owning the public key with this SPKI SHA-256 (hex), if any. */
export function userByKey(manifest: Manifest, spkiSha256Hex: string): ManifestUser | undefined {
  return manifest.users.find((u) => u.publicKeySha256 === spkiSha256Hex);
}

/** The manifest scraper with a client certificate whose public key has this SPKI SHA-256 (hex), if any. */
export function scraperByKey(manifest: Manifest, spkiSha256Hex: string): ManifestScraper | undefined {
  return manifest.scrapers.find((s) => s.publicKeySha256 === spkiSha256Hex);
}

/**
 * The manifest scraper whose bearer token this is, if any: its SHA-256 compared in
 * constant time against every entry, without an early exit.
 */
export function scraperByToken(manifest: Manifest, token: string): ManifestScraper | undefined {
  const digest = createHash('sha256').update(token, 'utf8').digest();
  let found: ManifestScraper | undefined;
  for (const s of manifest.scrapers) {
    if (s.tokenSha256 !== undefined && timingSafeEqual(s.tokenSha256, digest) && found === undefined) found = s;
  }
  return found;
}

/**
 * True when `user` may perform `verb` in `namespace`. `*` grants every namespace the
 * manifest declares confidential (the only namespaces where these verbs are served by
 * shadowplane), not arbitrary ones.
 */
export function userMay(manifest: Manifest, user: ManifestUser, verb: Verb, namespace: string): boolean {
  return user.permissions.some(
    (p) => p.verbs.includes(verb) && (p.namespaces.includes(namespace) || (p.namespaces.includes('*') && isConfidentialNamespace(manifest, namespace))),
  );
}
