/**
 * The federation's own series, shadowplane_federation_pod_up: one per pod asked, so that
 * an alert can name a pod whose metrics are missing.
 */
import { describe, expect, it } from 'vitest';
import { federate, POD_UP_FAMILY, withPodUp } from '../../../src/metrics/federate.ts';
import { parseExposition } from '../../../src/metrics/parse.ts';
import { serialize } from '../../../src/metrics/serialize.ts';
import { expectCode } from './helpers.ts';

describe('shadowplane_federation_pod_up', () => {
  // Regression (SRE review, finding 6): a federation without a failed pod said nothing
  // about which pod was missing; its series just went stale.
  it('adds 1 for every pod in the federation and 0 for every pod missing from it, in both formats', () => {
    const merged = federate([{ namespace: 'payments', pod: 'api-0', families: parseExposition('# TYPE g gauge\ng 1\n', 'text').families }]);
    const families = withPodUp(merged.families, [
      { namespace: 'payments', pod: 'api-0', up: true },
      { namespace: 'payments', pod: 'api-1', up: false },
    ]);
    expect(serialize(families, 'text')).toBe(
      '# TYPE g gauge\ng{namespace="payments",pod="api-0"} 1\n' +
        `# HELP ${POD_UP_FAMILY} Whether the pod's scrubbed metrics are in this federation (1) or missing from it (0).\n` +
        `# TYPE ${POD_UP_FAMILY} gauge\n${POD_UP_FAMILY}{namespace="payments",pod="api-0"} 1\n${POD_UP_FAMILY}{namespace="payments",pod="api-1"} 0\n`,
    );
    const om = parseExposition(serialize(families, 'openmetrics'), 'openmetrics').families.find((f) => f.name === POD_UP_FAMILY)!;
    expect(om.samples.map((s) => [s.labels, s.value])).toEqual([
      [['namespace', 'payments', 'pod', 'api-0'], '1'],
      [['namespace', 'payments', 'pod', 'api-1'], '0'],
    ]);
  });

  it('leaves out a workload family that could claim its sample name, so that a pod cannot forge it or break the answer', () => {
    const forged = parseExposition(`# TYPE ${POD_UP_FAMILY} gauge\n${POD_UP_FAMILY}{pod="api-1"} 1\n# TYPE other gauge\nother 1\n`, 'text').families;
    const families = withPodUp(federate([{ namespace: 'payments', pod: 'api-0', families: forged }]).families, [
      { namespace: 'payments', pod: 'api-0', up: true },
      { namespace: 'payments', pod: 'api-1', up: false },
    ]);
    expect(families.map((f) => f.name)).toEqual(['other', POD_UP_FAMILY]);
    expect(families.at(-1)!.samples.map((s) => s.value)).toEqual(['1', '0']);
  });

  it('adds nothing when there is no pod, and refuses a pod name no Kubernetes object can have', () => {
    expect(serialize(withPodUp([], []), 'openmetrics')).toBe('# EOF\n');
    expectCode(() => withPodUp([], [{ namespace: 'payments', pod: 'a"} 1\nforged{x="', up: false }]), 'SP_METRICS_INVALID');
  });
});
