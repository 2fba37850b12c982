/**
 * Which rule of a scrub policy applies to a family: exact names first, then patterns in
 * the order listed, matched against both formats' spellings of the family's name.
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
