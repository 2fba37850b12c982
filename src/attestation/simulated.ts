/**
 * The simulated platform: evidence laid out exactly like an SEV-SNP ATTESTATION_REPORT and
 * signed by a locally generated chain shaped exactly like AMD's (RSA-4096 ARK and ASK
 * signing RSASSA-PSS/SHA-384, an EC P-384 VCEK with the AMD TCB and hwID extensions), so
 * that verification runs the very same code as for real hardware.
 *
 * It is for development and tests only. Its ARK is not an AMD root: verifiers refuse it
 * unless `allowSimulated` is set, and then accept only the ARK whose SHA-256 fingerprint
 * the reference values pin. Every name in the chain says "Simulated" / "NOT A TEE".
 */
import { createHash, generateKeyPair, randomBytes, sign, createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeOutputFile } from '../config/output-file.ts';
import { ShadowplaneError } from '../errors.ts';
import { SNP_OFFSET, SNP_REPORT_SIZE, SNP_SIGNED_LENGTH, encodeTcb } from './snp/report.ts';
import { AMD_EXT, endorsementExtensionSpecs } from './snp/endorsement.ts';
import { basicConstraints, buildCertificate, dn, keyUsage, subjectKeyIdentifier } from './x509-build.ts';
import { derToPem, parseCertificate, pemToDer } from './x509.ts';
import { SNP_PRODUCTS, type EvidenceIssuer, type SnpProduct, type SnpTcb } from './types.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The launch measurement the simulator reports unless told otherwise: SHA-384 of a fixed label. */
export const SIMULATED_DEFAULT_MEASUREMENT = createHash('sha384').update('shadowplane simulated launch measurement v1').digest('hex');
/** Default TCB of a simulated chip (Milan-like values). */
export const SIMULATED_DEFAULT_TCB: SnpTcb = { bootloader: 3, tee: 0, snp: 14, microcode: 209 };
/** Guest policy the simulator reports by default: ABI 0.0, SMT allowed, reserved bit 17, debug off. */
export const SIMULATED_DEFAULT_POLICY = 0x30000n;

const ORG = 'shadowplane simulated platform - NOT A TEE';
const CPUID: Record<SnpProduct, readonly [number, number, number]> = { Milan: [0x19, 0x01, 0x01], Genoa: [0x19, 0x11, 0x01], Turin: [0x1a, 0x02, 0x00] };

export interface SimulatedChainOptions {
  readonly product?: SnpProduct;
  readonly tcb?: SnpTcb;
  /** 64 bytes (Milan/Genoa) or 8 bytes (Turin). Default random. */
  readonly hwId?: Buffer;
  /** Build a VLEK chain (ASVK, no hwID) instead of a VCEK chain. Default 'vcek'. */
  readonly signingKey?: 'vcek' | 'vlek';
  readonly now?: Date;
  /** RSA modulus of ARK and ASK. Default 4096 like AMD's (about a second to generate). */
  readonly rsaBits?: 2048 | 3072 | 4096;
  /** Validity of the VCEK/VLEK in days. Default 7 years, like AMD's. */
  readonly keyValidityDays?: number;
}

export interface SimulatedChain {
  readonly product: SnpProduct;
  readonly tcb: SnpTcb;
  readonly hwId: Buffer;
  readonly signingKey: 'vcek' | 'vlek';
  readonly ark: { readonly der: Buffer; readonly key: KeyObject };
  readonly ask: { readonly der: Buffer; readonly key: KeyObject };
  readonly vcek: { readonly der: Buffer; readonly key: KeyObject };
  /** SHA-256 of the ARK DER, lowercase hex: what reference values pin. */
  readonly arkSha256: string;
}

const DAY = 86_400_000;

