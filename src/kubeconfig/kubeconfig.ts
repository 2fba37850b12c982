/**
 * The dedicated kubeconfig: the proxy's verified serving certificate pinned as the only
 * certificate authority, the user's client certificate and key, and (forward-token mode)
 * the upstream token. Rendered from kubeconfig-templates/kubeconfig.yaml.
 */
import type { VerifiedProxy } from './verify-proxy.ts';
import { renderTemplateFile, verificationValues } from './render.ts';

export interface KubeconfigInput {
  readonly server: string;
  readonly certificatePem: string;
  readonly tlsServerName: string | undefined;
  readonly context: string;
  readonly namespace: string | undefined;
  readonly userName: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  readonly token: string | undefined;
  readonly verified: VerifiedProxy;
  readonly manifestDigestHex: string;
  readonly now?: Date;
}

export function renderKubeconfig(input: KubeconfigInput): string {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return renderTemplateFile('kubeconfig.yaml', {
    ...verificationValues(input.verified, input.manifestDigestHex, input.now),
    clusterName: input.context,
    server: input.server,
    caData: b64(input.certificatePem),
    tlsServerName: input.tlsServerName,
    userName: `${input.context}-${input.userName}`,
    clientCertificateData: b64(input.clientCertPem),
    clientKeyData: b64(input.clientKeyPem),
    token: input.token,
    contextName: input.context,
    namespace: input.namespace,
  });
}
