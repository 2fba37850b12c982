/**
 * `shadowplane manifest digest|check FILE`: validate a manifest and print its digest;
 * `shadowplane manifest sign`: the owner's signature of it (src/config/manifest-signature.ts).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { FileRefused, readBoundedFile } from '../config/bounded-file.ts';
import { helpAsked, parseFlags } from '../config/flags.ts';
import { loadManifest } from '../config/manifest.ts';
import { signManifest, spkiSha256 } from '../config/manifest-signature.ts';
import { writeOutputFile } from '../config/output-file.ts';
import { ShadowplaneError } from '../errors.ts';

export const MANIFEST_USAGE = `shadowplane manifest digest FILE   print sha256:<digest> (what the proxy's attestation binds)
shadowplane manifest check FILE    validate FILE and summarise it
shadowplane manifest sign --key OWNER.key --serial N [--valid-days D] --out SIG FILE
                                   the owner's signature of FILE, for agents that pin the
                                   owner's public key (inject --manifest-signer); give SIG to
                                   the proxy (--manifest-signature). OWNER.key: a PKCS#8 PEM
                                   Ed25519 or ECDSA P-256/P-384 private key, e.g.
                                   openssl genpkey -algorithm ed25519 -out OWNER.key
                                   openssl pkey -in OWNER.key -pubout -out OWNER.pub.pem
                                   --serial N   0..2147483647; raise it with each manifest so
                                                agents can retire older ones (inject
                                                --minimum-manifest-serial)
                                   --valid-days D  the signature expires after D days
                                                (default: it does not)`;

export async function runManifestCommand(argv: readonly string[]): Promise<number> {
  const [verb, file, ...extra] = argv;
  // `manifest --help`, and each verb's own (`manifest sign --help`): the usage, on stdout.
  if (helpAsked(argv)) {
    process.stdout.write(`${MANIFEST_USAGE}\n`);
    return 0;
  }
  if (verb === 'sign') return sign(argv.slice(1));
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
  return 0;
}

async function sign(argv: readonly string[]): Promise<number> {
  // The manifest is the last argument; everything before it is flags.
  const file = argv.at(-1);
  if (file === undefined || file.startsWith('--')) throw new ShadowplaneError('SP_USAGE', MANIFEST_USAGE);
  const values = parseFlags(argv.slice(0, -1), { key: { type: 'string' }, serial: { type: 'string' }, 'valid-days': { type: 'string' }, out: { type: 'string' } });
  if (values.key === undefined || values.serial === undefined || values.out === undefined) throw new ShadowplaneError('SP_USAGE', 'manifest sign needs --key, --serial and --out');
  if (!/^[0-9]{1,10}$/.test(values.serial) || Number(values.serial) > 2 ** 31 - 1) throw new ShadowplaneError('SP_USAGE', '--serial must be 0..2147483647');
  let notAfter: Date | undefined;
  if (values['valid-days'] !== undefined) {
    const days = Number(values['valid-days']);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ShadowplaneError('SP_USAGE', '--valid-days must be 1..3650');
    notAfter = new Date(Date.now() + days * 86_400_000);
  }
  const manifest = loadManifest(file);
  const key = readPrivateKey(values.key);
  const jws = await signManifest(manifest, key, { serial: Number(values.serial), ...(notAfter === undefined ? {} : { notAfter }) });
  try {
    writeOutputFile(values.out, `${jws}\n`, { mode: 0o644 });
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `cannot write --out ${values.out}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  process.stdout.write(
    `signed manifest ${manifest.name} sha256:${manifest.digestHex}\n  serial        ${values.serial}\n  expires       ${notAfter?.toISOString() ?? 'never'}\n` +
      `  owner key     sha256:${spkiSha256(key)} (SPKI)\n  signature     ${values.out}\n`,
  );
  return 0;
}

function readPrivateKey(path: string): KeyObject {
  let pem: Buffer;
  try {
    pem = readBoundedFile(path, 16 * 1024);
  } catch (err) {
    if (err instanceof FileRefused) throw new ShadowplaneError('SP_USAGE', `--key ${path}: ${err.detail}`);
    throw new ShadowplaneError('SP_USAGE', `cannot read --key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return createPrivateKey(pem);
  } catch {
    throw new ShadowplaneError('SP_USAGE', '--key is not a PEM private key');
  }
}
