/**
 * Stand-ins for what the metrics endpoints reach outside the proxy — the pods' agents —
 * and the manifest they are tested under: a scraper `prom` (token `t`) and `prom-2`
 * (token `u`) reading every namespace, and workload `api` in `payments` with a metrics
 * policy.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { parseManifest } from '../../../../src/config/manifest.ts';
import { emptyScrubStats } from '../../../../src/metrics/scrub.ts';
import type { PodAgents } from '../../../../src/proxy/confidential/pod-agents.ts';
import type { PodMetricsScraper } from '../../../../src/proxy/confidential/pod-metrics.ts';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export const manifest = parseManifest({
  apiVersion: 'shadowplane.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'federation' },
  confidential: [{ namespace: 'payments' }],
  workloads: [
    {
      name: 'api',
      namespace: 'payments',
      referenceValues: [{ platform: 'simulated', simulatedRootSha256: 'a'.repeat(64), measurements: ['b'.repeat(96)], hostData: ['c'.repeat(64)] }],
      metrics: { families: [{ name: 'm', labels: { pod_series: 'keep' } }] },
    },
  ],
  users: [{ name: 'alice', publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), permissions: [] }],
  scrapers: [
    { name: 'prom', tokenSha256: sha256('t'), namespaces: ['*'] },
    { name: 'prom-2', tokenSha256: sha256('u'), namespaces: ['*'] },
  ],
  upstream: { server: 'https://10.0.0.1:6443', auth: 'forward-token' },
});

/** The first scraper, as the front door hands it to the federation endpoint. */
export const caller = { scraper: manifest.scrapers[0]! };

/** About `bytes` of OpenMetrics for pod `i`: one-label gauges of about 25 bytes a line, the first labelled `first`. */
export function answer(i: number, bytes: number, first = `p${i}-0`): Buffer {
  const lines = ['# TYPE m gauge'];
  for (let k = 0, length = 0; length < bytes; k++) {
    const line = `m{pod_series="${k === 0 ? first : `p${i}-${k}`}"} 1`;
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n# EOF\n`);
}

/** Pods p0..p(n-1), each answering `bytes` of OpenMetrics after `delayMs`, as the federation's pod source. */
export function pods(n: number, bytes: number, delayMs = 0, first?: string): PodMetricsScraper {
  const body = (i: number): Buffer => answer(i, bytes, first);
  return {
    agents: { pods: { list: () => Promise.resolve(Array.from({ length: n }, (_, i) => ({ name: `p${i}`, ip: '127.0.0.1' }))) } },
    hasPolicy: () => true,
    scrape: async (_ns: string, pod: string) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { body: body(Number(pod.slice(1))), stats: {} };
    },
  } as unknown as PodMetricsScraper;
}

/** Agents that answer every metrics request with `body` (already scrubbed), as the per-pod endpoint reaches them. */
export function agentsAnswering(body: Buffer): PodAgents {
  const connection = { metrics: () => Promise.resolve({ body, contentType: 'text/plain; version=0.0.4; charset=utf-8', stats: emptyScrubStats() }) };
  return { connect: () => Promise.resolve(connection) } as unknown as PodAgents;
}
