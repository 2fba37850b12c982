/**
 * What the generic REST handler needs to know about one resource: its names for
 * discovery, field selectors, defaulting and validation (the registry strategy of a real
 * API server), and its Table columns.
 */
import type { StatusCause } from './status.ts';
import type { KubeObject } from './store.ts';
import type { PatchSchema } from './patch-schema.ts';

export interface TableColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly format: string;
  readonly description: string;
  readonly priority: number;
}

export interface StrategyContext {
  readonly nowMs: number;
  /** A fresh UID. */
  uid(): string;
}

export interface ResourceType {
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
  readonly subresources: readonly { readonly name: string; readonly kind: string; readonly verbs: readonly string[] }[];
  readonly patchSchema: PatchSchema;
  /** Field selector keys beyond metadata.name / metadata.namespace. */
  readonly fields: ReadonlyMap<string, (object: unknown) => string>;
  readonly columns: readonly TableColumn[];
  cells(object: Readonly<KubeObject>, nowMs: number): unknown[];
  /** Defaults and server-set fields for a new object (mutates and returns it). */
  prepareForCreate(object: KubeObject, ctx: StrategyContext): KubeObject;
  /** Carries over what a main-resource update may not change (status, identity). */
  prepareForUpdate(updated: KubeObject, old: Readonly<KubeObject>): KubeObject;
  validateCreate(object: Readonly<KubeObject>): StatusCause[];
  validateUpdate(updated: Readonly<KubeObject>, old: Readonly<KubeObject>): StatusCause[];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateName(name: unknown, kind: 'label' | 'subdomain', field = 'metadata.name'): StatusCause[] {
  if (typeof name !== 'string' || name === '') return [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field }];
  const ok = kind === 'label' ? name.length <= 63 && DNS1123_LABEL.test(name) : name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
  if (ok) return [];
  return [
    {
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": a lowercase RFC 1123 ${kind === 'label' ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-'${kind === 'label' ? '' : " or '.'"}, and must start and end with an alphanumeric character`,
      field,
    },
  ];
}

const asString = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Field getters every resource supports. */
export function metadataFields(extra: Array<[string, (o: unknown) => string]> = []): ReadonlyMap<string, (o: unknown) => string> {
  const meta = (o: unknown): Record<string, unknown> => {
    const m = (o as { metadata?: unknown }).metadata;
    return typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : {};
  };
  return new Map<string, (o: unknown) => string>([
    ['metadata.name', (o) => asString(meta(o)['name'])],
    ['metadata.namespace', (o) => asString(meta(o)['namespace'])],
    ...extra,
  ]);
}
