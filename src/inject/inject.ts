/**
 * `shadowplane inject`: a client-side, deterministic transform of multi-document YAML.
 *
 * Pods and the workload kinds that carry a pod template (Deployment, StatefulSet,
 * DaemonSet, Job, CronJob, and the same inside a `List`) get the agent (src/inject/
 * pod-spec.ts). Every other document, and everything between documents (comments,
 * markers), is copied through byte for byte from the source. An injected document is
 * re-printed by the YAML library with its comments, key order and scalar styles; only
 * indentation and spacing are normalised.
 *
 * It runs on the owner's machine, not in an admission webhook of the untrusted control
 * plane: the output is what the pod's policy pins. Same inputs, same bytes out.
 */
import { Composer, CST, isMap, LineCounter, Parser, visit, type Document, type YAMLMap } from 'yaml';
import { ShadowplaneError } from '../errors.ts';
import { injectPodSpec, type PodSpecPlan } from './pod-spec.ts';
import { inputError, mapAt, mapsOf, seqAt, stringAt } from './yaml-nodes.ts';

/** Largest input file. */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;
/** Most documents across all inputs. */
export const MAX_DOCUMENTS = 10_000;

export interface InjectInput {
  /** Shown in messages (a file name, or `-` for stdin). */
  readonly name: string;
  readonly text: string;
}

export interface InjectedObject {
  readonly kind: string;
  readonly name: string;
  readonly wrapped: readonly string[];
}

export interface InjectResult {
  readonly output: string;
  readonly injected: readonly InjectedObject[];
  readonly warnings: readonly string[];
}

/** Where the pod spec sits in each supported kind, by apiVersion. */
const POD_SPEC_PATHS: Readonly<Record<string, { readonly apiVersion: string; readonly path: readonly string[] }>> = {
  Pod: { apiVersion: 'v1', path: ['spec'] },
  Deployment: { apiVersion: 'apps/v1', path: ['spec', 'template', 'spec'] },
  StatefulSet: { apiVersion: 'apps/v1', path: ['spec', 'template', 'spec'] },
  DaemonSet: { apiVersion: 'apps/v1', path: ['spec', 'template', 'spec'] },
  Job: { apiVersion: 'batch/v1', path: ['spec', 'template', 'spec'] },
  CronJob: { apiVersion: 'batch/v1', path: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] },
};

export const SUPPORTED_KINDS: readonly string[] = Object.keys(POD_SPEC_PATHS);

interface Visit {
  readonly doc: Document;
  readonly plan: PodSpecPlan;
  readonly injected: InjectedObject[];
  readonly warnings: string[];
  readonly where: string;
}

/** Injects one object (a mapping); returns true when it changed. */
function injectObject(obj: YAMLMap, v: Visit, depth: number): boolean {
  const apiVersion = stringAt(obj, 'apiVersion', v.where);
  const kind = stringAt(obj, 'kind', v.where);
  if (apiVersion === undefined || kind === undefined) inputError(v.where, 'not a Kubernetes object (apiVersion and kind are required)');
  if (kind === 'List' && apiVersion === 'v1' && depth === 0) {
    const items = seqAt(obj, 'items', v.where);
    if (items === undefined) return false;
    let changed = false;
    mapsOf(items, v.where, 'items').forEach((item, i) => {
      changed = injectObject(item, { ...v, where: `${v.where}, items[${i}]` }, 1) || changed;
    });
    return changed;
  }
  const target = POD_SPEC_PATHS[kind];
  if (target === undefined) return false;
  const name = stringAt(mapAt(obj, 'metadata', v.where) ?? obj, 'name', v.where) ?? '(generated name)';
  const where = `${v.where}: ${kind} ${name}`;
  if (apiVersion !== target.apiVersion) return false;
  let node: YAMLMap = obj;
  for (const key of target.path) {
    const next = mapAt(node, key, where);
    if (next === undefined) inputError(where, `${target.path.join('.')} is missing`);
    node = next;
  }
  const result = injectPodSpec(v.doc, node, where, name, v.plan);
  v.injected.push({ kind, name, wrapped: result.wrapped });
  v.warnings.push(...result.warnings);
  return true;
}

