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
 */
import { ShadowplaneError } from '../errors.ts';
import type { MetricFamily, MetricType, Sample } from './model.ts';
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
          const out: string[] = ['namespace', namespace, 'pod', pod];
          for (let i = 0; i < sample.labels.length; i += 2) {
            let name = sample.labels[i]!;
            if (name === 'namespace' || name === 'pod') {
              name = exportedName(sample.labels, name);
              renamedLabels++;
            }
            out.push(name, sample.labels[i + 1]!);
          }
          lastOut = out;
        }
        if (sample.group > maxGroup) maxGroup = sample.group;
        m.samples.push({ ...sample, labels: lastOut, group: offset + sample.group });
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
