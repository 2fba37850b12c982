/**
 * The dedicated kubeconfig that `shadowplane verify` hands to a user, rendered from fixed
 * inputs and compared with golden files, then loaded by the real kubectl and by
 * @kubernetes/client-node. Set SHADOWPLANE_UPDATE_GOLDEN=1 to rewrite the golden files.
 */
import { spawnSync } from 'node:child_process';
import type { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { renderKubeconfig, type KubeconfigInput } from '../../../src/kubeconfig/kubeconfig.ts';
import type { VerifiedProxy } from '../../../src/kubeconfig/verify-proxy.ts';
import { kubectlPath } from '../../support/kubectl.ts';

const FIXTURES = new URL('../../fixtures/inject/', import.meta.url);
const UPDATE = process.env['SHADOWPLANE_UPDATE_GOLDEN'] === '1';

const pem = (label: string, body: string): string => `-----BEGIN ${label}-----\n${Buffer.from(body).toString('base64')}\n-----END ${label}-----\n`;

const verified: VerifiedProxy = {
  // Not read when rendering: the PEM below is what gets pinned.
  certificate: undefined as unknown as X509Certificate,
  servingKeySha256: '7c'.repeat(32),
  manifestName: 'payments-prod',
  evidence: {
    platform: 'sev-snp',
    simulated: false,
    reportVersion: 3,
    measurement: '4f2e3a1b9c8d7e6f'.repeat(6),
    hostData: '9b'.repeat(32),
    chipId: undefined,
    reportData: '00'.repeat(64),
    tcb: { bootloader: 10, tee: 0, snp: 23, microcode: 213 },
    policy: '0x0000000000030000',
    referenceName: 'proxy-0.1.0',
    notAfter: '2027-01-01T00:00:00.000Z',
  },
  response: {},
};

const base: KubeconfigInput = {
  server: 'https://shadowplane.payments.example:8443',
  certificatePem: pem('CERTIFICATE', 'fixed proxy serving certificate'),
  tlsServerName: 'shadowplane-proxy.shadowplane.svc',
  context: 'payments-prod',
  namespace: 'payments',
  userName: 'alice',
  clientCertPem: pem('CERTIFICATE', 'fixed client certificate of alice'),
  clientKeyPem: pem('PRIVATE KEY', 'fixed client key of alice'),
  token: undefined,
  verified,
  manifestDigestHex: '2c'.repeat(32),
  now: new Date('2026-01-02T03:04:05.000Z'),
};

const cases: [string, KubeconfigInput][] = [
  ['kubeconfig-impersonate.golden.yaml', base],
  ['kubeconfig-forward-token.golden.yaml', { ...base, tlsServerName: undefined, namespace: undefined, token: 'fixed-upstream-token', verified: { ...verified, evidence: { ...verified.evidence, platform: 'simulated', simulated: true } } }],
];

describe('the dedicated kubeconfig', () => {
  for (const [file, input] of cases) {
    it(`renders ${file} from fixed inputs, and kubectl and client-node load it`, () => {
      const text = renderKubeconfig(input);
      const url = new URL(file, FIXTURES);
      if (UPDATE) writeFileSync(url, text);
      expect(text).toBe(readFileSync(url, 'utf8'));

      const kc = new KubeConfig();
      kc.loadFromString(text);
      expect(kc.getCurrentContext()).toBe('payments-prod');
      expect(kc.getCurrentCluster()?.server).toBe(input.server);
      expect(kc.getCurrentCluster()?.caData).toBe(Buffer.from(input.certificatePem).toString('base64'));
      expect(kc.getCurrentUser()?.token).toBe(input.token);

      const dir = mkdtempSync(join(tmpdir(), 'sp-kubeconfig-'));
      try {
        writeFileSync(join(dir, 'kubeconfig'), text);
        const view = spawnSync(kubectlPath('1.33'), ['config', 'view', '--raw', '-o', 'jsonpath={.contexts[0].context.namespace}|{.clusters[0].cluster.tls-server-name}|{.users[0].name}', '--kubeconfig', join(dir, 'kubeconfig')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: dir }, timeout: 20_000 });
        expect(view.stderr).toBe('');
        expect(view.stdout).toBe(`${input.namespace ?? ''}|${input.tlsServerName ?? ''}|payments-prod-alice`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
