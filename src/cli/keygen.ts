/**
 * `shadowplane keygen --name NAME [--out-dir DIR]`: a user key and client certificate for
 * the dedicated kubeconfig, and the manifest snippet that admits the user.
 */
import { createPublicKey } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ShadowplaneError } from '../errors.ts';
import { createSelfSigned } from '../tls/certificates.ts';
import { helpAsked, parseFlags } from '../config/flags.ts';
import { writeOutputFile } from '../config/output-file.ts';

export const KEYGEN_USAGE = `shadowplane keygen --name NAME [--group GROUP]... [--out-dir DIR] [--days N] [--force]

Makes NAME.key (mode 0600), NAME.crt and NAME.pub.pem in DIR (default: .) and prints
the manifest entry for the user. Give the public key to the manifest's owner; keep the
key. Pass --client-cert NAME.crt --client-key NAME.key to \`shadowplane verify\`.

  --name NAME      1-128 letters, digits, ".", "_", "@" and "-"; the user name in the manifest
  --group GROUP    a group of the user (repeatable; default none)
  --out-dir DIR    where to write (default .; created when missing)
  --days N         certificate validity, 1-3650 (default 365)
  --force          replace an existing NAME.key and NAME.crt (default: refuse, since a
                   manifest may already trust that key)`;

export async function runKeygen(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  if (helpAsked(argv)) {
    out.write(`${KEYGEN_USAGE}\n`);
    return 0;
  }
  const values = parseFlags(argv, { name: { type: 'string' }, group: { type: 'string', multiple: true }, 'out-dir': { type: 'string' }, days: { type: 'string' }, force: { type: 'boolean' } });
  const name = values.name;
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) {
    throw new ShadowplaneError('SP_USAGE', '--name must be 1-128 characters of letters, digits, ".", "_", "@" and "-"');
  }
  const days = Number(values.days ?? 365);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ShadowplaneError('SP_USAGE', '--days must be between 1 and 3650');
  const dir = values['out-dir'] ?? '.';
  const force = values.force ?? false;
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  // A manifest may already trust the existing key: replacing it locks its user out until the manifest changes.
  const present = [keyPath, certPath].filter(exists);
  if (present.length > 0 && !force) {
    const [verb, pronoun] = present.length > 1 ? ['exist', 'them'] : ['exists', 'it'];
    throw new ShadowplaneError('SP_USAGE', `${present.join(' and ')} already ${verb}: keep using ${pronoun}, or pass --force to replace the key and certificate (then give the new public key to the manifest's owner)`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `cannot create --out-dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const creds = await createSelfSigned({ commonName: name, organizations: values.group ?? [], validityMs: days * 86_400_000, usage: 'client' });
  const publicKeyPem = createPublicKey(creds.certPem).export({ type: 'spki', format: 'pem' }).toString();
  try {
    // Without --force, linked into place: a key that appeared since the check above is not replaced either.
    writeOutputFile(keyPath, creds.keyPem, { mode: 0o600, exclusive: !force });
    writeOutputFile(certPath, creds.certPem, { mode: 0o644, exclusive: !force });
    writeOutputFile(join(dir, `${name}.pub.pem`), publicKeyPem, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ShadowplaneError('SP_USAGE', `cannot write the key and certificate into --out-dir ${dir}: ${code}`, { cause: err });
  }
  const entry = { name, groups: values.group ?? [], publicKey: publicKeyPem, permissions: [{ namespaces: ['*'], verbs: ['exec', 'attach', 'logs', 'portforward'] }] };
  out.write(`# wrote ${keyPath}, ${name}.crt and ${name}.pub.pem (key sha256:${creds.spkiSha256})\n`);
  out.write('# manifest entry (under users:), adjust the permissions:\n');
  out.write(stringify([entry]));
  return 0;
}

/** True when `path` names anything, a dangling symbolic link included. */
function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
