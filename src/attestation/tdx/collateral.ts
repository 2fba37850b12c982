/**
 * Intel PCS collateral for TDX: the TCB Info (v3, id "TDX") and the QE Identity (v2, id
 * "TD_QE"). Each arrives as `{"<member>":{...},"signature":"<hex r‖s>"}` where the signature
 * (ECDSA P-256/SHA-256 by the Intel SGX TCB Signing key) covers the exact bytes of the
 * member's JSON value as served. So the raw span is cut out of the text before anything
 * is parsed, and only the parsed form of those signed bytes is used afterwards.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ShadowplaneError } from '../../errors.ts';

const CODE = 'SP_ATTEST_COLLATERAL_INVALID';
const MAX_DEPTH = 32;

function bad(what: string, why: string): never {
  throw new ShadowplaneError(CODE, `${what}: ${why}`);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ShadowplaneError(CODE, `${what}: not JSON`, { cause: err });
  }
}

/** Skips one JSON value starting at `i` (after whitespace); returns the index after it. */
function skipValue(t: string, i: number, what: string): number {
  let depth = 0;
  let inString = false;
  for (let j = i; j < t.length; j++) {
    const c = t[j]!;
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return j + 1;
      }
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > MAX_DEPTH) bad(what, 'nested too deeply');
    } else if (c === '}' || c === ']') {
      if (depth === 0) return j;
      if (--depth === 0) return j + 1;
    } else if (depth === 0 && (c === ',' || /\s/.test(c))) return j;
  }
  if (depth !== 0 || inString) bad(what, 'unterminated JSON');
  return t.length;
}

/**
 * Cuts the signed member out of a PCS response: returns the raw text of `member`'s value
 * and the signature bytes. The document must be an object with exactly `member` and
 * `signature`.
 */
export function splitSignedJson(text: string, member: string, what: string): { readonly signed: string; readonly signature: Buffer } {
  const parsed = parseJson(text, what);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) bad(what, 'not a JSON object');
  const keys = Object.keys(parsed);
  if (keys.length !== 2 || !keys.includes(member) || !keys.includes('signature')) bad(what, `expected exactly "${member}" and "signature"`);
  const sigHex = (parsed as Record<string, unknown>).signature;
  if (typeof sigHex !== 'string' || !/^[0-9a-fA-F]{128}$/.test(sigHex)) bad(what, 'signature is not 64 bytes of hex');

  // Walk the top-level object to find the raw span of the member's value.
  let i = text.indexOf('{') + 1;
  while (i > 0 && i < text.length) {
    while (/\s/.test(text[i] ?? '')) i++;
    if (text[i] === '}') break;
    if (text[i] === ',') {
      i++;
      continue;
    }
    const keyEnd = skipValue(text, i, what);
    if (text[i] !== '"' || keyEnd <= i) bad(what, 'malformed object');
    const key = parseJson(text.slice(i, keyEnd), what);
    i = keyEnd;
    while (/\s/.test(text[i] ?? '')) i++;
    if (text[i] !== ':') bad(what, 'malformed object');
    i++;
    while (/\s/.test(text[i] ?? '')) i++;
    const valueEnd = skipValue(text, i, what);
    if (valueEnd <= i) bad(what, 'malformed object');
    if (key === member) return { signed: text.slice(i, valueEnd), signature: Buffer.from(sigHex, 'hex') };
    i = valueEnd;
  }
  return bad(what, `member "${member}" not found`);
}

