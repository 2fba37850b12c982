/**
 * Bad input at the edges: a malformed manifest stops start-up with an error naming the
 * field; garbage on the wire (plain TCP, TLS, HTTP/1.1, HTTP/2 frames) never crashes the
 * proxy, which keeps serving well-formed clients.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBed, type Bed } from '../../support/bed.ts';
import { seededRandom } from '../../support/testing.ts';

let bed: Bed;

beforeAll(async () => {
  bed = await createBed();
}, 60_000);

afterAll(async () => {
  await bed?.close();
});

async function stillServes(): Promise<void> {
  const s = http2.connect(bed.proxy.url, { ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem });
  s.on('error', () => undefined);
  const status = await new Promise<number>((resolve, reject) => {
    const req = s.request({ ':path': '/version' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.end();
  });
  s.close();
  expect(status).toBe(200);
}

describe('start-up', () => {
  it('refuses a malformed manifest, naming the field, and exits non-zero', async () => {
    const doc = parse(readFileSync(bed.manifestPath, 'utf8')) as { users: { publicKey: string }[] };
    doc.users[1]!.publicKey = 'not a key';
    const bad = join(bed.dir, 'bad-manifest.yaml');
    writeFileSync(bad, stringify(doc));
    const r = await bed.cli(['proxy', '--manifest', bad, '--listen', '127.0.0.1:0', '--tee', 'simulated', '--simulated-dir', bed.simulatedDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_MANIFEST_INVALID');
    expect(r.stderr).toContain('users[1].publicKey');
  });

  it('refuses to start without a manifest (usage error, exit 2)', async () => {
    const r = await bed.cli(['proxy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SP_USAGE');
  });

  it('refuses to start without an attestation source, rather than pretending', async () => {
    const r = await bed.cli(['proxy', '--manifest', bed.manifestPath, '--listen', '127.0.0.1:0', '--tee', 'sev-snp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SP_ATTEST_UNAVAILABLE');
  });
});

describe('garbage on the wire', () => {
  const rnd = seededRandom(20261123);
  const junk = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));

  it('survives random bytes on plain TCP (not TLS)', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: bed.proxy.port }, () => s.end(junk(1 + Math.floor(rnd() * 4096))));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
        setTimeout(() => s.destroy(), 2000).unref();
      });
    }
    await stillServes();
  });

  it('survives random bytes and broken HTTP/1.1 inside TLS', async () => {
    const payloads = [
      junk(2048),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'),
      Buffer.from('GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\nZZZ\r\n'),
      Buffer.from(`GET /${'a'.repeat(200_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      Buffer.from('POST /api/v1/namespaces/secure/pods/conf-0/exec HTTP/1.1\r\nHost: x\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\n\r\n' + randomBytes(500).toString('latin1'), 'latin1'),
    ];
    for (const p of payloads) {
      const answer = await new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: bed.proxy.port, ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, ALPNProtocols: ['http/1.1'] }, () => s.end(p));
        let text = '';
        s.on('data', (c: Buffer) => (text += c.toString('latin1')));
        s.on('error', () => resolve(text));
        s.on('close', () => resolve(text));
        setTimeout(() => s.destroy(), 5000).unref();
      });
      expect(answer === '' || /^HTTP\/1\.1 4\d\d /.test(answer)).toBe(true);
    }
    await stillServes();
  });

  it('survives random HTTP/2 frames after a valid preface', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: bed.proxy.port, ca: bed.proxy.servingCertPem, cert: bed.users.alice.certPem, key: bed.users.alice.keyPem, ALPNProtocols: ['h2'] }, () => {
          s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
          s.end(junk(16 + Math.floor(rnd() * 2048)));
        });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
        setTimeout(() => s.destroy(), 2000).unref();
      });
    }
    await stillServes();
  });
});
