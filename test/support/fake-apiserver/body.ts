/**
 * Request bodies: read with a hard size limit before anything parses them (3 MiB, like
 * kube-apiserver's default max request body), then decoded as JSON or YAML by media type.
 */
import type { Readable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { Errors } from './status.ts';
import { decodeProtobufObject } from './protobuf-decode.ts';
import { isShadowplaneError } from '../../../src/errors.ts';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: Readable, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > limit) {
      req.destroy();
      throw Errors.tooLarge();
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

const JSON_TYPES = new Set([
  'application/json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
]);
const YAML_TYPES = new Set(['application/yaml', 'application/apply-patch+yaml']);

/**
 * Decodes a body; YAML is a superset of JSON, so apply patches sent as JSON parse too;
 * protobuf is accepted for the kinds kubectl's typed clients send that way.
 */
export function decodeBody(body: Buffer, mediaType: string): unknown {
  if (mediaType === 'application/vnd.kubernetes.protobuf') {
    try {
      return decodeProtobufObject(body);
    } catch (err) {
      if (isShadowplaneError(err)) throw Errors.badRequest(err.detail ?? 'the request body is not valid protobuf');
      throw err;
    }
  }
  const text = body.toString('utf8');
  if (JSON_TYPES.has(mediaType)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw Errors.badRequest('the request body is not valid JSON');
    }
  }
  if (YAML_TYPES.has(mediaType)) {
    try {
      return parseYaml(text, { maxAliasCount: 100, uniqueKeys: true }) as unknown;
    } catch {
      throw Errors.badRequest('the request body is not valid YAML');
    }
  }
  throw Errors.unsupportedMediaType(mediaType === '' ? '<none>' : mediaType);
}
