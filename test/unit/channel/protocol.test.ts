import { describe, expect, it } from 'vitest';
import {
  attachPath,
  decodeErrorBody,
  decodeInfo,
  encodeErrorBody,
  execPath,
  logsPath,
  parseAttachQuery,
  parseExecQuery,
  parseLogsQuery,
  parsePortForwardQuery,
  parseRfc3339,
  portForwardPath,
} from '../../../src/channel/protocol.ts';
import { ShadowplaneError } from '../../../src/errors.ts';
import { codeOf } from '../../support/testing.ts';

function query(path: string): URLSearchParams {
  return new URL(path, 'http://agent').searchParams;
}


describe('channel protocol', () => {
  it('round-trips exec parameters, command arguments byte for byte', () => {
    const params = { container: 'app', command: ['sh', '-c', 'echo "a&b=c" ; printf %s\n', 'ünï', ' '], stdin: true, stdout: true, stderr: true, tty: false };
    expect(parseExecQuery(query(execPath(params)))).toEqual(params);
  });

  it('drops stderr when a terminal is asked for, as kubectl does', () => {
    const params = { container: 'app', command: ['sh'], stdin: true, stdout: true, stderr: true, tty: true };
    expect(parseExecQuery(query(execPath(params))).stderr).toBe(false);
  });

  it('accepts Go ParseBool spellings and refuses anything else', () => {
    expect(parseAttachQuery(query('/v1/attach?container=c&stdin=1&stdout=T&stderr=False')).stdin).toBe(true);
    expect(codeOf(() => parseAttachQuery(query('/v1/attach?container=c&stdin=yes')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseAttachQuery(query('/v1/attach?container=c&stdin=1&stdin=0')))).toBe('SP_BAD_REQUEST');
  });

  it('refuses a missing command, a NUL in an argument, and container names that are not DNS labels', () => {
    expect(codeOf(() => parseExecQuery(query('/v1/exec?container=c')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseExecQuery(query('/v1/exec?container=c&command=a%00b')))).toBe('SP_BAD_REQUEST');
    for (const name of ['', '../x', 'A', 'a_b', '-a', 'a'.repeat(64), 'a/b']) {
      expect(codeOf(() => parseExecQuery(query(`/v1/exec?container=${encodeURIComponent(name)}&command=ls`)))).toBe('SP_BAD_REQUEST');
    }
    expect(parseAttachQuery(query(attachPath({ container: 'c', stdin: false, stdout: true, stderr: true, tty: false }))).container).toBe('c');
  });

  it('validates log options the way the API server does', () => {
    const full = { container: 'c', follow: true, previous: true, timestamps: true, tailLines: 0, sinceTime: '2024-01-01T00:00:00Z', limitBytes: 1, stream: 'Stderr' as const };
    expect(parseLogsQuery(query(logsPath(full)))).toEqual(full);
    expect(parseLogsQuery(query('/v1/logs?container=c'))).toEqual({ container: 'c', follow: false, previous: false, timestamps: false });
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&tailLines=-1')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&limitBytes=0')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&sinceSeconds=0')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&sinceTime=yesterday')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&stream=both')))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parseLogsQuery(query('/v1/logs?container=c&tailLines=1e3')))).toBe('SP_BAD_REQUEST');
  });

  it('accepts ports 1..65535 only', () => {
    expect(parsePortForwardQuery(query(portForwardPath(8080)))).toBe(8080);
    for (const bad of ['0', '65536', '-1', 'x', '']) expect(codeOf(() => parsePortForwardQuery(query(`/v1/portforward?port=${bad}`)))).toBe('SP_BAD_REQUEST');
    expect(codeOf(() => parsePortForwardQuery(query('/v1/portforward')))).toBe('SP_BAD_REQUEST');
  });

  it('parses RFC 3339 exactly to nanoseconds', () => {
    expect(parseRfc3339('1970-01-01T00:00:00Z')).toBe(0n);
    expect(parseRfc3339('2024-01-01T00:00:00.123456789Z')).toBe(1_704_067_200_123_456_789n);
    expect(parseRfc3339('2024-01-01T01:00:00.5+01:00')).toBe(1_704_067_200_500_000_000n);
    expect(parseRfc3339('2023-12-31T23:00:00-01:00')).toBe(1_704_067_200_000_000_000n);
    for (const bad of ['2024-02-30T00:00:00Z', '2024-01-01 00:00:00Z', '2024-01-01T00:00:00', '2024-01-01T24:00:00Z', '2024-01-01T00:00:00.1234567890Z', 'x']) {
      expect(parseRfc3339(bad)).toBeUndefined();
    }
  });

  it('carries errors as catalogue codes and turns anything else into a protocol error', () => {
    const err = decodeErrorBody(encodeErrorBody(new ShadowplaneError('SP_CONTAINER_NOT_FOUND', 'sidecar')));
    expect([err.code, err.detail]).toEqual(['SP_CONTAINER_NOT_FOUND', 'sidecar']);
    expect(decodeErrorBody(Buffer.from('{"code":"SP_NOPE"}')).code).toBe('SP_AGENT_PROTOCOL');
    expect(decodeErrorBody(Buffer.from('<html>')).code).toBe('SP_AGENT_PROTOCOL');
    expect(decodeErrorBody(Buffer.from('{"code":"toString"}')).code).toBe('SP_AGENT_PROTOCOL');
  });

  it('validates the info document', () => {
    const info = { namespace: 'ns', pod: 'p', containers: [{ name: 'app', attachStdin: true }] };
    expect(decodeInfo(Buffer.from(JSON.stringify(info)))).toEqual(info);
    expect(codeOf(() => decodeInfo(Buffer.from('{"namespace":"ns","pod":"p","containers":[{"name":"../x","attachStdin":true}]}')))).toBe('SP_AGENT_PROTOCOL');
    expect(codeOf(() => decodeInfo(Buffer.from('[]')))).toBe('SP_AGENT_PROTOCOL');
  });
});
