/**
 * RA-TLS over real TLS 1.3 sockets on loopback: both sides present attested certificates,
 * each verifies the other's from `getPeerX509Certificate().raw`. TLS proves possession of
 * the key; the attestation extension proves the key was made in an attested TEE.
 */
import { once } from 'node:events';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SIMULATED_DEFAULT_MEASUREMENT,
  createAttestedCredentials,
  createSimulatedChain,
  verifyAttestedCertificateSync,
  type AttestedCredentials,
  type ReferenceValues,
} from '../../../src/attestation/index.ts';
import { parseReferenceValues } from '../../../src/attestation/reference-values.ts';
import { simulatedIssuer } from '../../unit/attestation/support.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

const M = SIMULATED_DEFAULT_MEASUREMENT;


describe('RA-TLS mutual handshake on loopback', () => {
  let reference: ReferenceValues;
  let proxy: AttestedCredentials;
  let agent: AttestedCredentials;
  let stranger: AttestedCredentials;

  beforeAll(async () => {
    const chain = await createSimulatedChain({ rsaBits: 2048 });
    const strangerChain = await createSimulatedChain({ rsaBits: 2048 });
    reference = parseReferenceValues([{ platform: 'simulated', simulatedRootSha256: chain.arkSha256, measurements: [M], hostData: ['00'.repeat(32)] }], 'test');
    proxy = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { role: 'proxy' } });
    agent = await createAttestedCredentials({ issuer: simulatedIssuer(chain), claims: { role: 'agent', pod: 'payments/api-0' }, subjectAltNames: ['127.0.0.1'] });
    stranger = await createAttestedCredentials({ issuer: simulatedIssuer(strangerChain), claims: { role: 'proxy' } });
  });

  const servers: Array<ReturnType<typeof createServer>> = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  /** An agent-side server that verifies every client and records the verdicts. */
  async function agentServer(): Promise<{ port: number; verdicts: string[] }> {
    const verdicts: string[] = [];
    const server = createServer({ key: agent.keyPem, cert: agent.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (socket: TLSSocket) => {
      const peer = socket.getPeerX509Certificate();
      try {
        const res = verifyAttestedCertificateSync(peer!.raw, { reference, allowSimulated: true });
        verdicts.push(`ok:${res.claims.role ?? ''}`);
        socket.end('hello proxy');
      } catch (err) {
        verdicts.push(isShadowplaneError(err) ? err.code : 'crash');
        socket.destroy();
      }
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, verdicts };
  }

  async function dial(port: number, cred: AttestedCredentials): Promise<{ serverVerdict: string; body: string }> {
    const socket = connect({ host: '127.0.0.1', port, key: cred.keyPem, cert: cred.certPem, rejectUnauthorized: false, minVersion: 'TLSv1.3', servername: 'agent.local' });
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), 10_000);
    try {
      await once(socket, 'secureConnect');
      let serverVerdict: string;
      try {
        serverVerdict = `ok:${verifyAttestedCertificateSync(socket.getPeerX509Certificate()!.raw, { reference, allowSimulated: true }).claims.pod ?? ''}`;
      } catch (err) {
        serverVerdict = isShadowplaneError(err) ? err.code : 'crash';
      }
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await Promise.race([once(socket, 'end'), once(socket, 'close')]);
      return { serverVerdict, body: Buffer.concat(chunks).toString() };
    } finally {
      clearTimeout(timer);
      socket.destroy();
    }
  }

  it('lets an attested proxy and an attested agent verify each other', async () => {
    const { port, verdicts } = await agentServer();
    const r = await dial(port, proxy);
    expect(r.serverVerdict).toBe('ok:payments/api-0');
    expect(r.body).toBe('hello proxy');
    expect(verdicts).toEqual(['ok:proxy']);
  });

  it('refuses a client whose evidence chains to a simulated root that is not pinned', async () => {
    const { port, verdicts } = await agentServer();
    const r = await dial(port, stranger);
    expect(r.body).toBe('');
    expect(verdicts).toEqual(['SP_ATTEST_ROOT_UNTRUSTED']);
  });
});
