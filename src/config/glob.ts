/**
 * Name patterns of the manifest: `*` matches any run of characters, `?` one character,
 * everything else matches itself. Patterns are anchored (the whole name must match).
 *
 * Matching uses the greedy two-pointer wildcard algorithm: O(pattern × name) in the worst
 * case and never exponential, unlike a regular expression with many `.*` segments.
 */
export type NameMatcher = (name: string) => boolean;

export const NAME_PATTERN = /^[a-z0-9.*?-]{1,253}$/;
export const NAME_PATTERN_HINT = 'must be a name pattern of lower-case letters, digits, ".", "-", "*" and "?"';

export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    const pc = pattern[p];
    if (pc === '?' || (pc !== undefined && pc !== '*' && pc === name[n])) {
      p++;
      n++;
    } else if (pc === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

export function compileGlob(pattern: string): NameMatcher {
  if (pattern === '*') return () => true;
  if (!/[*?]/.test(pattern)) return (name) => name === pattern;
  return (name) => globMatch(pattern, name);
}

export function compileGlobs(patterns: readonly string[]): NameMatcher {
  const matchers = patterns.map(compileGlob);
  return (name) => matchers.some((m) => m(name));
}
