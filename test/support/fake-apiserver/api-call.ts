/**
 * One authenticated, authorized API request as the resource handlers see it, and the
 * representation helpers they share (answer an object or a Status in whatever the client
 * negotiated).
 */
import type { Readable } from 'node:stream';
import { stringify as toYaml } from 'yaml';
import type { UserInfo } from './authn.ts';
import type { Cluster } from './cluster.ts';
import { negotiate, type Representation } from './negotiate.ts';
import { encodeObject, PROTOBUF_MEDIA_TYPE, protobufSupported } from './protobuf.ts';
import type { ResourceRequestInfo } from './request-info.ts';
import type { ResourceType } from './resource-type.ts';
import { sendBody, type ResponseLike } from './respond.ts';
import { Errors } from './status.ts';
import type { KubeObject, StoredObject } from './store.ts';
import { parseIncludeObject, tableJson } from './table.ts';

export interface ApiCall {
  readonly info: ResourceRequestInfo;
  readonly type: ResourceType;
  readonly query: URLSearchParams;
  readonly accept: string | undefined;
  readonly contentType: string | undefined;
  readonly userAgent: string;
  readonly user: UserInfo;
  readonly body: Readable;
  readonly res: ResponseLike;
  readonly auditId: string;
  readonly cluster: Cluster;
  /** Aborted when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  /** The client accepts gzip and the server compresses large answers. */
  readonly gzip: boolean;
}

/** Negotiates how to answer an object (or list) of `kind`; throws 406 if nothing fits. */
export function representationFor(call: ApiCall, kind: string, allowTable = true): Representation {
  const r = negotiate(call.accept, { table: allowTable, protobuf: protobufSupported(kind) });
  if (r === null) {
    throw Errors.notAcceptable('only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
  }
  return r;
}

/** Answers one object in the negotiated representation (`json` is its cached text, if any). */
export function sendObject(call: ApiCall, status: number, object: Readonly<KubeObject>, json = JSON.stringify(object), allowTable = true): void {
  const rep = representationFor(call, String(object.kind ?? call.type.kind), allowTable);
  switch (rep.kind) {
    case 'json':
    case 'discovery':
      sendBody(call.res, status, call.auditId, 'application/json', json + '\n', call.gzip);
      return;
    case 'yaml':
      sendBody(call.res, status, call.auditId, 'application/yaml', toYaml(object), call.gzip);
      return;
    case 'protobuf':
      sendBody(call.res, status, call.auditId, PROTOBUF_MEDIA_TYPE, encodeObject(object), call.gzip);
      return;
    case 'table': {
      const include = parseIncludeObject(call.query.get('includeObject'));
      const row: StoredObject = { resource: call.type.resource, namespace: '', name: '', rv: 0, object, json };
      const body = tableJson(
        call.type,
        [row],
        { version: rep.version, includeObject: include, noHeaders: false },
        { resourceVersion: String(object.metadata.resourceVersion ?? '') },
        call.cluster.now(),
      );
      sendBody(call.res, status, call.auditId, 'application/json', body + '\n', call.gzip);
      return;
    }
  }
}

/** Answers a stored object with its cached JSON. */
export function sendStored(call: ApiCall, status: number, stored: StoredObject): void {
  sendObject(call, status, stored.object, stored.json);
}
