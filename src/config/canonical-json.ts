/**
 * Canonical JSON (RFC 8785 JCS for the JSON subset configuration documents use):
 * object keys sorted by UTF-16 code units, no whitespace, ECMAScript number formatting.
 * Two documents with the same content serialise to the same bytes whatever their key
 * order, formatting or source syntax (YAML or JSON), so their digests are equal.
 */
import { createHash } from 'node:crypto';
import { ShadowplaneError } from '../errors.ts';

export function canonicalJson(value: unknown, path = ''): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new ShadowplaneError('SP_MANIFEST_INVALID', `${path || '(document)'}: numbers must be finite`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new ShadowplaneError('SP_MANIFEST_INVALID', `${path || '(document)'}: only plain JSON values are allowed`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k], path ? `${path}.${k}` : k)}`).join(',')}}`;
    }
    default:
      throw new ShadowplaneError('SP_MANIFEST_INVALID', `${path || '(document)'}: only JSON values are allowed`);
  }
}

/** SHA-256 of the canonical JSON of `value`. */
export function canonicalDigest(value: unknown): Buffer {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest();
}
