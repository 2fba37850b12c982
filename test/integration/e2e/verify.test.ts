/**
 * `shadowplane verify` as a user runs it, against the real proxy and against hostile
 * stand-ins for it: every refusal comes with its precise error code and writes no
 * kubeconfig.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { createBed, type Bed } from '../../support/bed.ts';
import { runKubectl } from '../../support/kubectl.ts';

let bed: Bed;

beforeAll(async () => {
  bed = await createBed();
  writeFileSync(join(bed.dir, 'alice.crt'), bed.users.alice.certPem);
  writeFileSync(join(bed.dir, 'alice.key'), bed.users.alice.keyPem);
}, 60_000);

afterAll(async () => {
  await bed?.close();
});

function verifyArgs(over: { server?: string; manifest?: string; reference?: string; out?: string; simulated?: boolean } = {}): string[] {
  return [
    'verify',
    '--server', over.server ?? bed.proxy.url,
    '--manifest', over.manifest ?? bed.manifestPath,
    '--reference-values', over.reference ?? bed.referenceValuesPath,
    '--client-cert', join(bed.dir, 'alice.crt'),
    '--client-key', join(bed.dir, 'alice.key'),
    '--out', over.out ?? join(bed.dir, `kc-${randomBytes(4).toString('hex')}`),
    ...(over.simulated === false ? [] : ['--allow-simulated']),
  ];
}

/** Asks the real proxy for evidence, as anyone on the network can. */
async function attest(url: string, nonce: Buffer): Promise<Record<string, unknown>> {
  const session = http2.connect(url, { rejectUnauthorized: false });
  try {
    const req = session.request({ ':method': 'POST', ':path': '/.well-known/shadowplane/attest', 'content-type': 'application/json' });
    req.end(JSON.stringify({ nonce: nonce.toString('base64') }));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } finally {
    session.close();
  }
}

