/**
 * Label selectors (apimachinery `labels.Parse`) and field selectors
 * (`fields.ParseSelector`) for list and watch. Pure: strings in, predicates out.
 * Malformed selectors throw `SP_BAD_REQUEST` (answered as 400 BadRequest).
 */
import { ShadowplaneError } from '../../../src/errors.ts';

/** Longest selector accepted before parsing (bounded input). */
const MAX_SELECTOR_LENGTH = 8192;

type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly op: LabelOp;
  readonly values: readonly string[];
}

export type Labels = Readonly<Record<string, string>>;
export type LabelSelector = (labels: Labels) => boolean;

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function bad(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_BAD_REQUEST', detail);
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw bad('unbalanced parentheses in label selector');
  }
  if (depth !== 0) throw bad('unbalanced parentheses in label selector');
  out.push(s.slice(start));
  return out;
}

function checkKey(key: string): string {
  if (key.length === 0 || key.length > 316 || !LABEL_KEY.test(key)) throw bad('invalid label key in selector');
  return key;
}

function checkValue(value: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) throw bad('invalid label value in selector');
  return value;
}

export function parseLabelRequirements(selector: string): LabelRequirement[] {
  if (selector.length > MAX_SELECTOR_LENGTH) throw bad('label selector too long');
  const trimmed = selector.trim();
  if (trimmed === '') return [];
  return splitTopLevel(trimmed).map((raw): LabelRequirement => {
    const part = raw.trim();
    if (part === '') throw bad('empty requirement in label selector');
    let m = /^!\s*(\S+)$/.exec(part);
    if (m !== null) return { key: checkKey(m[1] ?? ''), op: '!exists', values: [] };
    m = /^(\S+?)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (m !== null) {
      const values = (m[3] ?? '').split(',').map((v) => checkValue(v.trim()));
      return { key: checkKey(m[1] ?? ''), op: m[2] === 'in' ? 'in' : 'notin', values };
    }
    m = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(part);
    if (m !== null) {
      const key = checkKey(m[1] ?? '');
      const value = (m[3] ?? '').trim();
      switch (m[2]) {
        case '>':
        case '<':
          if (!/^-?\d+$/.test(value)) throw bad('label selector comparison needs an integer');
          return { key, op: m[2] === '>' ? 'gt' : 'lt', values: [value] };
        case '!=':
          return { key, op: '!=', values: [checkValue(value)] };
        default:
          return { key, op: '=', values: [checkValue(value)] };
      }
    }
    if (/^\S+$/.test(part)) return { key: checkKey(part), op: 'exists', values: [] };
    throw bad('unable to parse requirement in label selector');
  });
}

export function matchesRequirement(r: LabelRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(v ?? '');
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v ?? '');
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v ?? '')) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      return r.op === 'gt' ? n > bound : n < bound;
    }
  }
}

export function parseLabelSelector(selector: string | null): LabelSelector {
  if (selector === null) return () => true;
  const reqs = parseLabelRequirements(selector);
  return (labels) => reqs.every((r) => matchesRequirement(r, labels));
}

export interface FieldRequirement {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** Splits on an unescaped separator; `\\`, `\,` and `\=` are escapes (fields.EscapeValue). */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] ?? '');
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

export function parseFieldRequirements(selector: string): FieldRequirement[] {
  if (selector.length > MAX_SELECTOR_LENGTH) throw bad('field selector too long');
  if (selector.trim() === '') return [];
  return splitEscaped(selector, ',').map((part): FieldRequirement => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/s.exec(part.trim());
    if (m === null) throw bad('invalid field selector requirement');
    return { field: (m[1] ?? '').trim(), op: m[2] === '!=' ? '!=' : '=', value: unescape(m[3] ?? '') };
  });
}

/**
 * A field selector over the fields a resource supports; an unsupported field is a 400
 * (`field label not supported: <field>`), as in kube-apiserver.
 */
export function parseFieldSelector(
  selector: string | null,
  supported: ReadonlyMap<string, (object: unknown) => string>,
): (object: unknown) => boolean {
  if (selector === null) return () => true;
  const reqs = parseFieldRequirements(selector);
  const getters = reqs.map((r) => {
    const get = supported.get(r.field);
    if (get === undefined) throw bad(`field label not supported: ${r.field}`);
    return { r, get };
  });
  return (object) => getters.every(({ r, get }) => (get(object) === r.value) === (r.op === '='));
}

/** A field selector that pins one name (`metadata.name=<name>`), if it does. */
export function pinnedName(selector: string | null): string | undefined {
  if (selector === null) return undefined;
  return parseFieldRequirements(selector).find((r) => r.field === 'metadata.name' && r.op === '=')?.value;
}
