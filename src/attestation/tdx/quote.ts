/**
 * Intel TDX quotes, versions 4 and 5 (Intel TDX DCAP Quote Generation Library, appendix
 * "Quote Format"), as pure bytes-in / values-out code. Little-endian lengths throughout.
 *
 *   header (48) | [v5: body type u16, body size u32] | TD body (584, or 648 for a TDX 1.5 body)
 *   | signature data size u32 | ECDSA signature (64, r‖s) | attestation key (64, x‖y)
 *   | certification data: type u16 = 6, size u32,
 *       QE report (384) | QE report signature (64) | QE auth data size u16 | auth data
 *       | certification data: type u16 = 5, size u32, PCK certificate chain (PEM)
 *
 * Invariant: every length read from the quote is checked against the bytes that remain
 * before it is used; nothing is read outside the buffer. The signature data must be
 * exactly the sizes it declares; trailing bytes after it are ignored (they are not signed,
 * and quote buffers may be padded). PEM whitespace is not canonicalised: only the DER
 * inside matters, and that is signed by Intel.
 */
import { ShadowplaneError } from '../../errors.ts';

export const TDX_HEADER_SIZE = 48;
export const TDX_BODY_V4_SIZE = 584;
export const TDX_BODY_V15_SIZE = 648;
export const QE_REPORT_SIZE = 384;
/** Intel's QE vendor ID. */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
/** TD_ATTRIBUTES bits (Intel TDX module ABI, TDATTRIBUTES) that the verifier judges, as bits of the little-endian u64. */
export const TD_ATTRIBUTE = {
  debug: 1n << 0n,
  septVeDisable: 1n << 28n,
  migratable: 1n << 29n,
} as const;
const ATT_KEY_ECDSA_P256 = 2;
const TEE_TYPE_TDX = 0x81;
const MAX_PCK_CHAIN_BYTES = 16 * 1024;

export interface TdxBody {
  readonly teeTcbSvn: Buffer;
  readonly mrSeam: Buffer;
  readonly mrSignerSeam: Buffer;
  readonly seamAttributes: Buffer;
  readonly tdAttributes: Buffer;
  readonly xfam: Buffer;
  readonly mrtd: Buffer;
  readonly mrConfigId: Buffer;
  readonly mrOwner: Buffer;
  readonly mrOwnerConfig: Buffer;
  readonly rtmr: readonly [Buffer, Buffer, Buffer, Buffer];
  readonly reportData: Buffer;
  /** TDX 1.5 body only. */
  readonly teeTcbSvn2: Buffer | undefined;
  readonly mrServiceTd: Buffer | undefined;
}

/** The SGX REPORT body of the quoting enclave. */
export interface QeReport {
  readonly raw: Buffer;
  readonly cpuSvn: Buffer;
  readonly miscSelect: Buffer;
  readonly attributes: Buffer;
  readonly mrEnclave: Buffer;
  readonly mrSigner: Buffer;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly reportData: Buffer;
}

export interface TdxQuote {
  readonly version: 4 | 5;
  readonly qeVendorId: Buffer;
  readonly body: TdxBody;
  /** Header and body (and for v5 the body descriptor): what the attestation key signed. */
  readonly signed: Buffer;
  /** r‖s, big-endian. */
  readonly signature: Buffer;
  /** x‖y of the P-256 attestation key. */
  readonly attestationKey: Buffer;
  readonly qeReport: QeReport;
  readonly qeReportSignature: Buffer;
  readonly qeAuthData: Buffer;
  /** PEM text of the PCK certificate chain, leaf first. */
  readonly pckChainPem: string;
}

function bad(why: string): never {
  throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `TDX quote: ${why}`);
}

function take(b: Buffer, offset: number, length: number, what: string): Buffer {
  if (length < 0 || offset + length > b.length) bad(`${what} runs past the end of the quote`);
  return b.subarray(offset, offset + length);
}

function parseBody(b: Buffer, withV15: boolean): TdxBody {
  const f = (o: number, n: number): Buffer => b.subarray(o, o + n);
  return {
    teeTcbSvn: f(0, 16),
    mrSeam: f(16, 48),
    mrSignerSeam: f(64, 48),
    seamAttributes: f(112, 8),
    tdAttributes: f(120, 8),
    xfam: f(128, 8),
    mrtd: f(136, 48),
    mrConfigId: f(184, 48),
    mrOwner: f(232, 48),
    mrOwnerConfig: f(280, 48),
    rtmr: [f(328, 48), f(376, 48), f(424, 48), f(472, 48)],
    reportData: f(520, 64),
    teeTcbSvn2: withV15 ? f(584, 16) : undefined,
    mrServiceTd: withV15 ? f(600, 48) : undefined,
  };
}

