/**
 * `application/vnd.kubernetes.protobuf` answers for namespaces and pods, so that
 * passthrough tests can check binary bodies go through unchanged.
 *
 * Wire shape (apimachinery `runtime/serializer/protobuf`): the 4-byte magic `k8s\0`, then
 * a `runtime.Unknown` message {typeMeta{apiVersion, kind}, raw, contentEncoding,
 * contentType} whose `raw` is the object's own message. Field numbers follow
 * k8s.io/api core/v1 and apimachinery meta/v1 `generated.proto`; like gogo-generated
 * marshallers, scalar strings are always written (even empty), repeated and map fields
 * only when present, map entries sorted by key. Only the fields the stand-in models are
 * encoded (a subset of Pod); a decoder skips what it does not know, as protobuf does.
 */
import { isObject } from './json.ts';
import type { JsonObject } from './store.ts';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Minimal protobuf writer: appends fields in the order called (callers go by field number). */
export class ProtoWriter {
  #parts: Buffer[] = [];
  #length = 0;

  #push(b: Buffer): void {
    this.#parts.push(b);
    this.#length += b.length;
  }

  static varint(n: number | bigint): Buffer {
    let v = BigInt.asUintN(64, BigInt(n));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return Buffer.from(out);
  }

  #tag(field: number, wire: number): void {
    this.#push(ProtoWriter.varint((field << 3) | wire));
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  bytes(field: number, value: Buffer): this {
    this.#tag(field, 2);
    this.#push(ProtoWriter.varint(value.length));
    this.#push(value);
    return this;
  }

  int(field: number, value: number): this {
    this.#tag(field, 0);
    this.#push(ProtoWriter.varint(value));
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.int(field, value ? 1 : 0);
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function time(w: ProtoWriter, field: number, rfc3339: unknown): void {
  const ms = typeof rfc3339 === 'string' ? Date.parse(rfc3339) : NaN;
  const seconds = Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
  w.message(field, (t) => t.int(1, seconds).int(2, 0));
}

function stringMap(w: ProtoWriter, field: number, map: unknown): void {
  const m = obj(map);
  for (const key of Object.keys(m).sort()) w.message(field, (e) => e.string(1, key).string(2, str(m[key])));
}

function objectMeta(w: ProtoWriter, meta: JsonObject): void {
  w.string(1, str(meta['name']))
    .string(2, str(meta['generateName']))
    .string(3, str(meta['namespace']))
    .string(4, str(meta['selfLink']))
    .string(5, str(meta['uid']))
    .string(6, str(meta['resourceVersion']))
    .int(7, typeof meta['generation'] === 'number' ? meta['generation'] : 0);
  time(w, 8, meta['creationTimestamp']);
  if (meta['deletionTimestamp'] !== undefined) time(w, 9, meta['deletionTimestamp']);
  stringMap(w, 11, meta['labels']);
  stringMap(w, 12, meta['annotations']);
  for (const f of arr(meta['finalizers'])) w.string(14, str(f));
}

function listMeta(w: ProtoWriter, meta: JsonObject): void {
  w.string(1, str(meta['selfLink'])).string(2, str(meta['resourceVersion'])).string(3, str(meta['continue']));
  if (typeof meta['remainingItemCount'] === 'number') w.int(4, meta['remainingItemCount']);
}

function namespaceMessage(w: ProtoWriter, ns: JsonObject): void {
  w.message(1, (m) => objectMeta(m, obj(ns['metadata'])));
  w.message(2, (s) => {
    for (const f of arr(obj(ns['spec'])['finalizers'])) s.string(1, str(f));
  });
  w.message(3, (s) => s.string(1, str(obj(ns['status'])['phase'])));
}

function containerMessage(w: ProtoWriter, c: JsonObject): void {
  w.string(1, str(c['name'])).string(2, str(c['image']));
  for (const a of arr(c['command'])) w.string(3, str(a));
  for (const a of arr(c['args'])) w.string(4, str(a));
  w.string(5, str(c['workingDir']));
  w.string(14, str(c['imagePullPolicy']));
  w.bool(16, c['stdin'] === true).bool(17, c['stdinOnce'] === true).bool(18, c['tty'] === true);
}

function podMessage(w: ProtoWriter, pod: JsonObject): void {
  const spec = obj(pod['spec']);
  const status = obj(pod['status']);
  w.message(1, (m) => objectMeta(m, obj(pod['metadata'])));
  w.message(2, (s) => {
    for (const c of arr(spec['containers'])) s.message(2, (cw) => containerMessage(cw, obj(c)));
    s.string(3, str(spec['restartPolicy']));
    s.string(10, str(spec['nodeName']));
  });
  w.message(3, (s) => {
    s.string(1, str(status['phase']));
    s.string(5, str(status['hostIP']));
    s.string(6, str(status['podIP']));
    for (const cs of arr(status['containerStatuses'])) {
      const c = obj(cs);
      s.message(8, (cw) =>
        cw
          .string(1, str(c['name']))
          .bool(4, c['ready'] === true)
          .int(5, typeof c['restartCount'] === 'number' ? c['restartCount'] : 0)
          .string(6, str(c['image'])),
      );
    }
    for (const ip of arr(status['podIPs'])) s.message(12, (p) => p.string(1, str(obj(ip)['ip'])));
  });
}

const ENCODERS: Record<string, (w: ProtoWriter, o: JsonObject) => void> = {
  Namespace: namespaceMessage,
  Pod: podMessage,
};

/** True when the stand-in can answer this kind (or a list of it) in protobuf. */
export function protobufSupported(kind: string): boolean {
  return Object.prototype.hasOwnProperty.call(ENCODERS, kind.replace(/List$/, ''));
}

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const w = new ProtoWriter()
    .message(1, (t) => t.string(1, apiVersion).string(2, kind))
    .bytes(2, raw)
    .string(3, '')
    .string(4, '');
  return Buffer.concat([MAGIC, w.finish()]);
}

/** Encodes one object (kind Namespace or Pod) with the `k8s\0` envelope. */
export function encodeObject(object: JsonObject): Buffer {
  const kind = str(object['kind']);
  const encode = ENCODERS[kind];
  if (encode === undefined) throw new RangeError('no protobuf encoder for this kind');
  const w = new ProtoWriter();
  encode(w, object);
  return envelope(str(object['apiVersion']), kind, w.finish());
}

/** Encodes a list of objects of one kind with the `k8s\0` envelope. */
export function encodeList(kind: string, apiVersion: string, meta: JsonObject, items: readonly JsonObject[]): Buffer {
  const encode = ENCODERS[kind];
  if (encode === undefined) throw new RangeError('no protobuf encoder for this kind');
  const w = new ProtoWriter();
  w.message(1, (m) => listMeta(m, meta));
  for (const item of items) w.message(2, (iw) => encode(iw, item));
  return envelope(apiVersion, `${kind}List`, w.finish());
}

/**
 * One frame of a protobuf watch stream: a 4-byte big-endian length, then a bare
 * `metav1.WatchEvent` {type, object: RawExtension{raw}} (the stream serializer is the
 * raw one, without magic or envelope) whose raw is the enveloped object.
 */
export function encodeWatchFrame(type: string, object: JsonObject): Buffer {
  const inner = encodeObject(object);
  const event = new ProtoWriter().string(1, type).message(2, (r) => r.bytes(1, inner)).finish();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(event.length);
  return Buffer.concat([len, event]);
}
