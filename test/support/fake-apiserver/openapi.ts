/**
 * The OpenAPI v3 documents kubectl 1.27+ needs, and no more:
 *
 * - `GET /openapi/v3`: the root index (`{"paths":{"api/v1":{"serverRelativeURL":…}}}`);
 * - `GET /openapi/v3/api/v1`: a document whose PATCH operations carry
 *   `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter. kubectl's
 *   QueryParamVerifierV3 looks exactly for that to decide the server validates fields
 *   (so it sends `fieldValidation=Strict` instead of validating client-side against a
 *   schema).
 *
 * - `GET /openapi/v2`: the same operations as a Swagger 2.0 document, in the gnostic
 *   `openapi_v2.Document` protobuf kubectl asks for
 *   (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) or as JSON. kubectl
 *   1.27's apply refuses to run without it.
 *
 * The schema sections are deliberately empty: with no schema for the kind, `kubectl
 * apply` computes strategic merge patches from its compiled-in Go types, which carry the
 * same patch strategies as the real schema.
 */
import { createHash } from 'node:crypto';
import type { ServerVersion } from './discovery.ts';
import type { ResourceType } from './resource-type.ts';
import { ProtoWriter } from './protobuf.ts';
import { parseAccept } from './negotiate.ts';

/** What clients ask for (the '@' form) and what kube-openapi answers (Go's mime parser rejects '@'). */
const V2_PROTOBUF_ACCEPT = new Set(['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf']);
const V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export interface OpenApiAnswer {
  readonly contentType: string;
  readonly body: string | Buffer;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'] as const;

function patchOperation(t: ResourceType): Record<string, unknown> {
  return {
    tags: ['core_v1'],
    description: `partially update the specified ${t.kind}`,
    operationId: `patchCoreV1${t.namespaced ? 'Namespaced' : ''}${t.kind}`,
    parameters: QUERY_PARAMS.map((name) => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true } })),
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': 'patch',
    'x-kubernetes-group-version-kind': { group: '', version: 'v1', kind: t.kind },
  };
}

function coreV1Document(types: readonly ResourceType[], version: ServerVersion): string {
  const paths: Record<string, unknown> = {};
  for (const t of types) {
    const path = t.namespaced ? `/api/v1/namespaces/{namespace}/${t.resource}/{name}` : `/api/v1/${t.resource}/{name}`;
    paths[path] = {
      patch: patchOperation(t),
      parameters: [
        { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } },
        ...(t.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }] : []),
      ],
    };
  }
  return JSON.stringify({ openapi: '3.0.0', info: { title: 'Kubernetes', version: version.gitVersion }, paths, components: { schemas: {} } });
}

function v2Path(t: ResourceType): string {
  return t.namespaced ? `/api/v1/namespaces/{namespace}/${t.resource}/{name}` : `/api/v1/${t.resource}/{name}`;
}

function gvkYaml(t: ResourceType): string {
  return `group: ""\nkind: ${t.kind}\nversion: v1\n`;
}

/** Swagger 2.0 as JSON. */
function v2Json(types: readonly ResourceType[], version: ServerVersion): string {
  const paths: Record<string, unknown> = {};
  for (const t of types) {
    paths[v2Path(t)] = {
      patch: {
        description: `partially update the specified ${t.kind}`,
        operationId: `patchCoreV1${t.namespaced ? 'Namespaced' : ''}${t.kind}`,
        parameters: QUERY_PARAMS.map((name) => ({ uniqueItems: true, type: name === 'force' ? 'boolean' : 'string', name, in: 'query' })),
        responses: { '200': { description: 'OK' } },
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: '', kind: t.kind, version: 'v1' },
      },
      parameters: [
        { uniqueItems: true, type: 'string', name: 'name', in: 'path', required: true },
        ...(t.namespaced ? [{ uniqueItems: true, type: 'string', name: 'namespace', in: 'path', required: true }] : []),
      ],
    };
  }
  return JSON.stringify({ swagger: '2.0', info: { title: 'Kubernetes', version: version.gitVersion }, paths, definitions: {} });
}

/**
 * Swagger 2.0 as a gnostic `openapi_v2.Document` (field numbers of gnostic's
 * OpenAPIv2.proto: Document.swagger=1 info=2 paths=8 definitions=9; PathItem.patch=8
 * parameters=9; Operation.description=3 operation_id=5 parameters=8 responses=9
 * vendor_extension=13; query parameters as NonBodyParameter.query_parameter_sub_schema=3,
 * path parameters as path_parameter_sub_schema=4; vendor extensions as NamedAny with the
 * value's YAML).
 */
function v2Protobuf(types: readonly ResourceType[], version: ServerVersion): Buffer {
  const doc = new ProtoWriter().string(1, '2.0').message(2, (info) => info.string(1, 'Kubernetes').string(2, version.gitVersion));
  doc.message(8, (paths) => {
    for (const t of types) {
      paths.message(2, (named) => {
        named.string(1, v2Path(t));
        named.message(2, (item) => {
          item.message(8, (op) => {
            op.string(3, `partially update the specified ${t.kind}`).string(5, `patchCoreV1${t.namespaced ? 'Namespaced' : ''}${t.kind}`);
            for (const name of QUERY_PARAMS) {
              op.message(8, (pi) =>
                pi.message(1, (p) =>
                  p.message(2, (nb) => nb.message(3, (q) => q.string(2, 'query').string(4, name).string(6, name === 'force' ? 'boolean' : 'string').bool(20, true))),
                ),
              );
            }
            op.message(9, (responses) => responses.message(1, (code) => code.string(1, '200').message(2, (rv) => rv.message(1, (r) => r.string(1, 'OK')))));
            op.message(13, (ext) => ext.string(1, 'x-kubernetes-action').message(2, (any) => any.string(2, 'patch\n')));
            op.message(13, (ext) => ext.string(1, 'x-kubernetes-group-version-kind').message(2, (any) => any.string(2, gvkYaml(t))));
          });
          for (const name of t.namespaced ? ['name', 'namespace'] : ['name']) {
            item.message(9, (pi) =>
              pi.message(1, (p) => p.message(2, (nb) => nb.message(4, (q) => q.bool(1, true).string(2, 'path').string(4, name).string(5, 'string').bool(19, true)))),
            );
          }
        });
      });
    }
  });
  doc.message(9, () => undefined);
  return doc.finish();
}

export function openApiAnswer(path: string, accept: string | undefined, types: readonly ResourceType[], version: ServerVersion): OpenApiAnswer | null {
  if (path === '/openapi/v2') {
    const wantsProto = parseAccept(accept).some((c) => V2_PROTOBUF_ACCEPT.has(c.type));
    return wantsProto ? { contentType: V2_PROTOBUF, body: v2Protobuf(types, version) } : { contentType: 'application/json', body: v2Json(types, version) };
  }
  if (path === '/openapi/v3/api/v1') return { contentType: 'application/json', body: coreV1Document(types, version) };
  if (path === '/openapi/v3') {
    const hash = createHash('sha512').update(coreV1Document(types, version)).digest('hex').toUpperCase();
    return { contentType: 'application/json', body: JSON.stringify({ paths: { 'api/v1': { serverRelativeURL: `/openapi/v3/api/v1?hash=${hash}` } } }) };
  }
  return null;
}
