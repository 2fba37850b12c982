/**
 * Which rule of a scrub policy applies to a family: exact names first, then patterns in
 * the order listed, matched against both formats' spellings of the family's name.
 */
import { compileGlob, type NameMatcher } from '../config/glob.ts';
import type { MetricFamily } from './model.ts';
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
 * The names a rule is matched against: the family name and, where the two formats name
 * a family differently, the other spelling (a counter `x` in OpenMetrics is `x_total` in
 * the text format and the other way round; an info `x` exposes `x_info`). So one rule
 * covers both formats.
 */
function namesOf(family: Pick<MetricFamily, 'name' | 'type'>): string[] {
  if (family.type === 'counter') {
    return family.name.endsWith('_total') && family.name.length > 6 ? [family.name, family.name.slice(0, -6)] : [family.name, `${family.name}_total`];
  }
  if (family.type === 'info') return [family.name, `${family.name}_info`];
  return [family.name];
}

/** The rule for a family: an exact name beats any pattern; among patterns the first listed wins. */
export function ruleFor(policy: ScrubPolicy, family: Pick<MetricFamily, 'name' | 'type'>): FamilyRule | undefined {
  const { exact, patterns } = compile(policy);
  const names = namesOf(family);
  for (const name of names) {
    const rule = exact.get(name);
    if (rule !== undefined) return rule;
  }
  for (const [matches, rule] of patterns) if (names.some(matches)) return rule;
  return undefined;
}
