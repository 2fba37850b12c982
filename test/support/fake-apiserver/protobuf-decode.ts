/**
 * Decoding `application/vnd.kubernetes.protobuf` request bodies: kubectl's typed clients
 * send built-in objects in protobuf (for example `kubectl create namespace` since 1.28+).
 * Only the fields the stand-in models are read (see protobuf.ts for the numbers); others
 * are skipped, as any protobuf reader does.
 *
 * Untrusted input: the body is already size-bounded; every length is checked against
 * the buffer, varints are at most 10 bytes, and anything malformed is `SP_BAD_REQUEST`.
 */
import { ShadowplaneError } from '../../../src/errors.ts';
import type { JsonObject, KubeObject } from './store.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Value = bigint | Buffer;

function bad(detail: string): ShadowplaneError {
  return new ShadowplaneError('SP_BAD_REQUEST', `protobuf body: ${detail}`);
}

/** All fields of one message, in order. */
export function readFields(buf: Buffer): Array<{ field: number; value: Value }> {
  const out: Array<{ field: number; value: Value }> = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let n = 0; n < 10; n++) {
      const b = buf[i++];
      if (b === undefined) throw bad('truncated varint');
      v |= BigInt(b & 0x7f) << BigInt(7 * n);
      if ((b & 0x80) === 0) return v;
    }
    throw bad('varint too long');
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (field === 0) throw bad('field number 0');
    switch (wire) {
      case 0:
        out.push({ field, value: varint() });
        break;
      case 1:
      case 5: {
        const len = wire === 1 ? 8 : 4;
        if (i + len > buf.length) throw bad('truncated fixed field');
        i += len;
        break;
      }
      case 2: {
        const len = Number(varint());
        if (len > buf.length - i) throw bad('length beyond the message');
        out.push({ field, value: buf.subarray(i, i + len) });
        i += len;
        break;
      }
      default:
        throw bad('unsupported wire type');
    }
  }
  return out;
}

const text = (v: Value): string => (Buffer.isBuffer(v) ? v.toString('utf8') : '');
const bytes = (v: Value): Buffer => (Buffer.isBuffer(v) ? v : Buffer.alloc(0));
const num = (v: Value): number => (typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : 0);

function stringMap(entries: Value[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    let k = '';
    let v = '';
    for (const f of readFields(bytes(e))) {
      if (f.field === 1) k = text(f.value);
      else if (f.field === 2) v = text(f.value);
    }
    out[k] = v;
  }
  return out;
}

function group(buf: Buffer): Map<number, Value[]> {
  const m = new Map<number, Value[]>();
  for (const f of readFields(buf)) m.set(f.field, [...(m.get(f.field) ?? []), f.value]);
  return m;
}

function setString(target: JsonObject, key: string, v: Value[] | undefined): void {
  const s = v?.[0] === undefined ? '' : text(v[0]);
  if (s !== '') target[key] = s;
}

function objectMeta(buf: Buffer): KubeObject['metadata'] {
  const m = group(buf);
  const meta: JsonObject = {};
  setString(meta, 'name', m.get(1));
  setString(meta, 'generateName', m.get(2));
  setString(meta, 'namespace', m.get(3));
  setString(meta, 'uid', m.get(5));
  setString(meta, 'resourceVersion', m.get(6));
  if (m.has(11)) meta['labels'] = stringMap(m.get(11) ?? []);
  if (m.has(12)) meta['annotations'] = stringMap(m.get(12) ?? []);
  if (m.has(14)) meta['finalizers'] = (m.get(14) ?? []).map(text);
  return meta;
}

function namespace(raw: Buffer): KubeObject {
  const m = group(raw);
  const ns: KubeObject = { kind: 'Namespace', apiVersion: 'v1', metadata: m.has(1) ? objectMeta(bytes(m.get(1)?.[0] ?? Buffer.alloc(0))) : {} };
  const spec = m.get(2)?.[0];
  if (spec !== undefined) {
    const finalizers = (group(bytes(spec)).get(1) ?? []).map(text);
    if (finalizers.length > 0) ns['spec'] = { finalizers };
  }
  return ns;
}

function container(buf: Buffer): JsonObject {
  const m = group(buf);
  const c: JsonObject = {};
  setString(c, 'name', m.get(1));
  setString(c, 'image', m.get(2));
  if (m.has(3)) c['command'] = (m.get(3) ?? []).map(text);
  if (m.has(4)) c['args'] = (m.get(4) ?? []).map(text);
  setString(c, 'workingDir', m.get(5));
  setString(c, 'imagePullPolicy', m.get(14));
  for (const [n, key] of [[16, 'stdin'], [17, 'stdinOnce'], [18, 'tty']] as const) {
    const v = m.get(n)?.[0];
    if (v !== undefined && num(v) !== 0) c[key] = true;
  }
  return c;
}

function pod(raw: Buffer): KubeObject {
  const m = group(raw);
  const p: KubeObject = { kind: 'Pod', apiVersion: 'v1', metadata: m.has(1) ? objectMeta(bytes(m.get(1)?.[0] ?? Buffer.alloc(0))) : {} };
  const specBuf = m.get(2)?.[0];
  if (specBuf !== undefined) {
    const s = group(bytes(specBuf));
    const spec: JsonObject = { containers: (s.get(2) ?? []).map((c) => container(bytes(c))) };
    setString(spec, 'restartPolicy', s.get(3));
    const grace = s.get(4)?.[0];
    if (grace !== undefined) spec['terminationGracePeriodSeconds'] = num(grace);
    setString(spec, 'serviceAccountName', s.get(8));
    setString(spec, 'nodeName', s.get(10));
    p['spec'] = spec;
  }
  return p;
}

function deleteOptions(raw: Buffer): KubeObject {
  const m = group(raw);
  const o: KubeObject = { kind: 'DeleteOptions', apiVersion: 'v1', metadata: {} };
  const grace = m.get(1)?.[0];
  if (grace !== undefined) o['gracePeriodSeconds'] = num(grace);
  const pre = m.get(2)?.[0];
  if (pre !== undefined) {
    const p = group(bytes(pre));
    const preconditions: JsonObject = {};
    setString(preconditions, 'uid', p.get(1));
    setString(preconditions, 'resourceVersion', p.get(2));
    o['preconditions'] = preconditions;
  }
  setString(o, 'propagationPolicy', m.get(4));
  return o;
}

const DECODERS: Record<string, (raw: Buffer) => KubeObject> = { Namespace: namespace, Pod: pod, DeleteOptions: deleteOptions };

/** Decodes an enveloped (`k8s\0` + runtime.Unknown) Namespace, Pod or DeleteOptions. */
export function decodeProtobufObject(body: Buffer): KubeObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('missing the k8s envelope');
  const unknown = group(body.subarray(MAGIC.length));
  const typeMeta = group(bytes(unknown.get(1)?.[0] ?? Buffer.alloc(0)));
  const kind = text(typeMeta.get(2)?.[0] ?? Buffer.alloc(0));
  const decode = Object.prototype.hasOwnProperty.call(DECODERS, kind) ? DECODERS[kind] : undefined;
  if (decode === undefined) throw bad('unsupported kind');
  return decode(bytes(unknown.get(2)?.[0] ?? Buffer.alloc(0)));
}
