/**
 * Federation: merges the scrubbed metrics of many pods into one exposition for a
 * scraper, adding `namespace` and `pod` labels so that series of different pods never
 * collide.
 *
 * Rules:
 * - A series that already has a `namespace` or `pod` label keeps its value under
 *   `exported_namespace` / `exported_pod` (prefixing `exported_` again until the name
 *   is free), as Prometheus does when `honor_labels` is false. The added labels come
 *   first, then the series' own labels in their order.
 * - Families of the same name merge in order of first appearance; their samples keep
 *   pod order. If pods disagree on a family's type, the family is dropped for every
 *   pod (a mixed family cannot be rendered) and counted. So are two families of different
 *   names that could produce the same sample name in either format (pod A's counter
 *   `jobs`, whose samples are `jobs_total`, and pod B's untyped `jobs_total`): each pod's
 *   exposition was valid on its own, but together they cannot be rendered. HELP and UNIT
 *   survive only when every pod that has the family agrees.
 * - A (namespace, pod) pair may appear once; names must be valid Kubernetes names.
 * - `withPodUp` adds the federation's own series, one per pod asked, saying whether its
 *   metrics are in the answer.
 */
import { ShadowplaneError } from '../errors.ts';
import type { MetricFamily, MetricType, Sample } from './model.ts';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './parse-limits.ts';
import { sampleSuffixes } from './parse-types.ts';

export interface PodMetrics {
  readonly namespace: string;
  readonly pod: string;
  readonly families: readonly MetricFamily[];
}

