/**
 * JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge
 * recursively, `null` deletes a member, anything else (arrays included) replaces.
 */
import { isObject } from './json.ts';

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}