/** Generates a simulated ARK → ASK (or ASVK) → VCEK (or VLEK) chain in memory. */
export async function createSimulatedChain(opts: SimulatedChainOptions = {}): Promise<SimulatedChain> {
  const product = opts.product ?? 'Milan';
  if (!SNP_PRODUCTS.includes(product)) throw new ShadowplaneError('SP_USAGE', `product must be one of ${SNP_PRODUCTS.join(', ')}`);
  const tcb = opts.tcb ?? SIMULATED_DEFAULT_TCB;
  const signingKey = opts.signingKey ?? 'vcek';
  const hwId = opts.hwId ?? randomBytes(product === 'Turin' ? 8 : 64);
  if (hwId.length !== (product === 'Turin' ? 8 : 64)) throw new ShadowplaneError('SP_USAGE', `a ${product} hardware ID is ${product === 'Turin' ? 8 : 64} bytes`);
  const now = opts.now ?? new Date();
  const bits = opts.rsaBits ?? 4096;
  const [arkKeys, askKeys, vcekKeys] = await Promise.all([
    generateKeyPairAsync('rsa', { modulusLength: bits }),
    generateKeyPairAsync('rsa', { modulusLength: bits }),
    generateKeyPairAsync('ec', { namedCurve: 'P-384' }),
  ]);
  const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
  const name = (cn: string): Buffer => dn([['OU', 'Engineering'], ['C', 'US'], ['L', 'Nowhere'], ['ST', 'CA'], ['O', ORG], ['CN', cn]]);
  const arkName = name(`ARK-Simulated-${product}`);
  const askName = name(signingKey === 'vlek' ? `SEV-VLEK-Simulated-${product}` : `SEV-Simulated-${product}`);
  const notBefore = new Date(now.getTime() - DAY);
  const rootEnd = new Date(now.getTime() + 25 * 365 * DAY);

  const arkDer = buildCertificate({
    issuer: arkName,
    subject: arkName,
    notBefore,
    notAfter: rootEnd,
    spki: spki(arkKeys.publicKey),
    extensions: [keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(spki(arkKeys.publicKey)), basicConstraints(true)],
    signWith: { key: arkKeys.privateKey, alg: 'rsa-pss-sha384' },
  });
  const askDer = buildCertificate({
    issuer: arkName,
    subject: askName,
    notBefore,
    notAfter: rootEnd,
    spki: spki(askKeys.publicKey),
    extensions: [subjectKeyIdentifier(spki(askKeys.publicKey)), basicConstraints(true, 0), keyUsage(['keyCertSign'])],
    signWith: { key: arkKeys.privateKey, alg: 'rsa-pss-sha384' },
  });
  const vcekDer = buildCertificate({
    serial: Buffer.from([0]),
    issuer: askName,
    subject: name(signingKey === 'vlek' ? 'SEV-VLEK' : 'SEV-VCEK'),
    notBefore,
    notAfter: new Date(now.getTime() + (opts.keyValidityDays ?? 7 * 365) * DAY),
    spki: spki(vcekKeys.publicKey),
    extensions: endorsementExtensionSpecs(`${product}-B0`, tcb, hwId, product).filter((x) => signingKey === 'vcek' || x.oid !== AMD_EXT.hwId),
    signWith: { key: askKeys.privateKey, alg: 'rsa-pss-sha384' },
  });
  return {
    product,
    tcb,
    hwId,
    signingKey,
    ark: { der: arkDer, key: arkKeys.privateKey },
    ask: { der: askDer, key: askKeys.privateKey },
    vcek: { der: vcekDer, key: vcekKeys.privateKey },
    arkSha256: createHash('sha256').update(arkDer).digest('hex'),
  };
}

/** Fields of a simulated report; everything not given takes the documented default. */
export interface SimulatedReportFields {
  readonly product: SnpProduct;
  readonly reportData: Buffer;
  readonly measurement: Buffer;
  readonly hostData?: Buffer;
  readonly policy?: bigint;
  readonly tcb: SnpTcb;
  readonly chipId: Buffer;
  readonly vmpl?: number;
  readonly version?: number;
  readonly guestSvn?: number;
  readonly familyId?: Buffer;
  readonly imageId?: Buffer;
  readonly signingKey?: 'vcek' | 'vlek';
}

/**
 * Lays out and signs a report exactly as the AMD-SP would (ABI ATTESTATION_REPORT):
 * ECDSA P-384/SHA-384 over bytes 0x000..0x29F, R and S little-endian in 72-byte fields.
 */
