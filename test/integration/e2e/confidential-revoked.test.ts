/**
 * Revocation on the proxy ↔ agent channel, end to end: the proxy runs as its own
 * `shadowplane proxy --crl FILE [--require-crls]` process and refuses, while attesting
 * it, an agent whose chain a CRL it holds revokes. The exec then reaches neither the
 * agent nor the API server stand-in, nothing of it is logged, and real kubectl gets a
 * Status naming the reason.
 *
 * Two simulated platforms whose CA keys the test keeps (support/simulated-platform.ts),
 * one agent on each, both accepted by the manifest's reference values:
 * - covered (Milan): the CRL file holds a current CRL signed by its ARK. Its ASK, the
 *   VCEK's issuer, is revoked in one file and not in the other, which lists another
 *   serial: the control, so the CRL's content is what refuses. (AMD-shaped chains cannot
 *   revoke a VCEK by CRL: the ASK has no cRLSign; docs/attestation.md, revocation.)
 * - uncovered (Genoa): no CRL from its ARK is configured: served by default, refused
 *   with `--require-crls`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, CONFIDENTIAL_NS, type Bed } from '../../support/bed.ts';
import { runKubectl, type KubectlHome, type KubectlResult, type KubectlVersion } from '../../support/kubectl.ts';
import { keptSimulatedPlatform, type KeptPlatform } from '../../support/simulated-platform.ts';

const PLATFORMS = {
  covered: { product: 'Milan', what: 'the agent whose ARK the configured CRL comes from' },
  uncovered: { product: 'Genoa', what: 'an agent whose ARK has no configured CRL' },
} as const;
type Platform = keyof typeof PLATFORMS;
type Refusal = 'SP_ATTEST_CERT_REVOKED' | 'SP_ATTEST_REVOCATION_UNKNOWN';
type Outcome = 'served' | Refusal;

const dir = mkdtempSync(join(tmpdir(), 'sp-revoked-'));
const files = { revokesAsk: join(dir, 'revokes-ask.crl.pem'), listsOther: join(dir, 'lists-other.crl.pem') };
let platforms: Record<Platform, KeptPlatform>;

beforeAll(async () => {
  const [covered, uncovered] = await Promise.all((['covered', 'uncovered'] as const).map((p) => keptSimulatedPlatform(join(dir, p), PLATFORMS[p].product)));
  platforms = { covered: covered!, uncovered: uncovered! };
  const other = randomBytes(16).toString('hex');
  expect(other).not.toBe(platforms.covered.askSerial);
  writeFileSync(files.revokesAsk, platforms.covered.arkCrlPem([platforms.covered.askSerial]));
  writeFileSync(files.listsOther, platforms.covered.arkCrlPem([other]));
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROWS: { label: string; file: keyof typeof files; requireCrls: boolean; expected: Record<Platform, Outcome> }[] = [
  { label: '--crl FILE revoking the ASK', file: 'revokesAsk', requireCrls: false, expected: { covered: 'SP_ATTEST_CERT_REVOKED', uncovered: 'served' } },
  { label: '--crl FILE listing another serial (the control)', file: 'listsOther', requireCrls: false, expected: { covered: 'served', uncovered: 'served' } },
  { label: '--crl FILE listing another serial and --require-crls', file: 'listsOther', requireCrls: true, expected: { covered: 'served', uncovered: 'SP_ATTEST_REVOCATION_UNKNOWN' } },
];

const KUBECTLS: [string, KubectlVersion][] = [
  ['1.27 (SPDY)', '1.27'],
  ['1.33 (WebSocket)', '1.33'],
];

/**
 * One pod per platform and kubectl version, so that every run attests its agent afresh:
 * the proxy remembers a failed dial for two seconds and would answer a second run from that.
 */
const podName = (p: Platform, version: KubectlVersion): string => `conf-${p}-${version.replace('.', '')}`;

describe.each(ROWS)('a proxy started with $label', ({ file, requireCrls, expected }) => {
  let bed: Bed;
  let home: KubectlHome;

  beforeAll(async () => {
    bed = await createBed({
      proxyProcess: true,
      proxyCrls: { files: [files[file]], requireCrls },
      customizeManifest: (doc) => {
        doc.workloads[0]!.referenceValues = (Object.keys(PLATFORMS) as Platform[]).map((p) => platforms[p].referenceEntry(`simulated-${p}`));
      },
    });
    home = await bed.verifiedHome(bed.users.alice);
    await Promise.all(
      (Object.keys(PLATFORMS) as Platform[]).flatMap((p) =>
        KUBECTLS.map(([, version]) =>
          bed.startConfidentialPod({ name: podName(p, version), command: ['sleep', '3600'], agentConfig: { attestation: { tee: 'simulated', simulatedDir: platforms[p].dir } } }),
        ),
      ),
    );
  }, 90_000);

  afterAll(async () => {
    await bed?.close();
  });

  function expectNoLeak(secret: string): void {
    expect(bed.leaks(secret)).toEqual({ apiServer: false, proxyLog: false, agentLogs: false });
  }

  describe.each(KUBECTLS)('kubectl %s', (_label, version) => {
    for (const p of Object.keys(PLATFORMS) as Platform[]) {
      const outcome = expected[p];
      const { what } = PLATFORMS[p];
      const pod = podName(p, version);
      // The secret travels in the exec request itself: kubectl puts the command in the URL query.
      const execEcho = (secret: string): Promise<KubectlResult> => runKubectl(version, home, ['-n', CONFIDENTIAL_NS, 'exec', pod, '--', 'sh', '-c', `echo ${secret}`], { timeoutMs: 30_000 });

      if (outcome === 'served') {
        it(`serves exec on ${what}`, async () => {
          const secret = `canary-${randomBytes(12).toString('hex')}`;
          const r = await execEcho(secret);
          expect(r.stderr).toBe('');
          expect(r.code).toBe(0);
          expect(r.stdout.toString()).toBe(`${secret}\n`);
          expectNoLeak(secret);
        });
      } else {
        it(`refuses ${what} with ${outcome}, and the exec reaches neither the agent, the API server nor a log`, async () => {
          const secret = `canary-${randomBytes(12).toString('hex')}`;
          const r = await execEcho(secret);
          expect(r.timedOut).toBe(false);
          expect(r.code).not.toBe(0);
          expect(r.stdout.length).toBe(0);
          // The Status: the channel's code, and the verifier's code as its detail.
          expect(r.stderr).toMatch(new RegExp(`SP_AGENT_ATTESTATION_FAILED: .*${outcome}`));
          // No fallback: the stand-in never saw a request for the pod's subresources.
          expect(bed.api.requests.filter((q) => q.path.startsWith(`/api/v1/namespaces/${CONFIDENTIAL_NS}/pods/${pod}/`))).toEqual([]);
          expectNoLeak(secret);
          // The proxy dialled this agent and refused it while attesting.
          const lines = bed.proxyLog.text().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
          const failures = lines.filter((l) => l.pod === pod && l.msg === 'agent connection failed');
          expect(failures.map((l) => l.code)).toEqual(['SP_AGENT_ATTESTATION_FAILED']);
          // Its log says why, as precisely as kubectl is told.
          expect(failures[0]!.detail).toEqual(expect.stringContaining(outcome));
        });
      }
    }
  });
});