export interface FederationResult {
  readonly families: readonly MetricFamily[];
  readonly stats: { readonly conflictingFamilies: number; readonly renamedLabels: number };
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const POD = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MAX_PODS = 10_000;

interface Merged {
  name: string;
  type: MetricType;
  help: string | undefined;
  helpAgrees: boolean;
  unit: string | undefined;
  unitAgrees: boolean;
  conflict: boolean;
  samples: Sample[];
  groups: number;
}

/**
 * What holding one pod's parsed answer costs a federation, in bytes, estimated from above:
 * what the proxy's budget for one federation counts (metrics-endpoints.ts), since the
 * answer's size on the wire does not bound it. A compact answer expands when parsed:
 * `m{a="x1"} 1` is 12 bytes on the wire and, parsed, a sample object, a label array and a
 * string; `federate` then holds a copy of each sample and a label array per series with
 * `namespace` and `pod`, and the rendering writes those two labels on every line.
 *
 * Measured with test/bench/federation-memory.ts (Node 24, x64, live heap after GC, about
 * 16 MiB of answers of each of eleven worst-case shapes parsed, merged and rendered), what a
 * federation holds at its peak (the parsed answers and the merged copy) is 7 to 25 times
 * the answers' wire bytes: a one-label sample of 14 wire bytes about 350 bytes, a sample
 * alone in its family about 510, a family without samples about 130, a label pair up to
 * about 80 more when its name and value are strings of their own (array slots in both
 * copies; a string repeated from the previous sample is shared), and the decoded text up
 * to twice the wire bytes (a value longer than 12 characters is a slice that keeps the
 * text alive; one character outside Latin-1 makes it two bytes a character). The
 * estimate below, linear in what was parsed, exceeds the measured peak by 1.29 to 2.54
 * times across those shapes (1.56 for typical 100-byte samples with four labels), which
 * cover the ways an answer expands (many samples, many families, many distinct strings,
 * long or two-byte text, timestamps, exemplars): a federation within its budget holds
 * less than the budget, to the accuracy of that measurement. Rerun it when the model,
 * the parser or `federate` change what they allocate.
 */
export function heldBytesEstimate(pod: PodMetrics, answerBytes: number): number {
  let samples = 0;
  let labelPairs = 0;
  for (const family of pod.families) {
    samples += family.samples.length;
    for (const sample of family.samples) labelPairs += sample.labels.length >> 1;
  }
  return HELD_PER_ANSWER_BYTE * answerBytes + HELD_PER_FAMILY * pod.families.length + heldPerSample(pod) * samples + HELD_PER_LABEL_PAIR * labelPairs;
}

/**
 * Parse limits for an answer of `pod` that may cost at most `bytes` (heldBytesEstimate),
 * so that the parser refuses (SP_METRICS_TOO_LARGE) an answer past them as it reads it,
 * before building all of it: its bytes, samples and families each cost at least their
 * share above. Never above the default limits; undefined when not even that much fits.
 */
export function parseLimitsWithin(bytes: number, pod: Pick<PodMetrics, 'namespace' | 'pod'>): Partial<ParseLimits> | undefined {
  const maxBytes = Math.min(DEFAULT_PARSE_LIMITS.maxBytes, Math.floor(bytes / HELD_PER_ANSWER_BYTE));
  const maxSeries = Math.min(DEFAULT_PARSE_LIMITS.maxSeries, Math.floor(bytes / heldPerSample(pod)));
  const maxFamilies = Math.min(DEFAULT_PARSE_LIMITS.maxFamilies, Math.floor(bytes / HELD_PER_FAMILY));
  if (maxBytes < 1 || maxSeries < 1 || maxFamilies < 1) return undefined;
  return { maxBytes, maxSeries, maxFamilies };
}

/** See heldBytesEstimate. */
const HELD_PER_ANSWER_BYTE = 4;
const HELD_PER_FAMILY = 256;
const HELD_PER_SAMPLE = 384;
const HELD_PER_LABEL_PAIR = 64;

/**
 * A sample's share, with what the rendering adds to its line, `namespace="…",pod="…",`,
 * counted twice: the output buffer grows by doubling.
 */
function heldPerSample(pod: Pick<PodMetrics, 'namespace' | 'pod'>): number {
  return HELD_PER_SAMPLE + 2 * (20 + pod.namespace.length + pod.pod.length);
}

function exportedName(labels: readonly string[], name: string): string {
  let candidate = `exported_${name}`;
  for (;;) {
    let taken = false;
    for (let i = 0; i < labels.length; i += 2) if (labels[i] === candidate) taken = true;
    if (!taken) return candidate;
    candidate = `exported_${candidate}`;
  }
}

export function federate(pods: readonly PodMetrics[]): FederationResult {
  if (pods.length > MAX_PODS) throw new ShadowplaneError('SP_METRICS_TOO_LARGE', 'too many pods to federate');
  const seenPods = new Set<string>();
  const merged = new Map<string, Merged>();
  let renamedLabels = 0;
  for (const { namespace, pod, families } of pods) {
    if (!NAMESPACE.test(namespace) || !POD.test(pod)) throw new ShadowplaneError('SP_METRICS_INVALID', 'pod identity is not a valid Kubernetes name');
    const id = `${namespace}/${pod}`;
    if (seenPods.has(id)) throw new ShadowplaneError('SP_METRICS_INVALID', 'the same pod appears twice in a federation');
    seenPods.add(id);
    for (const family of families) {
      let m = merged.get(family.name);
      if (m === undefined) {
        m = { name: family.name, type: family.type, help: family.help, helpAgrees: true, unit: family.unit, unitAgrees: true, conflict: false, samples: [], groups: 0 };
        merged.set(family.name, m);
      } else {
        if (m.type !== family.type) m.conflict = true;
        if (m.help !== family.help) m.helpAgrees = false;
        if (m.unit !== family.unit) m.unitAgrees = false;
      }
      if (m.conflict) continue;
      const offset = m.groups;
      let maxGroup = -1;
      let lastIn: readonly string[] | undefined;
      let lastOut: readonly string[] = [];
      for (const sample of family.samples) {
        if (sample.labels !== lastIn) {
          lastIn = sample.labels;
          // At its exact size: an array grown by push keeps room for 16 more strings, and
          // one is held per series of every pod (heldBytesEstimate).
          const length = sample.labels.length;
          const out = new Array<string>(length + 4);
          out[0] = 'namespace';
          out[1] = namespace;
          out[2] = 'pod';
          out[3] = pod;
          for (let i = 0; i < length; i += 2) {
            let name = sample.labels[i]!;
            if (name === 'namespace' || name === 'pod') {
              name = exportedName(sample.labels, name);
              renamedLabels++;
            }
            out[i + 4] = name;
            out[i + 5] = sample.labels[i + 1]!;
          }
          lastOut = out;
        }
        if (sample.group > maxGroup) maxGroup = sample.group;
        m.samples.push({ name: sample.name, labels: lastOut, value: sample.value, timestampMs: sample.timestampMs, exemplar: sample.exemplar, group: offset + sample.group });
      }
      m.groups = offset + maxGroup + 1;
    }
  }
  markClaimConflicts(merged.values());
  let conflictingFamilies = 0;
  const out: MetricFamily[] = [];
  for (const m of merged.values()) {
    if (m.conflict) {
      conflictingFamilies++;
      continue;
    }
    out.push({ name: m.name, type: m.type, help: m.helpAgrees ? m.help : undefined, unit: m.unitAgrees ? m.unit : undefined, samples: m.samples });
  }
  return { families: out, stats: { conflictingFamilies, renamedLabels } };
}

/**
 * Marks as conflicting every family that shares a sample name with another one, in the
 * terms of either format (the federation is rendered in the format the scraper asks for).
 */
function markClaimConflicts(families: Iterable<Merged>): void {
  const owners = new Map<string, Merged>();
  for (const m of families) {
    const names = new Set([m.name]);
    for (const format of ['openmetrics', 'text'] as const) for (const suffix of sampleSuffixes(format, m.type)) names.add(m.name + suffix);
    for (const name of names) {
      const owner = owners.get(name);
      if (owner === undefined) {
        owners.set(name, m);
      } else if (owner !== m) {
        owner.conflict = true;
        m.conflict = true;
      }
    }
  }
}

/** The federation's own gauge: one series per pod it asked (docs/metrics.md). */
export const POD_UP_FAMILY = 'shadowplane_federation_pod_up';

export interface PodUp {
  readonly namespace: string;
  readonly pod: string;
  /** True when the pod's metrics are in the federation. */
  readonly up: boolean;
}

/**
 * `families` (a federation) with `shadowplane_federation_pod_up{namespace, pod}` added
 * for `pods`: 1 for a pod whose metrics are in it, 0 for one that is missing (its agent
 * down or too slow, its scrape dropped, the budget spent), so that an alert can name the
 * pod, which the rest of the answer cannot (a missing pod has no series). The labels are
 * what the federation's own series carry anyway; nothing else about a failed pod (its
 * error) appears. A workload family that could produce the same sample name is left out,
 * so that a workload can neither forge another pod's state nor make the answer
 * unrenderable. No pods: `families` as they are.
 */
export function withPodUp(families: readonly MetricFamily[], pods: readonly PodUp[]): readonly MetricFamily[] {
  if (pods.length === 0) return families;
  const samples: Sample[] = pods.map(({ namespace, pod, up }, group) => {
    if (!NAMESPACE.test(namespace) || !POD.test(pod)) throw new ShadowplaneError('SP_METRICS_INVALID', 'pod identity is not a valid Kubernetes name');
    return { name: POD_UP_FAMILY, labels: ['namespace', namespace, 'pod', pod], value: up ? '1' : '0', timestampMs: undefined, exemplar: undefined, group };
  });
  const own: MetricFamily = { name: POD_UP_FAMILY, type: 'gauge', help: 'Whether the pod\'s scrubbed metrics are in this federation (1) or missing from it (0).', unit: undefined, samples };
  return [...families.filter((f) => !claims(f, POD_UP_FAMILY)), own];
}

/** True when family `f` could produce sample name `name` in either format. */
function claims(f: MetricFamily, name: string): boolean {
  if (f.name === name) return true;
  for (const format of ['openmetrics', 'text'] as const) for (const suffix of sampleSuffixes(format, f.type)) if (f.name + suffix === name) return true;
  return false;
}