export function signSimulatedReport(f: SimulatedReportFields, key: KeyObject): Buffer {
  const b = Buffer.alloc(SNP_REPORT_SIZE);
  const O = SNP_OFFSET;
  const version = f.version ?? 2;
  b.writeUInt32LE(version, O.version);
  b.writeUInt32LE(f.guestSvn ?? 0, O.guestSvn);
  b.writeBigUInt64LE(f.policy ?? SIMULATED_DEFAULT_POLICY, O.policy);
  (f.familyId ?? Buffer.alloc(16)).copy(b, O.familyId, 0, 16);
  (f.imageId ?? Buffer.alloc(16)).copy(b, O.imageId, 0, 16);
  b.writeUInt32LE(f.vmpl ?? 0, O.vmpl);
  b.writeUInt32LE(1, O.signatureAlgo);
  const tcb = encodeTcb(f.tcb, f.product);
  tcb.copy(b, O.currentTcb);
  b.writeBigUInt64LE(1n, O.platformInfo); // SMT enabled on the (imaginary) host
  b.writeUInt32LE((f.signingKey === 'vlek' ? 1 : 0) << 2, O.flags);
  f.reportData.copy(b, O.reportData, 0, 64);
  f.measurement.copy(b, O.measurement, 0, 48);
  (f.hostData ?? Buffer.alloc(32)).copy(b, O.hostData, 0, 32);
  randomBytes(32).copy(b, O.reportId);
  b.fill(0xff, O.reportIdMa, O.reportIdMa + 32);
  tcb.copy(b, O.reportedTcb);
  if (version >= 3) [b[O.cpuidFamily], b[O.cpuidModel], b[O.cpuidStepping]] = CPUID[f.product];
  f.chipId.copy(b, O.chipId, 0, Math.min(64, f.chipId.length));
  tcb.copy(b, O.committedTcb);
  b.set([3, 55, 1], O.currentBuild);
  b.set([3, 55, 1], O.committedBuild);
  tcb.copy(b, O.launchTcb);
  const sig = sign('sha384', b.subarray(0, SNP_SIGNED_LENGTH), { key, dsaEncoding: 'ieee-p1363' });
  Buffer.from(sig.subarray(0, 48)).reverse().copy(b, O.signatureR);
  Buffer.from(sig.subarray(48, 96)).reverse().copy(b, O.signatureS);
  return b;
}

export interface SimulateInitOptions extends SimulatedChainOptions {
  /** The measurement written into the sample reference values. Default SIMULATED_DEFAULT_MEASUREMENT. */
  readonly measurement?: string;
  /** Replace a simulated platform already in the directory. Default false: refuse (SP_USAGE). */
  readonly replace?: boolean;
}

export interface SimulateInitResult {
  readonly dir: string;
  readonly arkSha256: string;
  readonly product: SnpProduct;
  readonly referenceValuesPath: string;
}

const FILES = {
  ark: 'ark.pem',
  ask: 'ask.pem',
  vcek: 'vcek.pem',
  vcekKey: 'vcek-key.pem',
  meta: 'simulated.json',
  reference: 'reference-values.yaml',
} as const;

/**
 * `shadowplane simulate init DIR`: creates a simulated chain and writes DIR/ark.pem,
 * ask.pem, vcek.pem, vcek-key.pem (mode 0600), simulated.json and a sample
 * reference-values.yaml that pins this ARK. The ARK and ASK private keys are discarded
 * once they have signed: run init again for a new chain. A directory that already holds a
 * platform is refused unless `replace` is set, because a new ARK invalidates every
 * reference value already made from the old one.
 */
