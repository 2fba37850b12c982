/**
 * Which rule of a scrub policy applies to a family: exact names first, then patterns in
 * the order listed, matched against both formats' spellings of the family's name; and
 * the text format's `_created` gauges, which stand for `_created` samples.
 */
import { compileGlob, type NameMatcher } from '../config/glob.ts';
import type { ExpositionFormat, MetricFamily } from './model.ts';
import type { FamilyRule, ScrubPolicy } from './policy.ts';

interface CompiledPolicy {
  readonly exact: ReadonlyMap<string, FamilyRule>;
  readonly patterns: ReadonlyArray<readonly [NameMatcher, FamilyRule]>;
}

const compiledCache = new WeakMap<ScrubPolicy, CompiledPolicy>();

function compile(policy: ScrubPolicy): CompiledPolicy {
  let compiled = compiledCache.get(policy);
  if (compiled === undefined) {
    const exact = new Map<string, FamilyRule>();
    const patterns: Array<readonly [NameMatcher, FamilyRule]> = [];
    for (const rule of policy.families) {
      if (rule.isPattern) patterns.push([compileGlob(rule.name), rule]);
      else exact.set(rule.name, rule);
    }
    compiled = { exact, patterns };
    compiledCache.set(policy, compiled);
  }
  return compiled;
}

/**
 * The names a rule is matched against, most specific first: the family name and, where
 * the two formats name one family differently, its other spelling, so that one rule
 * covers both formats. A counter's samples are `x_total` in both formats, and its family
 * is `x` in OpenMetrics, `x_total` in the text format: either spelling names it, and the
 * sample name is tried first in both, so that a policy with rules for both spellings
 * applies the same one whatever format the workload chooses. A text counter without
 * `_total` (samples `x`) and an OpenMetrics counter `x_total` (samples `x_total_total`)
 * have no other spelling. An OpenMetrics info `x` exposes `x_info`.
 */
function namesOf(family: Pick<MetricFamily, 'name' | 'type'>, format: ExpositionFormat): string[] {
  const name = family.name;
  if (family.type === 'counter') {
    if (format === 'openmetrics') return [`${name}_total`, name];
    return name.endsWith('_total') && name.length > 6 ? [name, name.slice(0, -6)] : [name];
  }
  if (family.type === 'info') return [`${name}_info`, name];
  return [name];
}

/**
 * The rule for a family of an exposition in `format`: an exact name beats any pattern;
 * among patterns the first listed wins.
 */
export function ruleFor(policy: ScrubPolicy, family: Pick<MetricFamily, 'name' | 'type'>, format: ExpositionFormat): FamilyRule | undefined {
  const { exact, patterns } = compile(policy);
  const names = namesOf(family, format);
  for (const name of names) {
    const rule = exact.get(name);
    if (rule !== undefined) return rule;
  }
  for (const [matches, rule] of patterns) if (names.some(matches)) return rule;
  return undefined;
}

/**
 * The rule for a family as the scrubber applies it. One case differs from `ruleFor`: in
 * the text format a gauge (or untyped family) `x_created` is how prometheus_client for
 * Python writes the `_created` samples of a counter `x_total` or a histogram or summary
 * `x`, as a family of its own. Matched under its own name, a pattern that allows `x`
 * (`app_*`) would let it out even though that rule says `created: false`, and what it
 * holds (when each series first appeared: when a hashed user first logged in) would
 * leave for text expositions and not for OpenMetrics ones. So when a rule covers the
 * family it would stand for, that rule governs it (its labels and caps) and it leaves
 * only under `created: true`; otherwise it is dropped, `createdOf` saying why. Whether a
 * gauge `x_created` stands for `_created` samples cannot be told from the exposition (a
 * genuine gauge looks the same, and the counterpart may come before or after it), so the
 * rule decides: an exact rule for the `x_created` name itself is the owner's explicit
 * word and beats this; a rule that covers only the gauge's own name judges it as any
 * gauge; a rule that covers `x` withholds it unless it says `created: true`.
 */
export function scrubRuleFor(policy: ScrubPolicy, family: Pick<MetricFamily, 'name' | 'type'>, format: ExpositionFormat): { readonly rule: FamilyRule | undefined; readonly createdOf: boolean } {
  const { name, type } = family;
  if (format === 'text' && (type === 'gauge' || type === 'untyped') && name.endsWith(CREATED) && name.length > CREATED.length && !compile(policy).exact.has(name)) {
    const base = name.slice(0, -CREATED.length);
    // A counter rule is looked up under `x_total` and `x`, which also names a histogram or summary `x`.
    const baseRule = ruleFor(policy, { name: `${base}_total`, type: 'counter' }, 'text');
    if (baseRule !== undefined) return { rule: baseRule.created ? baseRule : undefined, createdOf: true };
  }
  return { rule: ruleFor(policy, family, format), createdOf: false };
}

const CREATED = '_created';
