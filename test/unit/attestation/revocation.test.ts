/**
 * The verifier's own CRLs: files read and parsed at start (a bad one stops start-up), and
 * the start-up warnings about revocation. How the CRLs are applied to chains is shown in
 * simulated-verify.test.ts and tdx-verify.test.ts.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRevocationPolicy, parseReferenceValues, revocationPolicy, revocationWarnings, watchRevocationFiles, MAX_CRL_FILES } from '../../../src/attestation/index.ts';
import { createLogger } from '../../../src/log.ts';
import { MAX_CRL_BYTES } from '../../../src/attestation/crl.ts';
import { buildCrl, dn } from '../../../src/attestation/x509-build.ts';
import { derToPem } from '../../../src/attestation/x509.ts';
import { generateKeyPairSync } from 'node:crypto';
import { expectCode, fixture } from './support.ts';

const pckCrl = fixture('tdx/pckcrl');
const rootCrl = fixture('tdx/rootcrl.der');

describe('CRL files held by the verifier', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-crl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: Buffer | string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads DER files and PEM files (one or several X509 CRL blocks), in order', () => {
    const der = file('pck.crl', pckCrl);
    const pem = file('both.pem', derToPem(rootCrl, 'X509 CRL') + derToPem(pckCrl, 'X509 CRL'));
    const p = loadRevocationPolicy({ files: [der, pem], requireCrls: true, option: '--crl' });
    expect(p.crls.map((c) => c.der.equals(pckCrl) ? 'pck' : c.der.equals(rootCrl) ? 'root' : '?')).toEqual(['pck', 'root', 'pck']);
    expect(p.requireCrls).toBe(true);
    expect(p.crls[0]!.revoked.has('6fc34e5023e728923435d61aa4b83c618166ad35')).toBe(true);
    expect(Object.isFrozen(p) && Object.isFrozen(p.crls)).toBe(true);
  });

  it('follows its files: a refreshed CRL is used after the next look, one that does not load is not (and is tried again), and a due one is said once', () => {
    const lines: { level: number; msg: string; code?: string; reason?: string }[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) } });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const DAY = 86_400_000;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const crl = (cn: string, issuedDay: number, revoked: string[] = []): Buffer =>
      buildCrl({ issuer: dn([['CN', cn]]), thisUpdate: new Date(t0 + issuedDay * DAY), nextUpdate: new Date(t0 + (issuedDay + 30) * DAY), revoked: revoked.map((serial) => ({ serial, date: new Date(t0) })), signWith: { key: privateKey, alg: 'ecdsa-sha256' } });
    // Replaced in place, as a ConfigMap update does (a new file renamed over the old).
    const path = file('followed.crl', crl('CA', 1));
    const replace = (content: Buffer | string): void => {
      writeFileSync(join(dir, 'followed.next'), content);
      renameSync(join(dir, 'followed.next'), path);
    };
    let clock = t0 + 2 * DAY;
    const source = watchRevocationFiles({ files: [path], requireCrls: true, option: '--crl', logger, intervalMs: 60_000, now: () => clock });
    const first = source.current();
    expect(first).toBe(source.initial);
    replace(crl('CA', 2, ['abcd']));
    expect(source.current()).toBe(first); // not looked at again before the interval
    clock += 60_000;
    const second = source.current();
    expect(second.crls[0]!.revoked.has('abcd')).toBe(true);
    expect(second.digest).not.toBe(first.digest);
    expect(lines.some((l) => l.msg === 'CRL files changed: loaded again')).toBe(true);
    // A broken refresh: the previous CRLs stay, the failure is logged by code only, and it
    // is tried again at the next look.
    replace('not a crl');
    clock += 60_000;
    expect(source.current()).toBe(second);
    expect(lines.find((l) => l.msg.startsWith('CRL files changed but do not load'))?.code).toBe('SP_CONFIG_INVALID');
    clock += 60_000;
    source.current();
    expect(lines.filter((l) => l.msg.startsWith('CRL files changed but do not load'))).toHaveLength(2);
    expect(JSON.stringify(lines)).not.toContain('not a crl');
    // Past the CRL's nextUpdate, said once for this set.
    replace(crl('CA', 2, ['abcd']));
    clock = t0 + 40 * DAY;
    expect(source.current().crls[0]!.revoked.has('abcd')).toBe(true);
    clock += 60_000;
    source.current();
    expect(lines.filter((l) => l.msg.includes('past their nextUpdate'))).toHaveLength(1);
  });

  // Bug (review of d515299): a reload took any valid CRL in the file, so whoever writes it
  // (a ConfigMap comes through the untrusted control plane) could swap the CRL that revokes
  // a key for an older one of the same issuer and undo the revocation at run time.
  it('refuses a refreshed set that goes back: an older CRL of an issuer, or none for an issuer it had', () => {
    const lines: { msg: string; reason?: string }[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) } });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const DAY = 86_400_000;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const crl = (cn: string, issuedDay: number, revoked: string[] = []): Buffer =>
      buildCrl({ issuer: dn([['CN', cn]]), thisUpdate: new Date(t0 + issuedDay * DAY), nextUpdate: new Date(t0 + (issuedDay + 30) * DAY), revoked: revoked.map((serial) => ({ serial, date: new Date(t0) })), signWith: { key: privateKey, alg: 'ecdsa-sha256' } });
    const path = file('forward.crl', crl('CA', 5, ['abcd']));
    let clock = t0 + 6 * DAY;
    const source = watchRevocationFiles({ files: [path], requireCrls: true, option: '--crl', logger, intervalMs: 1000, now: () => clock });
    const held = source.current();
    const refusedWith = (content: Buffer): string | undefined => {
      writeFileSync(path, content);
      clock += 1000;
      expect(source.current()).toBe(held);
      return lines.at(-1)?.reason;
    };
    expect(refusedWith(crl('CA', 3))).toBe("an issuer's CRL is older than the one held");
    expect(refusedWith(crl('Other CA', 6))).toBe("an issuer's CRL is missing");
    // Forward is fine, and another issuer may be added.
    writeFileSync(path, Buffer.concat([Buffer.from(derToPem(crl('CA', 6, ['abcd', 'ef01']), 'X509 CRL')), Buffer.from(derToPem(crl('Other CA', 6), 'X509 CRL'))]));
    clock += 1000;
    expect(source.current().crls.map((c) => c.revoked.size)).toEqual([2, 0]);
  });

  // Review finding (crl fetch): an ARK signs two lists (revoked ASKs, revoked ASVKs). A
  // newer copy of one served in place of the other passed the issuer-only check above, and
  // undid the ASK's revocation in a running proxy.
  it("refuses a set in which a current CRL's revoked serial is gone for its issuer, and takes it once that CRL is due", () => {
    const lines: { msg: string; reason?: string }[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) } });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const DAY = 86_400_000;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const crl = (issuedDay: number, revoked: string[]): Buffer =>
      buildCrl({ issuer: dn([['CN', 'ARK-Test']]), thisUpdate: new Date(t0 + issuedDay * DAY), nextUpdate: new Date(t0 + (issuedDay + 30) * DAY), revoked: revoked.map((serial) => ({ serial, date: new Date(t0) })), signWith: { key: privateKey, alg: 'ecdsa-sha256' } });
    const vcek = file('ark-vcek.crl', crl(5, ['a5c']));
    const vlek = file('ark-vlek.crl', crl(5, ['b0b']));
    let clock = t0 + 6 * DAY;
    const source = watchRevocationFiles({ files: [vcek, vlek], requireCrls: true, option: '--crl', logger, intervalMs: 1000, now: () => clock });
    const held = source.current();
    // The VLEK list, newer, in place of the VCEK list.
    writeFileSync(vcek, crl(6, ['b0b']));
    clock += 1000;
    expect(source.current()).toBe(held);
    expect(lines.at(-1)?.reason).toBe('a serial a current CRL revokes is missing from the new set');
    // Still refused while the held list naming the serial is current; taken, without another
    // change to the files, once it is due (its certificate expired, the issuer dropped it).
    clock += 1000;
    expect(source.current()).toBe(held);
    clock = t0 + 35 * DAY + 1000;
    expect(source.current().crls.flatMap((c) => [...c.revoked])).toEqual(['b0b', 'b0b']);
  });

  it('keys caches on what it holds: the same CRLs and switch give the same digest, anything else another', () => {
    const a = revocationPolicy({ crls: [pckCrl, rootCrl], requireCrls: true });
    expect(revocationPolicy({ crls: [pckCrl, rootCrl], requireCrls: true }).digest).toBe(a.digest);
    expect(revocationPolicy({ crls: [pckCrl, rootCrl] }).digest).not.toBe(a.digest);
    expect(revocationPolicy({ crls: [pckCrl], requireCrls: true }).digest).not.toBe(a.digest);
  });

  it('stops start-up with SP_CONFIG_INVALID naming the option and the file for anything it cannot use', async () => {
    const load = (files: string[]) => () => loadRevocationPolicy({ files, requireCrls: false, option: '--crl' });
    const missing = join(dir, 'missing.crl');
    const err = await expectCode(load([missing]), 'SP_CONFIG_INVALID');
    expect(err.message).toContain(`--crl ${missing}: cannot be read (ENOENT)`);
    await expectCode(load([file('garbage.crl', 'not a crl at all')]), 'SP_CONFIG_INVALID');
    await expectCode(load([file('cert.pem', '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n')]), 'SP_CONFIG_INVALID');
    const truncated = await expectCode(load([file('truncated.crl', pckCrl.subarray(0, 100))]), 'SP_CONFIG_INVALID');
    expect(truncated.message).toContain('not a DER or PEM X.509 CRL');
    await expectCode(load([file('huge.crl', Buffer.alloc(2 * MAX_CRL_BYTES))]), 'SP_CONFIG_INVALID');
    await expectCode(load(Array.from({ length: MAX_CRL_FILES + 1 }, () => file('pck.crl', pckCrl))), 'SP_CONFIG_INVALID');
    const many = file('many.pem', Array.from({ length: 33 }, () => derToPem(pckCrl, 'X509 CRL')).join(''));
    await expectCode(load([many]), 'SP_CONFIG_INVALID');
  });

  it('refuses, at start, a CRL with a critical extension it does not process', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const idp = buildCrl({
      issuer: dn([['CN', 'Some CA']]),
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + 86_400_000),
      revoked: [],
      signWith: { key: privateKey, alg: 'ecdsa-sha256' },
      extensions: [{ oid: '2.5.29.28', critical: true, value: Buffer.from([0x30, 0]) }],
    });
    const err = await expectCode(() => loadRevocationPolicy({ files: [file('idp.crl', idp)], requireCrls: false, option: 'proxy.crlFiles' }), 'SP_CONFIG_INVALID');
    expect(err.message).toContain('proxy.crlFiles');
    expect(err.message).toContain('2.5.29.28');
  });
});

describe('revocation warnings at start', () => {
  const real = parseReferenceValues([{ platform: 'sev-snp', measurements: ['ab'.repeat(48)], hostData: ['cd'.repeat(32)], minimumTcb: { bootloader: 3, tee: 0, snp: 14, microcode: 209 } }], 'ref.yaml');
  const simulated = parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: 'aa'.repeat(32), measurements: ['ab'.repeat(48)], hostData: ['00'.repeat(32)] }], 'sim.yaml');
  const HINT = '--crl FILE and --require-crls';

  it('warns loudly when real platforms are accepted with no CRL source, naming the settings', () => {
    const lines = revocationWarnings(revocationPolicy({}), [real], HINT);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('no CRL source is configured');
    expect(lines[0]).toContain(HINT);
  });

  it('says nothing for the simulated development path, which has no CRLs', () => {
    expect(revocationWarnings(revocationPolicy({}), [simulated], HINT)).toEqual([]);
  });

  it('warns when CRLs are required but none is configured, and when a configured CRL is already stale', () => {
    expect(revocationWarnings(revocationPolicy({ requireCrls: true }), [real], HINT)[0]).toContain('required but none is configured');
    const stale = revocationWarnings(revocationPolicy({ crls: [pckCrl, rootCrl], requireCrls: true }), [real], HINT, new Date('2024-01-01T00:00:00Z'));
    expect(stale).toHaveLength(1);
    expect(stale[0]).toContain("issuer 'Intel SGX PCK Platform CA'");
    expect(revocationWarnings(revocationPolicy({ crls: [pckCrl, rootCrl], requireCrls: true }), [real], HINT, new Date('2023-07-01T00:00:00Z'))).toEqual([]);
  });
});
