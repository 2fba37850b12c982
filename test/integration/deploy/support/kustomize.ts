/**
 * deploy/kustomize as an operator renders it: the real `kubectl kustomize` (kustomize v5,
 * embedded in kubectl 1.33), on a directory as shipped or on a copy of one edited the way
 * the docs say (the `images:` entry `kustomize edit set image` writes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYamlText, parseAllDocuments, stringify } from 'yaml';
import { REPO } from '../../../support/bed.ts';
import { kubectlPath } from '../../../support/kubectl.ts';

export const DEPLOY = join(REPO, 'deploy');
export const KUSTOMIZE_ROOT = join(DEPLOY, 'kustomize');

export type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

export function parseYaml(text: string, source: string): Obj[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${source}: ${d.errors[0]?.message ?? 'YAML error'}`);
  return docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

function render(absDir: string, label: string): Obj[] {
  const r = spawnSync(kubectlPath('1.33'), ['kustomize', absDir], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${label}: ${r.stderr}`);
  return parseYaml(r.stdout, label);
}

/** `kubectl kustomize deploy/kustomize/DIR`. */
export function kustomize(dir: string): Obj[] {
  return render(join(KUSTOMIZE_ROOT, dir), dir);
}

type Kustomization = Record<string, unknown> & { resources?: string[]; components?: string[]; images?: Record<string, string>[] };

/**
 * Renders a copy of deploy/kustomize/DIR's kustomization.yaml after `edit`, as if the
 * operator had edited the file in place: the copy lives in a temporary directory, with its
 * relative resources and components pointing back into the repository (kustomize refuses
 * absolute ones). Nothing in the repository is written.
 */
export function kustomizeEdited(dir: string, edit: (k: Kustomization) => void): Obj[] {
  const source = join(KUSTOMIZE_ROOT, dir);
  const k = parseYamlText(readFileSync(join(source, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const tmp = mkdtempSync(join(tmpdir(), 'sp-kustomize-'));
  try {
    const repoint = (p: string): string => (isAbsolute(p) || p.includes('://') ? p : relative(tmp, resolve(source, p)));
    if (k.resources !== undefined) k.resources = k.resources.map(repoint);
    if (k.components !== undefined) k.components = k.components.map(repoint);
    edit(k);
    writeFileSync(join(tmp, 'kustomization.yaml'), stringify(k));
    return render(tmp, `${dir} (edited)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The `images:` entry `kustomize edit set image NAME=REF` adds (kustomize v5): REF is
 * NEWNAME@DIGEST or NEWNAME:TAG. Used to apply the command the docs print.
 */
export function setImageEntry(argument: string): Record<string, string> {
  const eq = argument.indexOf('=');
  if (eq <= 0) throw new Error(`not NAME=REF: ${argument}`);
  const name = argument.slice(0, eq);
  const ref = argument.slice(eq + 1);
  const at = ref.indexOf('@');
  if (at >= 0) return { name, newName: ref.slice(0, at), digest: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? { name, newName: ref.slice(0, colon), newTag: ref.slice(colon + 1) } : { name, newName: ref };
}

export const find = (objs: readonly Obj[], kind: string, name: string): Obj | undefined => objs.find((o) => o.kind === kind && o.metadata.name.startsWith(name));

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodSpec {
  runtimeClassName?: string;
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: (Record<string, unknown> & { name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string } })[];
}

/** The pod template of a Deployment or a CronJob. */
export function podSpecOf(o: Obj): PodSpec {
  const spec = o.spec as { template?: { spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } };
  const pod = spec.template?.spec ?? spec.jobTemplate?.spec.template.spec;
  if (pod === undefined) throw new Error(`${o.kind} ${o.metadata.name} has no pod template`);
  return pod;
}
