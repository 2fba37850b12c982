/** `shadowplane manifest digest|check FILE`: validate a manifest and print its digest. */
import { loadManifest } from '../config/manifest.ts';
import { ShadowplaneError } from '../errors.ts';

export const MANIFEST_USAGE = `shadowplane manifest digest FILE   print sha256:<digest> (what the proxy's attestation binds)
shadowplane manifest check FILE    validate FILE and summarise it`;

export function runManifestCommand(argv: readonly string[]): Promise<number> {
  const [verb, file, ...extra] = argv;
  if (verb === '--help') {
    process.stdout.write(`${MANIFEST_USAGE}\n`);
    return Promise.resolve(0);
  }
  if ((verb !== 'digest' && verb !== 'check') || file === undefined || extra.length > 0) {
    throw new ShadowplaneError('SP_USAGE', MANIFEST_USAGE);
  }
  const m = loadManifest(file);
  if (verb === 'digest') {
    process.stdout.write(`sha256:${m.digestHex}\n`);
  } else {
    process.stdout.write(
      `manifest ${m.name} is valid\n  digest        sha256:${m.digestHex}\n  confidential  ${m.confidential.map((c) => `${c.namespace}/{${c.pods.join(',')}}`).join(' ')}\n` +
        `  workloads     ${m.workloads.length}\n  users         ${m.users.length}\n  upstream      ${m.upstream.server} (${m.upstream.auth})\n`,
    );
  }
  return Promise.resolve(0);
}
