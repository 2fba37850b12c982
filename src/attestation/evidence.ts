/**
 * Evidence on the wire: a JSON object with base64 binaries, bounded before it is decoded.
 *
 * ```json
 * { "platform": "sev-snp", "report": "<base64>", "certificates": ["<base64 DER>", ...],
 *   "collateral": { "crls": ["<base64 DER>"], "tdxTcbInfo": "<json text>",
 *                   "tdxQeIdentity": "<json text>", "tcbSigningChain": ["<base64 DER>"] } }
 * ```
 *
 * Invariant: `decodeEvidence` and `checkEvidence` enforce EVIDENCE_LIMITS on every field,
 * so every later parser sees inputs of bounded size.
 */
import { ShadowplaneError } from '../errors.ts';
import { PLATFORMS, type Collateral, type Evidence, type Platform } from './types.ts';

export const EVIDENCE_LIMITS = {
  /** Serialised JSON text, checked by `parseEvidenceJson` before JSON.parse. */
  jsonBytes: 512 * 1024,
  reportBytes: 8 * 1024,
  certificates: 8,
  certificateBytes: 16 * 1024,
  crls: 8,
  crlBytes: 128 * 1024,
  tcbInfoBytes: 64 * 1024,
  qeIdentityBytes: 16 * 1024,
} as const;

export interface EvidenceJson {
  platform: Platform;
  report: string;
  certificates: string[];
  collateral?: CollateralJson;
}

export interface CollateralJson {
  crls?: string[];
  tdxTcbInfo?: string;
  tdxQeIdentity?: string;
  tcbSigningChain?: string[];
}

const bad = (why: string): never => {
  throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', why);
};

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(v: unknown, what: string, maxBytes: number): Buffer {
  if (typeof v !== 'string') return bad(`${what} must be a base64 string`);
  if (v.length > Math.ceil(maxBytes / 3) * 4) return bad(`${what} is larger than ${maxBytes} bytes`);
  if (!B64.test(v)) return bad(`${what} is not canonical base64`);
  const out = Buffer.from(v, 'base64');
  if (out.length === 0) return bad(`${what} is empty`);
  return out;
}

function b64List(v: unknown, what: string, maxCount: number, maxBytes: number): Buffer[] {
  if (!Array.isArray(v)) return bad(`${what} must be a list`);
  if (v.length > maxCount) return bad(`${what} has more than ${maxCount} entries`);
  return v.map((x: unknown, i) => b64(x, `${what}[${i}]`, maxBytes));
}