/** Parses an SGX REPORT body (384 bytes). */
export function parseQeReport(raw: Buffer): QeReport {
  if (raw.length !== QE_REPORT_SIZE) bad('QE report is not 384 bytes');
  return {
    raw,
    cpuSvn: raw.subarray(0, 16),
    miscSelect: raw.subarray(16, 20),
    attributes: raw.subarray(48, 64),
    mrEnclave: raw.subarray(64, 96),
    mrSigner: raw.subarray(128, 160),
    isvProdId: raw.readUInt16LE(256),
    isvSvn: raw.readUInt16LE(258),
    reportData: raw.subarray(320, 384),
  };
}

/** Parses a TDX quote v4 or v5. Structure errors give SP_ATTEST_EVIDENCE_MALFORMED. */
export function parseTdxQuote(quote: Buffer): TdxQuote {
  const q = Buffer.from(quote); // snapshot
  if (q.length < TDX_HEADER_SIZE + TDX_BODY_V4_SIZE + 4) bad(`${q.length} bytes is too short`);
  const version = q.readUInt16LE(0);
  if (version !== 4 && version !== 5) throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `TDX quote version ${version} is not supported (4 and 5 are)`);
  const attKeyType = q.readUInt16LE(2);
  if (attKeyType !== ATT_KEY_ECDSA_P256) throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `TDX attestation key type ${attKeyType} is not ECDSA P-256 (2)`);
  const teeType = q.readUInt32LE(4);
  if (teeType !== TEE_TYPE_TDX) bad(`TEE type 0x${teeType.toString(16)} is not TDX (0x81)`);

  let bodyStart = TDX_HEADER_SIZE;
  let bodySize = TDX_BODY_V4_SIZE;
  if (version === 5) {
    const bodyType = q.readUInt16LE(48);
    bodySize = q.readUInt32LE(50);
    bodyStart = TDX_HEADER_SIZE + 6;
    if (!((bodyType === 2 && bodySize === TDX_BODY_V4_SIZE) || (bodyType === 3 && bodySize === TDX_BODY_V15_SIZE))) {
      throw new ShadowplaneError('SP_ATTEST_PLATFORM_UNSUPPORTED', `TDX quote v5 body type ${bodyType} of ${bodySize} bytes is not supported (2/584, 3/648)`);
    }
  }
  const body = take(q, bodyStart, bodySize, 'TD body');
  const signedEnd = bodyStart + bodySize;
  const sigDataSize = take(q, signedEnd, 4, 'signature data size').readUInt32LE(0);
  const sd = take(q, signedEnd + 4, sigDataSize, 'signature data');
  if (sd.length < 64 + 64 + 6) bad('signature data too short');
  const certType = sd.readUInt16LE(128);
  const certSize = sd.readUInt32LE(130);
  if (certType !== 6) bad(`certification data type ${certType} is not 6 (QE report certification data)`);
  const cert = take(sd, 134, certSize, 'certification data');
  const qeReport = parseQeReport(take(cert, 0, QE_REPORT_SIZE, 'QE report'));
  const qeReportSignature = take(cert, QE_REPORT_SIZE, 64, 'QE report signature');
  const authSize = take(cert, QE_REPORT_SIZE + 64, 2, 'QE auth data size').readUInt16LE(0);
  const qeAuthData = take(cert, QE_REPORT_SIZE + 66, authSize, 'QE auth data');
  const inner = QE_REPORT_SIZE + 66 + authSize;
  const innerType = take(cert, inner, 2, 'PCK certification data type').readUInt16LE(0);
  const innerSize = take(cert, inner + 2, 4, 'PCK certification data size').readUInt32LE(0);
  if (innerType !== 5) bad(`inner certification data type ${innerType} is not 5 (PCK certificate chain)`);
  if (innerSize > MAX_PCK_CHAIN_BYTES) bad(`PCK certificate chain larger than ${MAX_PCK_CHAIN_BYTES} bytes`);
  const chain = take(cert, inner + 6, innerSize, 'PCK certificate chain');
  // The certification data is not signed: accept only its one canonical layout, with no
  // slack in which bytes could hide, and a chain that is PEM blocks and whitespace only.
  if (inner + 6 + innerSize !== cert.length || 134 + certSize !== sd.length) bad('certification data sizes do not add up');
  const pem = chain.toString('latin1').replace(/\0+$/, '');
  if (pem.replace(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g, '').trim() !== '') {
    bad('the PCK certificate chain holds something other than PEM certificates');
  }

  return {
    version,
    qeVendorId: q.subarray(12, 28),
    body: parseBody(body, bodySize === TDX_BODY_V15_SIZE),
    signed: q.subarray(0, signedEnd),
    signature: sd.subarray(0, 64),
    attestationKey: sd.subarray(64, 128),
    qeReport,
    qeReportSignature,
    qeAuthData,
    pckChainPem: pem,
  };
}
