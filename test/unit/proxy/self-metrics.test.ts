import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { labelValue } from '../../../src/metrics/model.ts';
import type { AnyResponse } from '../../../src/proxy/respond.ts';
import type { Route } from '../../../src/proxy/route.ts';
import { RequestMetrics, routeKindOf } from '../../../src/proxy/self-metrics.ts';

class FakeResponse extends EventEmitter {
  heads: number[] = [];
  writeHead(status: number): this {
    this.heads.push(status);
    return this;
  }
}

const confidential = (op: string): Route => ({ kind: 'confidential', op, namespace: 'ns', name: 'p', port: undefined, scheme: undefined, subpath: '' }) as Route;

function valueOf(metrics: RequestMetrics, name: string, labels: Record<string, string>): number {
  const samples = metrics.metrics.registry.families().flatMap((f) => f.samples);
  const sample = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => labelValue(s.labels, k) === v));
  return Number(sample?.value ?? 0);
}

describe('request metrics', () => {
  it('maps routes to the fixed route kinds', () => {
    expect(routeKindOf({ kind: 'passthrough' })).toBe('passthrough');
    expect(routeKindOf({ kind: 'deny', code: 'SP_BAD_REQUEST', detail: '' })).toBe('deny');
    expect(routeKindOf(confidential('log'))).toBe('logs');
    expect(routeKindOf(confidential('service-proxy'))).toBe('proxy');
    expect(routeKindOf({ kind: 'shadowplane', endpoint: 'federate' })).toBe('metrics');
    expect(routeKindOf({ kind: 'shadowplane', endpoint: 'attest' })).toBeUndefined();
  });

  it('times a request until its response head and counts it once, with the failure code reported', () => {
    let now = 1000;
    const metrics = new RequestMetrics(undefined, () => now);
    const res = new FakeResponse();
    const track = metrics.request(confidential('pod-proxy'), res as unknown as AnyResponse);
    track.reclassify('metrics');
    track.fail('SP_AGENT_UNREACHABLE');
    track.fail('SP_INTERNAL');
    now += 250;
    (res as unknown as { writeHead(s: number): void }).writeHead(503);
    now += 10_000;
    res.emit('close');
    res.emit('close');
    expect(res.heads).toEqual([503]);
    expect(valueOf(metrics, 'shadowplane_requests_total', { route: 'metrics', code: 'SP_AGENT_UNREACHABLE' })).toBe(1);
    expect(valueOf(metrics, 'shadowplane_request_duration_seconds_sum', { route: 'metrics' })).toBeCloseTo(0.25);
    expect(valueOf(metrics, 'shadowplane_request_duration_seconds_count', { route: 'metrics' })).toBe(1);
  });

  it('keeps a session open from the moment it is established until its socket closes', () => {
    const metrics = new RequestMetrics(undefined, () => 0);
    const socket = new EventEmitter() as EventEmitter & { write: (b: string) => boolean };
    socket.write = () => true;
    const track = metrics.upgrade(confidential('exec'), socket as unknown as Duplex);
    socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    track.session('exec');
    expect(valueOf(metrics, 'shadowplane_open_sessions', { kind: 'exec' })).toBe(1);
    socket.emit('close');
    expect(valueOf(metrics, 'shadowplane_open_sessions', { kind: 'exec' })).toBe(0);
    expect(valueOf(metrics, 'shadowplane_requests_total', { route: 'exec', code: 'ok' })).toBe(1);
    // A session reported after the close is not counted as open.
    track.session('exec');
    expect(valueOf(metrics, 'shadowplane_open_sessions', { kind: 'exec' })).toBe(0);
  });

  it('does not track the attestation, audit and health endpoints', () => {
    const metrics = new RequestMetrics();
    const res = new FakeResponse();
    metrics.request({ kind: 'shadowplane', endpoint: 'healthz' }, res as unknown as AnyResponse);
    res.emit('close');
    expect(metrics.metrics.registry.families().find((f) => f.name === 'shadowplane_requests_total')!.samples).toEqual([]);
  });
});