/** A TLS server with its own key that answers the attestation endpoint as `answer` decides. */
async function impostor(answer: (body: { nonce: string }) => Promise<unknown>): Promise<{ url: string; close: () => Promise<void> }> {
  const cert = await createSelfSigned({ commonName: 'impostor', ipAddresses: ['127.0.0.1'], validityMs: 3600_000, usage: 'server' });
  const server = http2.createSecureServer({ key: cert.keyPem, cert: cert.certPem, allowHTTP1: true });
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void answer(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nonce: string }).then((a) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('shadowplane verify', () => {
  it('verifies the proxy, prints what it checked and writes a kubeconfig pinned to the serving certificate', async () => {
    const out = join(bed.dir, 'kc-good');
    const r = await bed.cli(verifyArgs({ out }));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('SIMULATED');
    expect(r.stderr).toContain('measurement');
    expect(r.stderr).toContain(`sha256:${bed.proxy.servingKeySha256}`);
    const kc = parse(readFileSync(out, 'utf8')) as { clusters: { cluster: { 'certificate-authority-data': string; server: string } }[] };
    expect(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString()).toBe(bed.proxy.servingCertPem);
    const k = await runKubectl('1.33', { dir: bed.dir, kubeconfig: out, dispose: () => undefined }, ['get', 'ns', '-o', 'name']);
    expect(k.code).toBe(0);
  });

  it('refuses simulated evidence without --allow-simulated', async () => {
    const out = join(bed.dir, 'kc-nosim');
    const r = await bed.cli(verifyArgs({ out, simulated: false }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_SIMULATED_REFUSED');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a proxy whose measurement is not among the reference values', async () => {
    const doc = parse(readFileSync(bed.referenceValuesPath, 'utf8')) as { entries: { measurements: string[] }[] };
    doc.entries[0]!.measurements = ['ab'.repeat(48)];
    const reference = join(bed.dir, 'wrong-measurement.yaml');
    writeFileSync(reference, stringify(doc));
    const r = await bed.cli(verifyArgs({ reference }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_MEASUREMENT_MISMATCH');
  });

  it('refuses a proxy that enforces another manifest than the one expected', async () => {
    const doc = parse(readFileSync(bed.manifestPath, 'utf8')) as { metadata: { name: string } };
    doc.metadata.name = 'another-manifest';
    const manifest = join(bed.dir, 'other-manifest.yaml');
    writeFileSync(manifest, stringify(doc));
    const r = await bed.cli(verifyArgs({ manifest }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_MANIFEST_MISMATCH');
  });

  it('with --require-crls, refuses a proxy whose chain has no current CRL anywhere (SP_ATTEST_REVOCATION_UNKNOWN), writing no kubeconfig', async () => {
    const out = join(bed.dir, 'kc-require-crls');
    const r = await bed.cli([...verifyArgs({ out }), '--require-crls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_REVOCATION_UNKNOWN');
    expect(existsSync(out)).toBe(false);
  });

  it('reads --crl files before connecting: a bad one fails with SP_CONFIG_INVALID, a stale one of another issuer is warned about and does not apply', async () => {
    const out = join(bed.dir, 'kc-bad-crl');
    const bad = join(bed.dir, 'bad.crl');
    writeFileSync(bad, 'not a CRL');
    const r = await bed.cli([...verifyArgs({ out, server: 'https://127.0.0.1:1' }), '--crl', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_CONFIG_INVALID');
    expect(r.stderr).toContain(`--crl ${bad}`);
    const intel = join(bed.dir, 'pckcrl.der');
    writeFileSync(intel, readFileSync(new URL('../../fixtures/attestation/tdx/pckcrl', import.meta.url)));
    const ok = await bed.cli([...verifyArgs({ out }), '--crl', intel]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("configured CRL 0 (issuer 'Intel SGX PCK Platform CA') was due for replacement");
    expect(existsSync(out)).toBe(true);
  });

  it('refuses evidence replayed for an earlier nonce', async () => {
    const recorded = await attest(bed.proxy.url, randomBytes(32));
    const replay = await impostor(() => Promise.resolve(recorded));
    try {
      const r = await bed.cli(verifyArgs({ server: replay.url }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SP_ATTEST_NONCE_MISMATCH');
    } finally {
      await replay.close();
    }
  });

  it('refuses fresh evidence relayed from the real proxy over a connection with another key', async () => {
    const relay = await impostor((body) => attest(bed.proxy.url, Buffer.from(body.nonce, 'base64')));
    try {
      const r = await bed.cli(verifyArgs({ server: relay.url }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SP_ATTEST_TLS_BINDING');
    } finally {
      await relay.close();
    }
  });

  it('refuses relayed evidence even when the relay rewrites the key it claims, because the signed report data binds the real key', async () => {
    let relayKey = '';
    const relay = await impostor(async (body) => {
      const answer = await attest(bed.proxy.url, Buffer.from(body.nonce, 'base64'));
      return { ...answer, servingKeySha256: relayKey };
    });
    try {
      // The relay claims its own key, which is what verify sees on this connection.
      const { createHash } = await import('node:crypto');
      const tls = await import('node:tls');
      const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(relay.url).port), rejectUnauthorized: false });
      await new Promise((r) => socket.once('secureConnect', r));
      relayKey = createHash('sha256').update(socket.getPeerX509Certificate()!.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
      socket.destroy();
      const r = await bed.cli(verifyArgs({ server: relay.url }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SP_ATTEST_REPORT_DATA_MISMATCH');
    } finally {
      await relay.close();
    }
  });
});

describe('shadowplane proxy start-up', () => {
  it('stops with SP_CONFIG_INVALID for a --crl file it cannot parse, before anything listens', async () => {
    const bad = join(bed.dir, 'proxy-bad.crl');
    writeFileSync(bad, 'not a CRL');
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--crl', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_CONFIG_INVALID');
    expect(r.stderr).not.toContain('"listen"');
  });

  it('stops with SP_CONFIG_INVALID naming --listen when the address is in use, and exits', async () => {
    const taken = new URL(bed.proxy.url);
    const started = Date.now();
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--listen', `${taken.hostname}:${taken.port}`, '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--allow-simulated-agents'], { timeoutMs: 20_000 });
    // Killed by the timeout, the code would be null.
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stderr).toContain(`shadowplane: SP_CONFIG_INVALID: a configuration value is invalid: --listen ${taken.hostname}:${taken.port}: cannot listen (the address is in use)`);
  });

  it('says when its serving certificate expires, and exits with status 1 when it has', async () => {
    const started = Date.now();
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--allow-simulated-agents', '--serving-cert-validity', '4s'], { timeoutMs: 25_000 });
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; servingCertNotAfter?: string; reason?: string });
    const announced = lines.find((l) => l.msg.startsWith('serving certificate valid until then'));
    expect(Date.parse(announced?.servingCertNotAfter ?? '')).toBeGreaterThan(started);
    expect(lines.some((l) => l.level === 40 && l.msg.includes('expires soon'))).toBe(true);
    expect(lines.some((l) => l.level === 50 && l.msg.includes('has expired'))).toBe(true);
    expect(lines.find((l) => l.msg === 'shutting down')?.reason).toBe('expired');
  });

  it('warns loudly about a workload entry with unboundIdentity and about accepting a real platform without CRLs', async () => {
    const doc = parse(readFileSync(bed.manifestPath, 'utf8')) as { workloads: { referenceValues: Record<string, unknown>[] }[] };
    const { hostData: _pinned, ...rest } = doc.workloads[0]!.referenceValues[0]!;
    const simulated = { ...rest, name: 'open', unboundIdentity: true };
    doc.workloads[0]!.referenceValues = [simulated, { name: 'snp', platform: 'sev-snp', measurements: ['ab'.repeat(48)], hostData: ['cd'.repeat(32)] }];
    const manifest = join(bed.dir, 'unbound-manifest.yaml');
    writeFileSync(manifest, stringify(doc));
    // It starts and keeps running; the warnings are written before it listens.
    const r = await bed.cli(['proxy', '--manifest', manifest, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--allow-simulated-agents'], { timeoutMs: 5000 });
    expect(r.stderr).toContain("reference entry 'open' of manifest workloads[0].referenceValues sets unboundIdentity: hostData not pinned");
    expect(r.stderr).toContain('no CRL source is configured');
    expect(r.stderr).toContain('--crl FILE and --require-crls');
  });
});
