import { describe, expect, it } from 'vitest';
import { ERRORS, ShadowplaneError } from '../../../src/errors.ts';
import { encodeErrorStream, errorChannelStatus, exitCodeStatus, reportableExitCode, statusForError, successStatus } from '../../../src/kube-streams/status.ts';

describe('metav1.Status for remote commands', () => {
  it('encodes success exactly as the kubelet does', () => {
    expect(JSON.stringify(successStatus())).toBe('{"metadata":{},"status":"Success"}');
    expect(encodeErrorStream({ kind: 'exit', code: 0 }, 'status-json').toString()).toBe('{"metadata":{},"status":"Success"}');
  });

  it('encodes a non-zero exit with the code in causes[0].reason=ExitCode', () => {
    expect(JSON.stringify(exitCodeStatus(3))).toBe(
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    );
  });

  it('reports codes kubectl cannot parse as a uint8 as 255', () => {
    expect([0, 1, 255, 256, -1, 1.5, Number.NaN].map(reportableExitCode)).toEqual([0, 1, 255, 255, 255, 255, 255]);
    expect(exitCodeStatus(300).details?.causes[0]?.message).toBe('255');
  });

  it('encodes a ShadowplaneError with the catalogue code, reason and message starting with the code', () => {
    const error = new ShadowplaneError('SP_AGENT_UNREACHABLE');
    expect(errorChannelStatus(error)).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'SP_AGENT_UNREACHABLE: the pod agent cannot be reached',
      reason: 'ServiceUnavailable',
      details: { causes: [{ reason: 'SP_AGENT_UNREACHABLE', message: 'the pod agent cannot be reached' }] },
      code: 503,
    });
    expect(errorChannelStatus(new ShadowplaneError('SP_FORBIDDEN', 'exec in payments')).message).toBe(
      'SP_FORBIDDEN: the manifest does not grant this user this operation here: exec in payments',
    );
  });

  it('gives HTTP answers kind and apiVersion so client-go decodes them', () => {
    const status = statusForError(new ShadowplaneError('SP_FORBIDDEN'));
    expect(JSON.stringify(status).startsWith('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure"')).toBe(true);
    expect(status.code).toBe(ERRORS.SP_FORBIDDEN.http);
  });

  it('uses plain text on v1-v3 error streams, and nothing on success', () => {
    expect(encodeErrorStream({ kind: 'exit', code: 0 }, 'plain-text').length).toBe(0);
    expect(encodeErrorStream({ kind: 'exit', code: 2 }, 'plain-text').toString()).toBe('command terminated with non-zero exit code: 2');
    expect(encodeErrorStream({ kind: 'error', error: new ShadowplaneError('SP_SESSION_TIMEOUT') }, 'plain-text').toString()).toBe(
      'SP_SESSION_TIMEOUT: a stream session did not start in time',
    );
  });
});
