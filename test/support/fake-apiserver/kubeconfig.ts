/**
 * A kubeconfig for the stand-in, for kubectl in tests: the serving CA inline, and either
 * a bearer token or a client certificate.
 */
import { stringify } from 'yaml';

export type KubeconfigCredential =
  | { readonly token: string }
  | { readonly certPem: string; readonly keyPem: string };

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function kubeconfigYaml(o: { server: string; caPem: string; credential: KubeconfigCredential; namespace?: string }): string {
  const user = 'token' in o.credential ? { token: o.credential.token } : { 'client-certificate-data': b64(o.credential.certPem), 'client-key-data': b64(o.credential.keyPem) };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: o.server, 'certificate-authority-data': b64(o.caPem) } }],
    users: [{ name: 'fake-user', user }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', namespace: o.namespace ?? 'default' } }],
    'current-context': 'fake',
    preferences: {},
  });
}