/** True when inject would edit `obj` (a supported kind and apiVersion, or a List holding one). */
function touches(obj: YAMLMap, where: string, depth: number, warnings: string[]): boolean {
  const apiVersion = stringAt(obj, 'apiVersion', where);
  const kind = stringAt(obj, 'kind', where);
  if (apiVersion === undefined || kind === undefined) inputError(where, 'not a Kubernetes object (apiVersion and kind are required)');
  if (kind === 'List' && apiVersion === 'v1' && depth === 0) {
    const items = seqAt(obj, 'items', where);
    if (items === undefined) return false;
    return mapsOf(items, where, 'items').filter((item, i) => touches(item, `${where}, items[${i}]`, 1, warnings)).length > 0;
  }
  const target = POD_SPEC_PATHS[kind];
  if (target !== undefined && target.apiVersion !== apiVersion) {
    warnings.push(`${where}: ${kind} with apiVersion ${apiVersion} (not ${target.apiVersion}) is passed through without the agent`);
  }
  return target?.apiVersion === apiVersion;
}

function hasAlias(doc: Document): boolean {
  let found = false;
  visit(doc, {
    Alias() {
      found = true;
      return visit.BREAK;
    },
  });
  return found;
}

/** Block sequences written at their key's indentation (`key:\n- item`), kubectl's style. */
function seqIndentedIn(source: string): boolean {
  return !/^( *)[^\s#-][^\n]*:[ \t]*\r?\n\1- /m.test(source);
}

/** Flow collections written with inner spaces (`{ a: 1 }`) rather than without (`{a: 1}`). */
function flowPaddedIn(source: string): boolean {
  const padded = source.match(/[[{] [^\s\]}]/g)?.length ?? 0;
  const tight = source.match(/[[{][^\s\]}]/g)?.length ?? 0;
  return padded >= tight && padded > 0;
}

/**
 * Injects the agent into every supported object of `inputs` and returns the combined
 * multi-document YAML. Throws ShadowplaneError (SP_INJECT_*, SP_USAGE) and leaves no
 * partial result.
 */
export function injectDocuments(inputs: readonly InjectInput[], plan: PodSpecPlan): InjectResult {
  const injected: InjectedObject[] = [];
  const warnings: string[] = [];
  const out: string[] = [];
  let documents = 0;
  for (const input of inputs) {
    if (Buffer.byteLength(input.text, 'utf8') > MAX_INPUT_BYTES) {
      throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${input.name}: larger than ${MAX_INPUT_BYTES} bytes`);
    }
    const chunks: string[] = [];
    let index = 0;
    let first = true;
    let startsWithMarker = false;
    // Offsets of parse errors become `line N, column M` of the file; the source is never quoted.
    const lines = new LineCounter();
    const at = (offset: number): string => {
      const { line, col } = lines.linePos(offset);
      return `line ${line}, column ${col}`;
    };
    for (const token of new Parser(lines.addNewLine).parse(input.text)) {
      if (token.type !== 'document') {
        if (token.type === 'error') throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `${input.name}: not valid YAML at ${at(token.offset)}`);
        chunks.push(CST.stringify(token));
        continue;
      }
      if (++documents > MAX_DOCUMENTS) throw new ShadowplaneError('SP_INJECT_INPUT_INVALID', `more than ${MAX_DOCUMENTS} documents`);
      const where = `${input.name}: document ${index++}`;
      if (first) startsWithMarker = token.start.some((t) => t.type === 'doc-start');
      first = false;
      const source = CST.stringify(token);
      const docs = [...new Composer({ prettyErrors: false }).compose([token], true)];
      const doc = docs[0];
      if (docs.length !== 1 || doc === undefined) inputError(where, 'not a single YAML document');
      const error = doc.errors[0];
      if (error !== undefined) inputError(where, `not valid YAML at ${at(error.pos[0])} (${error.code})`);
      if (doc.contents === null) {
        chunks.push(source);
        continue;
      }
      if (!isMap(doc.contents)) inputError(where, 'not a Kubernetes object (a mapping)');
      if (!touches(doc.contents, where, 0, warnings)) {
        chunks.push(source);
        continue;
      }
      if (hasAlias(doc)) inputError(where, 'uses YAML anchors or aliases; expand them before injecting (inject edits the nodes they share)');
      injectObject(doc.contents, { doc, plan, injected, warnings, where }, 0);
      chunks.push(doc.toString({ lineWidth: 0, indentSeq: seqIndentedIn(source), flowCollectionPadding: flowPaddedIn(source) }));
    }
    let text = chunks.join('');
    if (text.trim() === '') continue;
    if (out.length > 0) {
      const previous = out[out.length - 1] as string;
      if (!previous.endsWith('\n')) out.push('\n');
      if (!startsWithMarker) text = `---\n${text}`;
    }
    out.push(text);
  }
  let output = out.join('');
  if (output !== '' && !output.endsWith('\n')) output += '\n';
  return { output, injected, warnings };
}
