/**
 * `shadowplane verify` as a user runs it, against the real proxy and against hostile
 * stand-ins for it: every refusal comes with its precise error code and writes no
 * kubeconfig.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedIssuer, SIMULATED_DEFAULT_MEASUREMENT } from '../../../src/attestation/index.ts';
import { createLogger } from '../../../src/log.ts';
import { startShadowplaneProxy } from '../../../src/proxy/assemble.ts';
import { createSelfSigned } from '../../../src/tls/certificates.ts';
import { Capture, createBed, type Bed } from '../../support/bed.ts';
import { runKubectl } from '../../support/kubectl.ts';

let bed: Bed;

beforeAll(async () => {
  bed = await createBed();
  writeFileSync(join(bed.dir, 'alice.crt'), bed.users.alice.certPem);
  writeFileSync(join(bed.dir, 'alice.key'), bed.users.alice.keyPem);
  writeFileSync(join(bed.dir, 'bob.key'), bed.users.bob.keyPem);
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

/**
 * Another real proxy for the bed's manifest and simulated platform, with its own serving
 * certificate names and validity (the proxy's --san and --serving-cert-validity).
 */
async function proxyWith(serving: { subjectAltNames: string[]; validityMs: number }): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const running = await startShadowplaneProxy({
    manifest: bed.manifest,
    issuer: createSimulatedIssuer({ dir: bed.simulatedDir, measurement: SIMULATED_DEFAULT_MEASUREMENT }),
    allowSimulatedAgents: true,
    listen: { host: '127.0.0.1', port: 0 },
    subjectAltNames: serving.subjectAltNames,
    servingCertValidityMs: serving.validityMs,
    inClusterDir: join(bed.dir, 'serviceaccount'),
    logger: createLogger({ level: 'warn', destination: new Capture() }),
  });
  return { url: running.url, port: running.port, close: () => running.close() };
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
    expect(r.stderr).toMatch(/valid until {4}\d{4}-\d\d-\d\dT[\d:.]+Z/);
    expect(r.stderr).not.toContain('warning: the proxy\'s serving certificate expires');
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

