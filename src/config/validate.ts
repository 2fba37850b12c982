/**
 * A small reader for untrusted configuration documents: every accessor knows the field
 * path it reads, so every validation error names the field (`users[1].publicKey: …`).
 *
 * Unknown keys are errors, not warnings: in a security policy a misspelt key
 * (`namespcae`) that is silently ignored widens or narrows what is allowed without the
 * owner noticing.
 */
import { KeyObject } from 'node:crypto';
import { ShadowplaneError, type ErrorCode } from '../errors.ts';

export class FieldReader {
  readonly path: string;
  readonly #value: unknown;
  readonly #code: ErrorCode;

  constructor(value: unknown, path: string, code: ErrorCode = 'SP_MANIFEST_INVALID') {
    this.#value = value;
    this.path = path;
    this.#code = code;
  }

  get raw(): unknown {
    return this.#value;
  }

  fail(message: string): never {
    throw new ShadowplaneError(this.#code, `${this.path === '' ? '(document)' : this.path}: ${message}`);
  }

  isMissing(): boolean {
    return this.#value === undefined || this.#value === null;
  }

  /** Reads an object and refuses keys outside `allowed`. */
  object(allowed: readonly string[]): ObjectReader {
    const v = this.#value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail('must be an object');
    const unknown = Object.keys(v).filter((k) => !allowed.includes(k));
    if (unknown.length > 0) {
      this.fail(`unknown field ${JSON.stringify(unknown[0])} (allowed: ${allowed.join(', ')})`);
    }
    return new ObjectReader(v as Record<string, unknown>, this.path, this.#code);
  }

  string(opts: { minLength?: number; maxLength?: number; pattern?: RegExp; patternHint?: string } = {}): string {
    const v = this.#value;
    if (typeof v !== 'string') this.fail('must be a string');
    const { minLength = 1, maxLength = 4096 } = opts;
    if (v.length < minLength) this.fail(minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters`);
    if (v.length > maxLength) this.fail(`must be at most ${maxLength} characters`);
    if (opts.pattern !== undefined && !opts.pattern.test(v)) this.fail(opts.patternHint ?? `must match ${String(opts.pattern)}`);
    return v;
  }

  oneOf<const T extends string>(values: readonly T[]): T {
    const v = this.#value;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(`must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    }
    return v as T;
  }

  boolean(): boolean {
    if (typeof this.#value !== 'boolean') this.fail('must be true or false');
    return this.#value;
  }

  integer(opts: { min?: number; max?: number } = {}): number {
    const v = this.#value;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail('must be an integer');
    if (opts.min !== undefined && v < opts.min) this.fail(`must be at least ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(`must be at most ${opts.max}`);
    return v;
  }

  array(opts: { minItems?: number; maxItems?: number } = {}): FieldReader[] {
    const v = this.#value;
    if (!Array.isArray(v)) this.fail('must be a list');
    const { minItems = 0, maxItems = 10_000 } = opts;
    if (v.length < minItems) this.fail(minItems === 1 ? 'must not be empty' : `must have at least ${minItems} items`);
    if (v.length > maxItems) this.fail(`must have at most ${maxItems} items`);
    return v.map((item, i) => new FieldReader(item, `${this.path}[${i}]`, this.#code));
  }

  /** A list of strings without duplicates. */
  stringList(opts: { minItems?: number; maxItems?: number; item?: Parameters<FieldReader['string']>[0] } = {}): string[] {
    const items = this.array(opts).map((r) => r.string(opts.item));
    const seen = new Set<string>();
    items.forEach((s, i) => {
      if (seen.has(s)) new FieldReader(s, `${this.path}[${i}]`, this.#code).fail(`duplicate value ${JSON.stringify(s)}`);
      seen.add(s);
    });
    return items;
  }
}

export class ObjectReader {
  readonly #obj: Record<string, unknown>;
  readonly #path: string;
  readonly #code: ErrorCode;

  constructor(obj: Record<string, unknown>, path: string, code: ErrorCode) {
    this.#obj = obj;
    this.#path = path;
    this.#code = code;
  }

  get path(): string {
    return this.#path;
  }

  field(key: string): FieldReader {
    return new FieldReader(this.#obj[key], this.#path === '' ? key : `${this.#path}.${key}`, this.#code);
  }

  /** The field, which must be present. */
  required(key: string): FieldReader {
    const f = this.field(key);
    if (f.isMissing()) f.fail('is required');
    return f;
  }

  /** The field if present, else undefined. */
  optional(key: string): FieldReader | undefined {
    const f = this.field(key);
    return f.isMissing() ? undefined : f;
  }

  has(key: string): boolean {
    return !this.field(key).isMissing();
  }
}

/** Deep-freezes a plain data structure so validated configuration cannot change later. */
export function deepFreeze<T>(value: T): T {
  // Buffers and key objects cannot (and need not) be frozen: they are never exposed mutably.
  if (ArrayBuffer.isView(value) || value instanceof KeyObject) return value;
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