function text(v: unknown, what: string, maxBytes: number): string {
  if (typeof v !== 'string') return bad(`${what} must be a string`);
  if (Buffer.byteLength(v) > maxBytes) return bad(`${what} is larger than ${maxBytes} bytes`);
  return v;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${what} has an unknown field`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkBuffer(b: unknown, what: string, maxBytes: number): Buffer {
  if (!Buffer.isBuffer(b)) return bad(`${what} must be bytes`);
  if (b.length === 0 || b.length > maxBytes) return bad(`${what} must be 1 to ${maxBytes} bytes`);
  return b;
}

/**
 * Checks an in-memory Evidence against the same limits as `decodeEvidence` and returns a
 * frozen snapshot (copies of the buffers), so that nothing can change it mid-verification.
 */
export function checkEvidence(e: Evidence): Evidence {
  if (!isRecord(e)) return bad('evidence must be an object');
  if (!(PLATFORMS as readonly unknown[]).includes(e.platform)) return bad('unknown platform');
  const report = Buffer.from(checkBuffer(e.report, 'report', EVIDENCE_LIMITS.reportBytes));
  if (!Array.isArray(e.certificates) || e.certificates.length > EVIDENCE_LIMITS.certificates) {
    return bad(`certificates must be a list of at most ${EVIDENCE_LIMITS.certificates}`);
  }
  const certificates = e.certificates.map((c, i) => Buffer.from(checkBuffer(c, `certificates[${i}]`, EVIDENCE_LIMITS.certificateBytes)));
  let collateral: Collateral | undefined;
  if (e.collateral !== undefined) {
    const c = e.collateral;
    if (!isRecord(c)) return bad('collateral must be an object');
    const list = (v: unknown, what: string, n: number, max: number): Buffer[] | undefined => {
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || v.length > n) return bad(`${what} must be a list of at most ${n}`);
      return v.map((x: unknown, i) => Buffer.from(checkBuffer(x, `${what}[${i}]`, max)));
    };
    collateral = Object.freeze({
      ...(c.crls !== undefined ? { crls: list(c.crls, 'collateral.crls', EVIDENCE_LIMITS.crls, EVIDENCE_LIMITS.crlBytes) } : {}),
      ...(c.tdxTcbInfo !== undefined ? { tdxTcbInfo: text(c.tdxTcbInfo, 'collateral.tdxTcbInfo', EVIDENCE_LIMITS.tcbInfoBytes) } : {}),
      ...(c.tdxQeIdentity !== undefined ? { tdxQeIdentity: text(c.tdxQeIdentity, 'collateral.tdxQeIdentity', EVIDENCE_LIMITS.qeIdentityBytes) } : {}),
      ...(c.tcbSigningChain !== undefined
        ? { tcbSigningChain: list(c.tcbSigningChain, 'collateral.tcbSigningChain', EVIDENCE_LIMITS.certificates, EVIDENCE_LIMITS.certificateBytes) }
        : {}),
    });
  }
  return Object.freeze({ platform: e.platform, report, certificates: Object.freeze(certificates), ...(collateral !== undefined ? { collateral } : {}) });
}

/** Evidence → JSON-ready object (base64 binaries). */
export function encodeEvidence(e: Evidence): EvidenceJson {
  const out: EvidenceJson = {
    platform: e.platform,
    report: e.report.toString('base64'),
    certificates: e.certificates.map((c) => c.toString('base64')),
  };
  if (e.collateral !== undefined) {
    const c = e.collateral;
    out.collateral = {
      ...(c.crls !== undefined ? { crls: c.crls.map((x) => x.toString('base64')) } : {}),
      ...(c.tdxTcbInfo !== undefined ? { tdxTcbInfo: c.tdxTcbInfo } : {}),
      ...(c.tdxQeIdentity !== undefined ? { tdxQeIdentity: c.tdxQeIdentity } : {}),
      ...(c.tcbSigningChain !== undefined ? { tcbSigningChain: c.tcbSigningChain.map((x) => x.toString('base64')) } : {}),
    };
  }
  return out;
}

/** Parsed JSON (untrusted) → Evidence. Every field is size-checked before it is decoded. */
export function decodeEvidence(json: unknown): Evidence {
  if (!isRecord(json)) return bad('evidence must be a JSON object');
  onlyKeys(json, ['platform', 'report', 'certificates', 'collateral'], 'evidence');
  if (!(PLATFORMS as readonly unknown[]).includes(json.platform)) return bad(`platform must be one of: ${PLATFORMS.join(', ')}`);
  const report = b64(json.report, 'report', EVIDENCE_LIMITS.reportBytes);
  const certificates = b64List(json.certificates ?? [], 'certificates', EVIDENCE_LIMITS.certificates, EVIDENCE_LIMITS.certificateBytes);
  let collateral: Collateral | undefined;
  if (json.collateral !== undefined) {
    const c = json.collateral;
    if (!isRecord(c)) return bad('collateral must be an object');
    onlyKeys(c, ['crls', 'tdxTcbInfo', 'tdxQeIdentity', 'tcbSigningChain'], 'collateral');
    collateral = {
      ...(c.crls !== undefined ? { crls: b64List(c.crls, 'collateral.crls', EVIDENCE_LIMITS.crls, EVIDENCE_LIMITS.crlBytes) } : {}),
      ...(c.tdxTcbInfo !== undefined ? { tdxTcbInfo: text(c.tdxTcbInfo, 'collateral.tdxTcbInfo', EVIDENCE_LIMITS.tcbInfoBytes) } : {}),
      ...(c.tdxQeIdentity !== undefined ? { tdxQeIdentity: text(c.tdxQeIdentity, 'collateral.tdxQeIdentity', EVIDENCE_LIMITS.qeIdentityBytes) } : {}),
      ...(c.tcbSigningChain !== undefined
        ? { tcbSigningChain: b64List(c.tcbSigningChain, 'collateral.tcbSigningChain', EVIDENCE_LIMITS.certificates, EVIDENCE_LIMITS.certificateBytes) }
        : {}),
    };
  }
  return checkEvidence({ platform: json.platform as Platform, report, certificates, ...(collateral !== undefined ? { collateral } : {}) });
}

/** Bounded JSON text → Evidence: the size check happens before JSON.parse. */
export function parseEvidenceJson(input: string | Buffer): Evidence {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > EVIDENCE_LIMITS.jsonBytes) return bad(`evidence JSON is larger than ${EVIDENCE_LIMITS.jsonBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(typeof input === 'string' ? input : input.toString('utf8')) as unknown;
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'evidence is not valid JSON', { cause: err });
  }
  return decodeEvidence(json);
}
