/**
 * `POST /.well-known/shadowplane/attest`: fresh evidence for a client nonce.
 *
 * Unauthenticated by design: the client verifies the proxy before it trusts it. The
 * report data binds SHA-256 of this listener's serving public key, the manifest digest
 * and the client's nonce, so the evidence is useless on any other TLS key, for any other
 * manifest, or for any other nonce (replay). The client sends the nonce on the very
 * connection whose certificate it checks.
 *
 * Bounded: a body of at most 1 KiB, and a few issuances in flight at once.
 */
import { createHash } from 'node:crypto';
import type { Evidence, EvidenceIssuer } from '../attestation/index.ts';
import { attestReportData, encodeEvidence } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AnyRequest } from './request.ts';
import { respondError, respondJson, type AnyResponse } from './respond.ts';

export const ATTEST_PATH = '/.well-known/shadowplane/attest';
export const ATTEST_API_VERSION = 'shadowplane.dev/v1alpha1';
const MAX_BODY = 1024;
const NONCE_BYTES = 32;

export interface AttestEndpointOptions {
  readonly issuer: EvidenceIssuer;
  readonly servingSpkiDer: Buffer;
  readonly manifestDigest: Buffer;
  readonly manifestName: string;
  readonly maxConcurrent?: number;
  readonly logger: Logger;
}

/** The JSON the endpoint answers. */
export interface AttestationResponse {
  readonly apiVersion: typeof ATTEST_API_VERSION;
  readonly kind: 'AttestationResponse';
  readonly nonce: string;
  readonly servingKeySha256: string;
  readonly manifestDigest: string;
  readonly manifestName: string;
  readonly evidence: ReturnType<typeof encodeEvidence>;
}

export function createAttestEndpoint(opts: AttestEndpointOptions): (req: AnyRequest, res: AnyResponse) => void {
  let inFlight = 0;
  const maxConcurrent = opts.maxConcurrent ?? 8;
  const spkiSha256 = createHash('sha256').update(opts.servingSpkiDer).digest('hex');

  return (req, res) => {
    if (req.method !== 'POST') {
      respondError(res, new ShadowplaneError('SP_BAD_REQUEST', 'use POST with {"nonce": "<base64 of 32 bytes>"}'));
      req.resume();
      return;
    }
    if (inFlight >= maxConcurrent) {
      respondError(res, new ShadowplaneError('SP_ATTEST_UNAVAILABLE', 'too many attestation requests in flight; retry'));
      req.resume();
      return;
    }
    inFlight++;
    readBoundedBody(req, MAX_BODY)
      .then(async (body) => {
        const nonce = parseNonce(body);
        const reportData = attestReportData({ spkiDer: opts.servingSpkiDer, manifestDigest: opts.manifestDigest, nonce });
        const evidence: Evidence = await opts.issuer.issue(reportData);
        const answer: AttestationResponse = {
          apiVersion: ATTEST_API_VERSION,
          kind: 'AttestationResponse',
          nonce: nonce.toString('base64'),
          servingKeySha256: spkiSha256,
          manifestDigest: opts.manifestDigest.toString('hex'),
          manifestName: opts.manifestName,
          evidence: encodeEvidence(evidence),
        };
        opts.logger.info({ endpoint: 'attest', platform: evidence.platform }, 'evidence issued');
        respondJson(res, answer);
      })
      .catch((err: unknown) => {
        const e = err instanceof ShadowplaneError ? err : new ShadowplaneError('SP_ATTEST_UNAVAILABLE', undefined, { cause: err });
        opts.logger.warn({ endpoint: 'attest', code: e.code }, 'evidence not issued');
        respondError(res, e);
      })
      .finally(() => {
        inFlight--;
      });
  };
}

function parseNonce(body: Buffer): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ShadowplaneError('SP_BAD_REQUEST', 'the body must be JSON');
  }
  const nonceB64 = typeof parsed === 'object' && parsed !== null ? (parsed as { nonce?: unknown }).nonce : undefined;
  if (typeof nonceB64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(nonceB64)) {
    throw new ShadowplaneError('SP_BAD_REQUEST', `nonce must be base64 of exactly ${NONCE_BYTES} bytes`);
  }
  return Buffer.from(nonceB64, 'base64');
}

/** Reads a request body, failing as soon as it exceeds `max` bytes. */
export function readBoundedBody(req: AnyRequest, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new ShadowplaneError('SP_BAD_REQUEST', `the body exceeds ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => reject(new ShadowplaneError('SP_BAD_REQUEST', 'the request body was not received')));
  });
}
