import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseManifest, parseManifestText } from '../../../src/config/manifest.ts';
import { isShadowplaneError } from '../../../src/errors.ts';
import { stringify } from 'yaml';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const key2 = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function doc(): Record<string, unknown> {
  return {
    apiVersion: 'shadowplane.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'payments-prod' },
    confidential: [{ namespace: 'payments', pods: ['api-*'] }],
    workloads: [{ name: 'api', namespace: 'payments', pods: ['api-*'], referenceValues: [{ platform: 'simulated', simulatedRootSha256: 'a'.repeat(64), measurements: ['b'.repeat(96)], hostData: ['c'.repeat(64)] }] }],
    users: [
      { name: 'alice', groups: ['payments-devs'], publicKey: key, permissions: [{ namespaces: ['payments'], verbs: ['exec', 'logs'] }] },
      { name: 'bob', publicKey: key2 },
    ],
    upstream: { server: 'https://10.0.0.1:6443', auth: 'impersonate', credential: { source: 'in-cluster' } },
  };
}

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isShadowplaneError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

describe('manifest', () => {
  it('accepts a complete manifest and fills documented defaults', () => {
    const m = parseManifest(doc());
    expect(m.name).toBe('payments-prod');
    expect(m.agent.port).toBe(15443);
    expect(m.users[1]?.groups).toEqual([]);
    expect(m.users[0]?.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.upstream).toMatchObject({ server: 'https://10.0.0.1:6443', auth: 'impersonate', credential: { source: 'in-cluster' } });
    expect(m.confidential[0]?.matches('api-7')).toBe(true);
    expect(m.confidential[0]?.matches('web-7')).toBe(false);
  });

  it('gives the same digest whatever the key order and syntax', () => {
    const a = parseManifest(doc());
    const reordered = Object.fromEntries(Object.entries(doc()).reverse());
    const b = parseManifestText(stringify(reordered, { indent: 4 }));
    const c = parseManifestText(JSON.stringify(doc(), null, 2));
    expect(b.digestHex).toBe(a.digestHex);
    expect(c.digestHex).toBe(a.digestHex);
  });

  it('gives a different digest when any value changes', () => {
    const changed = doc();
    (changed.metadata as { name: string }).name = 'payments-prod2';
    expect(parseManifest(changed).digestHex).not.toBe(parseManifest(doc()).digestHex);
  });

  it('is frozen after validation', () => {
    const m = parseManifest(doc());
    expect(Object.isFrozen(m.users)).toBe(true);
    expect(() => (m.users as unknown[]).push({})).toThrow();
  });

  const bad: [string, (d: Record<string, unknown>) => void, string][] = [
    ['a wrong apiVersion', (d) => (d.apiVersion = 'v1'), 'apiVersion: must be'],
    ['an unknown top-level field', (d) => (d.confidental = []), 'unknown field "confidental"'],
    ['a misspelt nested field', (d) => ((d.confidential as object[])[0] = { namespcae: 'x' }), 'confidential[0]: unknown field "namespcae"'],
    ['an invalid namespace', (d) => ((d.confidential as object[])[0] = { namespace: 'Pay_ments' }), 'confidential[0].namespace: must be a DNS-1123 label'],
    ['an invalid pod pattern', (d) => ((d.confidential as object[])[0] = { namespace: 'p', pods: ['a/b'] }), 'confidential[0].pods[0]: must be a name pattern'],
    ['no users', (d) => (d.users = []), 'users: must not be empty'],
    ['a malformed public key', (d) => ((d.users as { publicKey: string }[])[1]!.publicKey = 'not a key'), 'users[1].publicKey: must be a PEM public key'],
    // Regression: a private key was accepted (its public half derived) and then shipped with the manifest.
    ['a private key', (d) => ((d.users as { publicKey: string }[])[1]!.publicKey = privateKey), 'users[1].publicKey: holds a PRIVATE key'],
    ['a scraper private key', (d) => (d.scrapers = [{ name: 'prom', publicKey: privateKey, namespaces: ['payments'] }]), 'scrapers[0].publicKey: holds a PRIVATE key'],
    ['a duplicate public key', (d) => ((d.users as { publicKey: string }[])[1]!.publicKey = key), 'users[1].publicKey: duplicates users[0].publicKey'],
    ['an unknown verb', (d) => ((d.users as { permissions: unknown }[])[0]!.permissions = [{ namespaces: ['payments'], verbs: ['delete'] }]), 'users[0].permissions[0].verbs[0]: must be one of'],
    ['a plain-http upstream', (d) => ((d.upstream as { server: string }).server = 'http://10.0.0.1'), 'upstream.server: must be an https:// URL'],
    ['impersonation without a proxy credential', (d) => delete (d.upstream as { credential?: unknown }).credential, 'upstream.credential: impersonate mode needs'],
    ['a workload outside the confidential namespaces', (d) => ((d.workloads as { namespace: string }[])[0]!.namespace = 'other'), 'workloads[0].namespace: namespace "other" is not listed'],
    ['a workload without reference values', (d) => delete (d.workloads as { referenceValues?: unknown }[])[0]!.referenceValues, 'workloads[0].referenceValues: is required'],
    ['an agent port out of range', (d) => (d.agent = { port: 70000 }), 'agent.port: must be at most 65535'],
  ];

  it.each(bad)('refuses %s and names the field', (_name, mutate, expected) => {
    const d = doc();
    mutate(d);
    const err = errorOf(() => parseManifest(d));
    expect(err.code).toBe('SP_MANIFEST_INVALID');
    expect(err.message).toContain(expected);
  });

  // Bug (CLI review): prettyErrors was off, so linePos was never set and no line was ever given.
  it('names the line and column of a YAML syntax error and its code, without quoting the source', () => {
    const text = `${stringify(doc())}upstream2:\n  token: hunter2-canary\n   bad: indent\n`;
    const line = text.split('\n').findIndex((l) => l.includes('hunter2')) + 1;
    const err = errorOf(() => parseManifestText(text, 'm.yaml'));
    expect(err.code).toBe('SP_MANIFEST_UNREADABLE');
    expect(err.message).toMatch(new RegExp(`m\\.yaml: not valid YAML/JSON at line ${line}, column \\d+: [A-Z_]+$`));
    expect(err.message).not.toContain('hunter2');
    expect(errorOf(() => parseManifestText('{"apiVersion": "x",\n "kind" "Manifest"}\n', 'm.json')).message).toMatch(/m\.json: not valid YAML\/JSON at line 2, column 9: MISSING_CHAR$/);
  });

  it('refuses YAML alias bombs before expanding them', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 20; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    const err = errorOf(() => parseManifestText(lines.join('\n')));
    expect(err.code).toBe('SP_MANIFEST_UNREADABLE');
  });

  it('refuses oversized and syntactically broken documents with a clear code', () => {
    expect(errorOf(() => parseManifestText('a: ' + 'x'.repeat(1024 * 1024 + 1))).code).toBe('SP_MANIFEST_UNREADABLE');
    expect(errorOf(() => parseManifestText('a: [1, 2')).code).toBe('SP_MANIFEST_UNREADABLE');
    expect(errorOf(() => parseManifestText('a: 1\na: 2')).code).toBe('SP_MANIFEST_UNREADABLE');
    expect(errorOf(() => parseManifestText('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]')).code).toBe('SP_MANIFEST_UNREADABLE');
  });
});
