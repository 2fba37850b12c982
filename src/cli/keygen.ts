/**
 * `shadowplane keygen --name NAME [--out-dir DIR]`: a user key and client certificate for
 * the dedicated kubeconfig, and the manifest snippet that admits the user.
 */
import { createPublicKey } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ShadowplaneError } from '../errors.ts';
import { createSelfSigned } from '../tls/certificates.ts';
import { parseFlags } from '../config/flags.ts';

export const KEYGEN_USAGE = `shadowplane keygen --name NAME [--group GROUP]... [--out-dir DIR] [--days N]

Makes NAME.key (mode 0600), NAME.crt and NAME.pub.pem in DIR (default: .) and prints
the manifest entry for the user. Give the public key to the manifest's owner; keep the
key. Pass --client-cert NAME.crt --client-key NAME.key to \`shadowplane verify\`.`;

export async function runKeygen(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parseFlags(argv, { name: { type: 'string' }, group: { type: 'string', multiple: true }, 'out-dir': { type: 'string' }, days: { type: 'string' } });
  const name = values.name;
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) {
    throw new ShadowplaneError('SP_USAGE', '--name must be 1-128 characters of letters, digits, ".", "_", "@" and "-"');
  }
  const days = Number(values.days ?? 365);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ShadowplaneError('SP_USAGE', '--days must be between 1 and 3650');
  const dir = values['out-dir'] ?? '.';
  mkdirSync(dir, { recursive: true });
  const creds = await createSelfSigned({ commonName: name, organizations: values.group ?? [], validityMs: days * 86_400_000, usage: 'client' });
  const publicKeyPem = createPublicKey(creds.certPem).export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, `${name}.key`), creds.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.crt`), creds.certPem, { mode: 0o644 });
  writeFileSync(join(dir, `${name}.pub.pem`), publicKeyPem, { mode: 0o644 });
  const entry = { name, groups: values.group ?? [], publicKey: publicKeyPem, permissions: [{ namespaces: ['*'], verbs: ['exec', 'attach', 'logs', 'portforward'] }] };
  out.write(`# wrote ${join(dir, `${name}.key`)}, ${name}.crt and ${name}.pub.pem (key sha256:${creds.spkiSha256})\n`);
  out.write('# manifest entry (under users:), adjust the permissions:\n');
  out.write(stringify([entry]));
  return 0;
}