/** Verifies a PCS signature (r‖s, P-256/SHA-256) over the signed text. */
export function verifyPcsSignature(signed: string, signature: Buffer, key: KeyObject, what: string): void {
  let ok: boolean;
  try {
    ok = cryptoVerify('sha256', Buffer.from(signed, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    ok = false;
  }
  if (!ok) bad(what, 'the signature by the Intel TCB signing key does not verify');
}

// Typed readers ------------------------------------------------------------------------

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(what, 'expected an object');
  return v as Json;
}
function arr(v: unknown, what: string, max = 256): unknown[] {
  if (!Array.isArray(v) || v.length > max) bad(what, `expected a list of at most ${max}`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length > 4096) bad(what, 'expected a string');
  return v;
}
function int(v: unknown, what: string, max = 0xffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(what, `expected an integer from 0 to ${max}`);
  return v;
}
function hexBytes(v: unknown, what: string, length: number): Buffer {
  const s = str(v, what);
  if (!/^[0-9a-fA-F]*$/.test(s) || s.length !== length * 2) bad(what, `expected ${length} bytes of hex`);
  return Buffer.from(s, 'hex');
}
function date(v: unknown, what: string): Date {
  const d = new Date(str(v, what));
  if (Number.isNaN(d.getTime())) bad(what, 'expected an ISO date');
  return d;
}
function status(v: unknown, what: string): string {
  const s = str(v, what);
  if (!/^[A-Za-z]{1,64}$/.test(s)) bad(what, 'expected a TCB status');
  return s;
}
function advisories(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  return arr(v, what, 512).map((x, i) => str(x, `${what}[${i}]`).slice(0, 64));
}

export interface TcbLevel {
  readonly sgxComponents: readonly number[];
  readonly pceSvn: number;
  readonly tdxComponents: readonly number[];
  readonly status: string;
  readonly advisoryIds: readonly string[];
}

export interface ModuleIdentity {
  readonly id: string;
  readonly mrSigner: Buffer;
  readonly attributes: Buffer;
  readonly attributesMask: Buffer;
  readonly tcbLevels: ReadonlyArray<{ readonly isvSvn: number; readonly status: string; readonly advisoryIds: readonly string[] }>;
}

export interface TdxTcbInfo {
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  /** Which TCB evaluation (recovery) this document reflects; only ever grows. Reference values may set a floor. */
  readonly tcbEvaluationDataNumber: number;
  readonly fmspc: string;
  readonly pceId: string;
  readonly tdxModule: { readonly mrSigner: Buffer; readonly attributes: Buffer; readonly attributesMask: Buffer };
  readonly moduleIdentities: readonly ModuleIdentity[];
  readonly tcbLevels: readonly TcbLevel[];
}

export interface QeIdentity {
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  /** As in TdxTcbInfo. */
  readonly tcbEvaluationDataNumber: number;
  readonly miscSelect: Buffer;
  readonly miscSelectMask: Buffer;
  readonly attributes: Buffer;
  readonly attributesMask: Buffer;
  readonly mrSigner: Buffer;
  readonly isvProdId: number;
  readonly tcbLevels: ReadonlyArray<{ readonly isvSvn: number; readonly status: string; readonly advisoryIds: readonly string[] }>;
}

function components(v: unknown, what: string): number[] {
  const list = arr(v, what, 16);
  if (list.length !== 16) bad(what, 'expected 16 components');
  return list.map((c, i) => int(obj(c, `${what}[${i}]`).svn, `${what}[${i}].svn`, 255));
}

/** Parses the signed `tcbInfo` member (TDX, version 3). */
export function parseTdxTcbInfo(signed: string): TdxTcbInfo {
  const W = 'TCB Info';
  const t = obj(parseJson(signed, W), W);
  if (t.id !== 'TDX' || t.version !== 3) bad(W, 'expected id "TDX" and version 3');
  const mod = obj(t.tdxModule, `${W}.tdxModule`);
  const moduleIdentities = t.tdxModuleIdentities === undefined
    ? []
    : arr(t.tdxModuleIdentities, `${W}.tdxModuleIdentities`, 64).map((m, i): ModuleIdentity => {
        const w = `${W}.tdxModuleIdentities[${i}]`;
        const o = obj(m, w);
        return {
          id: str(o.id, `${w}.id`),
          mrSigner: hexBytes(o.mrsigner, `${w}.mrsigner`, 48),
          attributes: hexBytes(o.attributes, `${w}.attributes`, 8),
          attributesMask: hexBytes(o.attributesMask, `${w}.attributesMask`, 8),
          tcbLevels: arr(o.tcbLevels, `${w}.tcbLevels`).map((l, j) => {
            const lo = obj(l, `${w}.tcbLevels[${j}]`);
            return {
              isvSvn: int(obj(lo.tcb, `${w}.tcbLevels[${j}].tcb`).isvsvn, `${w}.tcbLevels[${j}].tcb.isvsvn`, 255),
              status: status(lo.tcbStatus, `${w}.tcbLevels[${j}].tcbStatus`),
              advisoryIds: advisories(lo.advisoryIDs, `${w}.tcbLevels[${j}].advisoryIDs`),
            };
          }),
        };
      });
  const tcbLevels = arr(t.tcbLevels, `${W}.tcbLevels`).map((l, i): TcbLevel => {
    const w = `${W}.tcbLevels[${i}]`;
    const o = obj(l, w);
    const tcb = obj(o.tcb, `${w}.tcb`);
    return {
      sgxComponents: components(tcb.sgxtcbcomponents, `${w}.tcb.sgxtcbcomponents`),
      pceSvn: int(tcb.pcesvn, `${w}.tcb.pcesvn`),
      tdxComponents: components(tcb.tdxtcbcomponents, `${w}.tcb.tdxtcbcomponents`),
      status: status(o.tcbStatus, `${w}.tcbStatus`),
      advisoryIds: advisories(o.advisoryIDs, `${w}.advisoryIDs`),
    };
  });
  if (tcbLevels.length === 0) bad(W, 'no TCB levels');
  return {
    issueDate: date(t.issueDate, `${W}.issueDate`),
    nextUpdate: date(t.nextUpdate, `${W}.nextUpdate`),
    tcbEvaluationDataNumber: int(t.tcbEvaluationDataNumber, `${W}.tcbEvaluationDataNumber`, 0xffffffff),
    fmspc: hexBytes(t.fmspc, `${W}.fmspc`, 6).toString('hex'),
    pceId: hexBytes(t.pceId, `${W}.pceId`, 2).toString('hex'),
    tdxModule: {
      mrSigner: hexBytes(mod.mrsigner, `${W}.tdxModule.mrsigner`, 48),
      attributes: hexBytes(mod.attributes, `${W}.tdxModule.attributes`, 8),
      attributesMask: hexBytes(mod.attributesMask, `${W}.tdxModule.attributesMask`, 8),
    },
    moduleIdentities,
    tcbLevels,
  };
}

/** Parses the signed `enclaveIdentity` member (TD_QE, version 2). */
export function parseQeIdentity(signed: string): QeIdentity {
  const W = 'QE Identity';
  const e = obj(parseJson(signed, W), W);
  if (e.id !== 'TD_QE' || e.version !== 2) bad(W, 'expected id "TD_QE" and version 2');
  return {
    issueDate: date(e.issueDate, `${W}.issueDate`),
    nextUpdate: date(e.nextUpdate, `${W}.nextUpdate`),
    tcbEvaluationDataNumber: int(e.tcbEvaluationDataNumber, `${W}.tcbEvaluationDataNumber`, 0xffffffff),
    miscSelect: hexBytes(e.miscselect, `${W}.miscselect`, 4),
    miscSelectMask: hexBytes(e.miscselectMask, `${W}.miscselectMask`, 4),
    attributes: hexBytes(e.attributes, `${W}.attributes`, 16),
    attributesMask: hexBytes(e.attributesMask, `${W}.attributesMask`, 16),
    mrSigner: hexBytes(e.mrsigner, `${W}.mrsigner`, 32),
    isvProdId: int(e.isvprodid, `${W}.isvprodid`),
    tcbLevels: arr(e.tcbLevels, `${W}.tcbLevels`).map((l, j) => {
      const lo = obj(l, `${W}.tcbLevels[${j}]`);
      return {
        isvSvn: int(obj(lo.tcb, `${W}.tcbLevels[${j}].tcb`).isvsvn, `${W}.tcbLevels[${j}].tcb.isvsvn`),
        status: status(lo.tcbStatus, `${W}.tcbLevels[${j}].tcbStatus`),
        advisoryIds: advisories(lo.advisoryIDs, `${W}.tcbLevels[${j}].advisoryIDs`),
      };
    }),
  };
}
