import { duplexPair } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ShadowplaneError, isShadowplaneError } from '../../../src/errors.ts';
import { expectedStreamTypes } from '../../../src/proxy/streams/exec-spdy.ts';
import { parsePort } from '../../../src/proxy/streams/portforward-spdy.ts';
import { parseLegacyPorts } from '../../../src/proxy/streams/portforward-websocket.ts';
import { parseRemoteCommandOptions, rejectUpgrade } from '../../../src/proxy/streams/upgrade.ts';

const q = (s: string): URLSearchParams => new URLSearchParams(s);

describe('parseRemoteCommandOptions', () => {
  it('reads kubectl queries', () => {
    expect(parseRemoteCommandOptions(q('command=echo&command=hi&container=c1&stderr=true&stdout=true'))).toEqual({ stdin: false, stdout: true, stderr: true, tty: false });
    expect(parseRemoteCommandOptions(q('command=cat&container=c1&stdin=true&stdout=true&tty=true'))).toEqual({ stdin: true, stdout: true, stderr: false, tty: true });
  });

  it('accepts every spelling Go ParseBool accepts, and false ones', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseRemoteCommandOptions(q(`stdout=${t}`)).stdout, t).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseRemoteCommandOptions(q(`stdout=true&stdin=${f}`)).stdin, f).toBe(false);
  });

  it('reports stderr false with a TTY (merged into stdout, as the kubelet does)', () => {
    expect(parseRemoteCommandOptions(q('stderr=1&tty=1')).stderr).toBe(false);
  });

  it('uses the first value of a repeated key', () => {
    expect(parseRemoteCommandOptions(q('stdout=true&stdout=false')).stdout).toBe(true);
  });

  it('refuses other values and a request with no stream at all with SP_BAD_REQUEST', () => {
    for (const query of ['stdout=yes', 'stdout=', 'stdout=tRUE', 'stdin=2', 'tty=true', '', 'stdout=false&stderr=0']) {
      expect(() => parseRemoteCommandOptions(q(query))).toThrow(ShadowplaneError);
      try {
        parseRemoteCommandOptions(q(query));
      } catch (err) {
        expect(isShadowplaneError(err, 'SP_BAD_REQUEST'), query).toBe(true);
      }
    }
  });
});

describe('SPDY exec stream expectations', () => {
  it('expects error, stdin, stdout, stderr (not with a TTY) and resize (TTY, v3+)', () => {
    const all = { stdin: true, stdout: true, stderr: true, tty: false };
    expect([...expectedStreamTypes('v4.channel.k8s.io', all)]).toEqual(['error', 'stdin', 'stdout', 'stderr']);
    expect([...expectedStreamTypes('v4.channel.k8s.io', { ...all, stderr: false, tty: true })]).toEqual(['error', 'stdin', 'stdout', 'resize']);
    expect([...expectedStreamTypes('v2.channel.k8s.io', { ...all, stderr: false, tty: true })]).toEqual(['error', 'stdin', 'stdout']);
    expect([...expectedStreamTypes('channel.k8s.io', { stdin: false, stdout: true, stderr: false, tty: false })]).toEqual(['error', 'stdout']);
  });
});

describe('port parsing', () => {
  it('reads port headers as decimal 1-65535', () => {
    expect(['80', '65535', '1', '0', '65536', '', '8o', '+80', '080', undefined].map(parsePort)).toEqual([80, 65535, 1, null, null, null, null, null, 80, null]);
  });

  it('reads legacy ?ports= (and the kubelet spelling port=) with comma lists', () => {
    expect(parseLegacyPorts(q('ports=8080'))).toEqual([8080]);
    expect(parseLegacyPorts(q('ports=1,2&ports=3&port=4'))).toEqual([1, 2, 3, 4]);
    for (const bad of ['', 'ports=', 'ports=0', 'ports=65536', 'ports=a', 'ports=1,,2', 'ports=1,2,3,4,5,6']) {
      expect(() => parseLegacyPorts(q(bad)), bad).toThrow(ShadowplaneError);
    }
  });
});

describe('rejectUpgrade', () => {
  it('answers a non-101 response with the Status JSON and Connection: close, then ends the connection', async () => {
    const [server, client] = duplexPair();
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise((resolve) => client.on('end', resolve));
    rejectUpgrade(server, new ShadowplaneError('SP_FORBIDDEN', 'exec in payments'));
    await ended;
    const text = Buffer.concat(received).toString();
    const [head, body] = text.split('\r\n\r\n');
    expect(head!.split('\r\n')).toEqual([
      'HTTP/1.1 403 Forbidden',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body!)}`,
      'Cache-Control: no-store',
      'Connection: close',
    ]);
    expect(JSON.parse(body!)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message: 'SP_FORBIDDEN: the manifest does not grant this user this operation here: exec in payments',
      details: { causes: [{ reason: 'SP_FORBIDDEN' }] },
    });
    server.destroy();
  });

  it('does nothing but destroy a socket that is already gone', () => {
    const [server] = duplexPair();
    server.destroy();
    expect(() => rejectUpgrade(server, new ShadowplaneError('SP_FORBIDDEN'))).not.toThrow();
  });
});