export async function simulateInit(dir: string, opts: SimulateInitOptions = {}): Promise<SimulateInitResult> {
  const measurement = (opts.measurement ?? SIMULATED_DEFAULT_MEASUREMENT).toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(measurement)) throw new ShadowplaneError('SP_USAGE', 'the measurement is 96 hex digits');
  const held = Object.values(FILES).filter((f) => existsSync(join(dir, f)));
  if (held.length > 0 && opts.replace !== true) {
    throw new ShadowplaneError('SP_USAGE', `${dir} already holds a simulated platform (${held.join(', ')}): reference values made from it stop verifying when it is replaced; pass --force to replace it, or choose another directory`);
  }
  const chain = await createSimulatedChain(opts);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, FILES.ark), derToPem(chain.ark.der));
    writeFileSync(join(dir, FILES.ask), derToPem(chain.ask.der));
    writeFileSync(join(dir, FILES.vcek), derToPem(chain.vcek.der));
    writeOutputFile(join(dir, FILES.vcekKey), chain.vcek.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const meta = { version: 1, product: chain.product, signingKey: chain.signingKey, tcb: chain.tcb, hwId: chain.hwId.toString('hex'), arkSha256: chain.arkSha256 };
    writeFileSync(join(dir, FILES.meta), `${JSON.stringify(meta, null, 2)}\n`);
    const t = chain.tcb;
    writeFileSync(
      join(dir, FILES.reference),
      [
        '# Reference values for the SIMULATED platform created by `shadowplane simulate init`.',
        '# Development only: verifiers accept it only when simulated evidence is explicitly allowed.',
        '# See docs/reference-values.md.',
        'version: 1',
        'entries:',
        '  - name: simulated',
        '    platform: simulated',
        `    simulatedRootSha256: ${chain.arkSha256}`,
        '    measurements:',
        `      - ${measurement}`,
        '    # The simulator reports zero host data; on hardware this is the pod policy digest.',
        `    hostData: [ "${'00'.repeat(32)}" ]`,
        `    minimumTcb: { ${chain.product === 'Turin' ? `fmc: ${t.fmc ?? 0}, ` : ''}bootloader: ${t.bootloader}, tee: ${t.tee}, snp: ${t.snp}, microcode: ${t.microcode} }`,
        '    policy: { migrationAgent: false, smt: true, singleSocket: false }',
        '',
      ].join('\n'),
    );
  } catch (err) {
    throw new ShadowplaneError('SP_USAGE', `cannot write the simulated platform to ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  return { dir, arkSha256: chain.arkSha256, product: chain.product, referenceValuesPath: join(dir, FILES.reference) };
}

export interface SimulatedIssuerOptions {
  /** Directory written by `simulateInit`. */
  readonly dir: string;
  /** MEASUREMENT: 48 bytes or 96 hex digits. */
  readonly measurement: Buffer | string;
  /** HOST_DATA: 32 bytes or 64 hex digits. Default zero. */
  readonly hostData?: Buffer | string;
  /** GUEST_POLICY. Default SIMULATED_DEFAULT_POLICY (debug off). */
  readonly policy?: bigint;
  /** REPORTED_TCB etc. Default the TCB the VCEK was issued for (a different one fails verification). */
  readonly tcb?: SnpTcb;
  /** CHIP_ID. Default the VCEK's hwID. */
  readonly chipId?: Buffer;
  readonly vmpl?: number;
  /** Report version 2 to 5. Default 2. */
  readonly reportVersion?: number;
}

function bytesOf(v: Buffer | string, length: number, what: string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(/^[0-9a-fA-F]*$/.test(v) ? v : '', 'hex') : v;
  if (b.length !== length) throw new ShadowplaneError('SP_USAGE', `${what} is ${length} bytes (${length * 2} hex digits)`);
  return b;
}

/**
 * An issuer of simulated evidence from a directory written by `simulateInit`. Reads the
 * directory once, now; `issue` then signs a fresh report per call.
 */
export function createSimulatedIssuer(opts: SimulatedIssuerOptions): EvidenceIssuer {
  let meta: { product: SnpProduct; signingKey: 'vcek' | 'vlek'; tcb: SnpTcb; hwId: string };
  let key: KeyObject;
  let certificates: Buffer[];
  try {
    meta = JSON.parse(readFileSync(join(opts.dir, FILES.meta), 'utf8')) as typeof meta;
    key = createPrivateKey(readFileSync(join(opts.dir, FILES.vcekKey)));
    certificates = [FILES.vcek, FILES.ask, FILES.ark].map((f) => pemToDer(readFileSync(join(opts.dir, f), 'utf8'))[0]!);
    certificates.forEach((der, i) => parseCertificate(der, `simulated certificate ${i}`));
    if (!SNP_PRODUCTS.includes(meta.product)) throw new Error('bad product');
  } catch (err) {
    throw new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `${opts.dir} is not a simulated platform: run 'shadowplane simulate init ${opts.dir}'`, { cause: err });
  }
  const measurement = bytesOf(opts.measurement, 48, 'the measurement');
  const hostData = opts.hostData === undefined ? undefined : bytesOf(opts.hostData, 32, 'the host data');
  const chipId = opts.chipId ?? Buffer.from(meta.hwId, 'hex');
  return {
    platform: 'simulated',
    issue(reportData: Buffer) {
      if (!Buffer.isBuffer(reportData) || reportData.length !== 64) {
        return Promise.reject(new ShadowplaneError('SP_INTERNAL', 'report data must be exactly 64 bytes'));
      }
      const report = signSimulatedReport(
        {
          product: meta.product,
          reportData,
          measurement,
          ...(hostData !== undefined ? { hostData } : {}),
          ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
          tcb: opts.tcb ?? meta.tcb,
          chipId,
          ...(opts.vmpl !== undefined ? { vmpl: opts.vmpl } : {}),
          ...(opts.reportVersion !== undefined ? { version: opts.reportVersion } : {}),
          signingKey: meta.signingKey,
        },
        key,
      );
      return Promise.resolve({ platform: 'simulated', report, certificates: certificates.map((c) => Buffer.from(c)) });
    },
  };
}
