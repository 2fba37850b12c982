/**
 * `shadowplane crl fetch --configmap NS/NAME` against the API server stand-in, as a CronJob
 * runs it with a service account that may only get, update and create ConfigMaps in its
 * namespace: the ConfigMap is created, then replaced only when a CRL changed, keeps its
 * other keys and fields, refuses a concurrent change, carries earlier CRLs forward when a
 * fetch fails, and cannot be used to hold back a newer CRL with a forged one.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigMapRef, publishCrls, readPublishedCrls, type ApiAccess } from '../../../src/attestation/crl-configmap.ts';
import { fetchVendorCrls, seedCrlFile, writeCrlFile, type FetchedCrl } from '../../../src/attestation/crl-fetch.ts';
import { createSimulatedChain, type SimulatedChain } from '../../../src/attestation/simulated.ts';
import { buildCrl } from '../../../src/attestation/x509-build.ts';
import { parseCertificate } from '../../../src/attestation/x509.ts';
import { startFakeApiServer, type FakeApiServer } from '../../support/fake-apiserver/index.ts';
import { startVendorStandIn, type VendorStandIn } from '../../support/vendor-stand-in.ts';

const execFileAsync = promisify(execFile);
const HOUR = 3_600_000;
const NS = 'shadowplane';
const REF = { namespace: NS, name: 'shadowplane-crls' };
const CM_PATH = `/api/v1/namespaces/${NS}/configmaps/shadowplane-crls`;
const REFRESH_USER = 'system:serviceaccount:shadowplane:crl-refresh';

describe('crl fetch --configmap', () => {
  let api: FakeApiServer;
  let kds: VendorStandIn;
  let kdsUrl: string;
  const served = new Map<string, Buffer>();
  let milan: SimulatedChain;
  let forger: SimulatedChain;
  let dir: string;
  let access: ApiAccess;
  let unauthorised: ApiAccess;

  const arkCrl = (chain: SimulatedChain, thisUpdate: Date): Buffer =>
    buildCrl({
      issuer: parseCertificate(chain.ark.der, 'ARK').subject,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + 7 * 24 * HOUR),
      revoked: [],
      signWith: { key: chain.ark.key, alg: 'rsa-pss-sha384' },
    });
  const fetchAmd = async (): Promise<Extract<FetchedCrl, { ok: true }>[]> => {
    const results = await fetchVendorCrls({ amd: ['Milan'], intel: false, kdsUrl, amdArks: { Milan: parseCertificate(milan.ark.der, 'ARK') } });
    return results.filter((r): r is Extract<FetchedCrl, { ok: true }> => r.ok);
  };
  /** A cluster admin's request, as an operator with kubectl would make it. */
  const admin = (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = httpsRequest(new URL(path, api.url), { method, ca: api.caPem, headers: { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(payload);
    });
  const stored = (): Record<string, string> => {
    const cm = api.cluster.store.get('configmaps', NS, 'shadowplane-crls')?.object as { binaryData?: Record<string, string> } | undefined;
    return { ...(cm?.binaryData ?? {}) };
  };

  beforeAll(async () => {
    [milan, forger] = await Promise.all([createSimulatedChain({ product: 'Milan', rsaBits: 2048 }), createSimulatedChain({ product: 'Milan', rsaBits: 2048 })]);
    api = await startFakeApiServer({
      tokens: { 'crl-refresh-token': { user: REFRESH_USER, groups: ['system:serviceaccounts'] }, 'nobody-token': { user: 'nobody', groups: [] } },
      // What deploy/kustomize/components/crl-refresh grants: get, update and create ConfigMaps in its namespace.
      authorization: { [REFRESH_USER]: [{ verbs: ['get', 'update', 'create'], resources: ['configmaps'], namespaces: [NS] }], nobody: [{ verbs: ['get'], resources: ['pods'] }] },
    });
    api.createNamespace(NS);
    kds = await startVendorStandIn((req, res) => {
      const body = served.get(req.url ?? '');
      res.writeHead(body === undefined ? 404 : 200);
      res.end(body ?? 'not found');
    });
    kdsUrl = kds.base;
    dir = mkdtempSync(join(tmpdir(), 'sp-crl-cm-'));
    writeFileSync(join(dir, 'token'), 'crl-refresh-token\n');
    writeFileSync(join(dir, 'nobody'), 'nobody-token');
    access = { server: api.url, ca: Buffer.from(api.caPem), tokenFile: join(dir, 'token') };
    unauthorised = { ...access, tokenFile: join(dir, 'nobody') };
  }, 60_000);

  afterAll(async () => {
    kds.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the ConfigMap, replaces it only when a CRL changed, and keeps its other keys and fields', async () => {
    const out = mkdtempSync(join(dir, 'out-'));
    const first = arkCrl(milan, new Date(Date.now() - 2 * HOUR));
    served.set('/vcek/v1/Milan/crl', first);
    served.set('/vlek/v1/Milan/crl', first);
    const none = await readPublishedCrls(access, REF);
    expect(none.exists).toBe(false);
    const fetched = await fetchAmd();
    expect(fetched).toHaveLength(2);
    for (const f of fetched) writeCrlFile(out, f);
    const files = new Map(fetched.map((f) => [f.file, readFileSync(join(out, f.file))]));
    expect(await publishCrls(access, REF, none, files)).toBe(true);
    expect(Object.keys(stored()).sort()).toEqual(['amd-milan-vcek.crl', 'amd-milan-vlek.crl']);
    expect(Buffer.from(stored()['amd-milan-vcek.crl']!, 'base64').equals(first)).toBe(true);

    // The same CRLs again: nothing is written.
    const writesBefore = api.requests.filter((r) => r.method === 'PUT' || r.method === 'POST').length;
    expect(await publishCrls(access, REF, await readPublishedCrls(access, REF), files)).toBe(false);
    expect(api.requests.filter((r) => r.method === 'PUT' || r.method === 'POST').length).toBe(writesBefore);

    // An operator's label, a data key and another binary key survive a refresh.
    const current = (await admin('GET', CM_PATH)).json as { metadata: Record<string, unknown>; binaryData: Record<string, string> };
    current.metadata['labels'] = { team: 'platform' };
    const withExtras = { ...current, data: { README: 'CRLs for shadowplane' }, binaryData: { ...current.binaryData, 'custom.der': Buffer.from('x').toString('base64') } };
    expect((await admin('PUT', CM_PATH, withExtras)).status).toBe(200);
    const newer = arkCrl(milan, new Date(Date.now() - HOUR));
    served.set('/vcek/v1/Milan/crl', newer);
    const previous = await readPublishedCrls(access, REF);
    for (const f of await fetchAmd()) expect(writeCrlFile(out, f)).toBe(f.file === 'amd-milan-vcek.crl' ? 'written' : 'unchanged');
    expect(await publishCrls(access, REF, previous, new Map([['amd-milan-vcek.crl', readFileSync(join(out, 'amd-milan-vcek.crl'))]]))).toBe(true);
    const after = (await admin('GET', CM_PATH)).json as { metadata: { labels?: Record<string, string> }; data?: Record<string, string>; binaryData: Record<string, string> };
    expect(after.metadata.labels).toEqual({ team: 'platform' });
    expect(after.data).toEqual({ README: 'CRLs for shadowplane' });
    expect(Object.keys(after.binaryData).sort()).toEqual(['amd-milan-vcek.crl', 'amd-milan-vlek.crl', 'custom.der']);
    expect(Buffer.from(after.binaryData['amd-milan-vcek.crl']!, 'base64').equals(newer)).toBe(true);
  });

  it('refuses to overwrite a change made after it read the ConfigMap (HTTP 409), and says what a service account without rights lacks', async () => {
    const previous = await readPublishedCrls(access, REF);
    const current = (await admin('GET', CM_PATH)).json;
    expect((await admin('PUT', CM_PATH, { ...current, data: { README: 'changed meanwhile' } })).status).toBe(200);
    const err = await publishCrls(access, REF, previous, new Map([['amd-milan-vcek.crl', arkCrl(milan, new Date(Date.now() - HOUR / 2))]])).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('changed while CRLs were fetched (HTTP 409)');
    const denied = await readPublishedCrls(unauthorised, REF).catch((e: unknown) => e as Error & { code: string });
    expect(denied).toMatchObject({ code: 'SP_FORBIDDEN' });
    expect((denied as Error).message).toContain('needs get, update (and create) on this ConfigMap');
  });

  it('a forged CRL that looks newer, put into the ConfigMap, does not hold back the genuine one', async () => {
    const out = mkdtempSync(join(dir, 'forged-'));
    // Same issuer name (every simulated Milan ARK has it), another key, a later thisUpdate.
    const forged = arkCrl(forger, new Date(Date.now() - HOUR / 4));
    const current = (await admin('GET', CM_PATH)).json as { binaryData: Record<string, string> };
    expect((await admin('PUT', CM_PATH, { ...current, binaryData: { ...current.binaryData, 'amd-milan-vcek.crl': forged.toString('base64') } })).status).toBe(200);
    const previous = await readPublishedCrls(access, REF);
    for (const [key, crl] of previous.crls) seedCrlFile(out, key, crl.der);
    expect(readFileSync(join(out, 'amd-milan-vcek.crl')).equals(forged)).toBe(true);
    const genuine = arkCrl(milan, new Date(Date.now() - HOUR / 2));
    served.set('/vcek/v1/Milan/crl', genuine);
    const vcek = (await fetchAmd()).find((f) => f.file === 'amd-milan-vcek.crl')!;
    expect(writeCrlFile(out, vcek)).toBe('written');
    expect(readFileSync(join(out, 'amd-milan-vcek.crl')).equals(genuine)).toBe(true);
  });

  it('the command carries the ConfigMap forward when fetching fails, exits 1, and checks its options', async () => {
    const out = mkdtempSync(join(dir, 'cli-'));
    const account = mkdtempSync(join(dir, 'sa-'));
    writeFileSync(join(account, 'token'), 'crl-refresh-token');
    writeFileSync(join(account, 'ca.crt'), api.caPem);
    const before = stored();
    const cli = join(import.meta.dirname, '../../../src/cli/main.ts');
    const run = (args: readonly string[]) =>
      execFileAsync(process.execPath, [cli, 'crl', 'fetch', ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    // The real AMD ARK did not sign the stand-in's CRLs: every fetch fails, what was published stays.
    const r = await run(['--out', out, '--amd', 'Milan', '--kds-url', kdsUrl, '--configmap', `${NS}/shadowplane-crls`, '--api-server', api.url, '--in-cluster-dir', account]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED  amd-milan-vcek.crl');
    expect(r.stdout).toContain('from    ConfigMap shadowplane/shadowplane-crls: amd-milan-vcek.crl');
    expect(r.stdout).toContain('same    ConfigMap shadowplane/shadowplane-crls');
    expect(stored()).toEqual(before);
    expect(readFileSync(join(out, 'amd-milan-vlek.crl')).equals(Buffer.from(before['amd-milan-vlek.crl']!, 'base64'))).toBe(true);
    // Options.
    expect((await run(['--out', out, '--amd', 'Milan', '--configmap', 'not-a-ref'])).stderr).toContain('--configmap must be NAMESPACE/NAME');
    expect((await run(['--out', out, '--amd', 'Milan', '--configmap', `${NS}/x`])).stderr).toContain('--configmap outside a pod needs --api-server');
    expect(parseConfigMapRef('a/b', 'x')).toEqual({ namespace: 'a', name: 'b' });
  });
});