describe('shadowplane verify: what kubectl will need of the kubeconfig', () => {
  // Bug (review finding 3): `--out FILE` kept an existing FILE's mode (0644) although it
  // then held the client key.
  it('writes --out with mode 0600 even over an existing world-readable file', async () => {
    const out = join(bed.dir, 'kc-existing');
    writeFileSync(out, 'old\n');
    chmodSync(out, 0o644);
    const r = await bed.cli(verifyArgs({ out }));
    expect(r.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const kc = parse(readFileSync(out, 'utf8')) as { users: { user: { 'client-key-data': string } }[] };
    expect(Buffer.from(kc.users[0]!.user['client-key-data'], 'base64').toString()).toBe(bed.users.alice.keyPem);
  });

  // Bug (review finding 8a): `--server 127.0.0.1:8443` failed with "SP_INTERNAL: unexpected TypeError".
  it('refuses a --server without its https:// scheme with SP_USAGE naming the form, before connecting', async () => {
    for (const server of [bed.proxy.url.replace('https://', ''), `localhost:${bed.proxy.port}`, `http://127.0.0.1:${bed.proxy.port}`]) {
      const out = join(bed.dir, 'kc-no-scheme');
      const r = await bed.cli(verifyArgs({ server, out }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('SP_USAGE');
      expect(r.stderr).toContain('https://host:port');
      expect(r.stderr).not.toContain('SP_INTERNAL');
      expect(existsSync(out)).toBe(false);
    }
  });

  // Bug (review finding 8c): a path was accepted and written into the kubeconfig, where kubectl got NotFound.
  it('refuses a --server with a path, query or fragment', async () => {
    for (const server of [`${bed.proxy.url}/foo`, `${bed.proxy.url}/?a=b`, `${bed.proxy.url}#x`, `https://user@127.0.0.1:${bed.proxy.port}`]) {
      const out = join(bed.dir, 'kc-path');
      const r = await bed.cli(verifyArgs({ server, out }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('SP_USAGE');
      expect(r.stderr).toContain('no path, query, fragment');
      expect(existsSync(out)).toBe(false);
    }
  });

  // Bug (review finding 8b): an unreachable proxy was "the upstream API server cannot be reached".
  it('reports a proxy it cannot reach as the shadowplane proxy at --server, not the upstream API server', async () => {
    const r = await bed.cli(verifyArgs({ server: 'https://127.0.0.1:1' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_UNAVAILABLE');
    expect(r.stderr).toContain('the shadowplane proxy at https://127.0.0.1:1 cannot be reached (ECONNREFUSED)');
    expect(r.stderr).not.toContain('upstream');
  });

  // Bug (review finding 8d): a key of another certificate was written; kubectl then failed "private key does not match public key".
  it('refuses a --client-key that is not the key of --client-cert, before connecting', async () => {
    const out = join(bed.dir, 'kc-wrong-key');
    const args = verifyArgs({ out });
    args[args.indexOf('--client-key') + 1] = join(bed.dir, 'bob.key');
    const r = await bed.cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SP_USAGE');
    expect(r.stderr).toContain('is not the key of --client-cert');
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(existsSync(out)).toBe(false);
  });

  // Bug (user review): the key given as --client-cert was accepted (its public half derived) and the
  // kubeconfig written; kubectl then failed "PEM inputs may have been switched".
  it('refuses a private key given as --client-cert, before connecting', async () => {
    const out = join(bed.dir, 'kc-key-as-cert');
    const args = verifyArgs({ out });
    args[args.indexOf('--client-cert') + 1] = join(bed.dir, 'alice.key');
    const r = await bed.cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not a PEM certificate');
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(existsSync(out)).toBe(false);
  });

  // Bug (review finding 8e): verify accepted a proxy whose certificate does not name the host
  // the user connects to; kubectl then failed "x509: certificate is valid for …, not …".
  it('refuses a proxy whose serving certificate does not name the --server host or --tls-server-name, saying what to pass', async () => {
    const named = await proxyWith({ subjectAltNames: ['localhost', 'shadowplane-proxy.shadowplane.svc'], validityMs: 720 * 3_600_000 });
    try {
      const out = join(bed.dir, 'kc-san');
      const byIp = await bed.cli(verifyArgs({ server: named.url, out }));
      expect(byIp.code).toBe(2);
      expect(byIp.stderr).toContain('SP_USAGE');
      expect(byIp.stderr).toContain("the proxy's serving certificate does not name 127.0.0.1 (from --server)");
      expect(byIp.stderr).toContain('localhost, shadowplane-proxy.shadowplane.svc');
      expect(byIp.stderr).toContain('--tls-server-name NAME');
      expect(byIp.stderr).toContain("the proxy's --san");
      expect(existsSync(out)).toBe(false);

      const wrongName = await bed.cli([...verifyArgs({ server: named.url, out }), '--tls-server-name', 'elsewhere.example']);
      expect(wrongName.code).toBe(2);
      expect(wrongName.stderr).toContain('does not name elsewhere.example (from --tls-server-name)');
      expect(existsSync(out)).toBe(false);

      // The name it does have works, and kubectl agrees.
      const ok = await bed.cli([...verifyArgs({ server: named.url, out }), '--tls-server-name', 'shadowplane-proxy.shadowplane.svc']);
      expect(ok.code).toBe(0);
      const k = await runKubectl('1.33', { dir: bed.dir, kubeconfig: out, dispose: () => undefined }, ['get', 'ns', '-o', 'name']);
      expect(k.code).toBe(0);
    } finally {
      await named.close();
    }
  });

  // Bug (review finding 2): the serving certificate is never renewed, and verify pinned an expired one.
  it('refuses a proxy whose serving certificate has expired, saying it must be restarted', async () => {
    const expiring = await proxyWith({ subjectAltNames: ['127.0.0.1'], validityMs: 1000 });
    try {
      // Validity is in whole seconds: wait past notAfter.
      await new Promise((r) => setTimeout(r, 2500));
      const out = join(bed.dir, 'kc-expired');
      const r = await bed.cli(verifyArgs({ server: expiring.url, out }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SP_ATTEST_CERT_EXPIRED');
      expect(r.stderr).toMatch(/the proxy's serving certificate expired at \d{4}-\d\d-\d\dT[\d:.]+Z: .*restart it/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await expiring.close();
    }
  });

  it('warns when the serving certificate expires within 7 days, and still writes the kubeconfig', async () => {
    const soon = await proxyWith({ subjectAltNames: ['127.0.0.1'], validityMs: 72 * 3_600_000 });
    try {
      const out = join(bed.dir, 'kc-soon');
      const r = await bed.cli(verifyArgs({ server: soon.url, out }));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/warning: the proxy's serving certificate expires at \d{4}-\d\d-\d\dT[\d:.]+Z: the proxy must be restarted and verified again before then/);
      expect(existsSync(out)).toBe(true);
    } finally {
      await soon.close();
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

  it('exits with status 1 also when its serving certificate has expired by the time it listens', async () => {
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--allow-simulated-agents', '--serving-cert-validity', '0s'], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has expired');
  });

  it('warns loudly about a workload entry with unboundIdentity and about accepting a real platform without CRLs', async () => {
    const doc = parse(readFileSync(bed.manifestPath, 'utf8')) as { workloads: { referenceValues: Record<string, unknown>[] }[] };
    const { hostData: _pinned, ...rest } = doc.workloads[0]!.referenceValues[0]!;
    const simulated = { ...rest, name: 'open', unboundIdentity: true };
    doc.workloads[0]!.referenceValues = [simulated, { name: 'snp', platform: 'sev-snp', measurements: ['ab'.repeat(48)], hostData: ['cd'.repeat(32)], minimumTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }];
    const manifest = join(bed.dir, 'unbound-manifest.yaml');
    writeFileSync(manifest, stringify(doc));
    // It starts and keeps running; the warnings are written before it listens.
    const r = await bed.cli(['proxy', '--manifest', manifest, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', join(bed.dir, 'sim'), '--allow-simulated-agents'], { timeoutMs: 5000 });
    expect(r.stderr).toContain("reference entry 'open' of manifest workloads[0].referenceValues sets unboundIdentity: hostData not pinned");
    expect(r.stderr).toContain("reference entry 'snp' of manifest workloads[0].referenceValues sets an all-zero minimumTcb");
    expect(r.stderr).toContain('no CRL source is configured');
    expect(r.stderr).toContain('--crl FILE and --require-crls');
  });
});
