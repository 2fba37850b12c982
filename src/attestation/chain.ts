/**
 * Certificate path building and validation for attestation chains (VCEK/VLEK → ASK/ASVK →
 * ARK; PCK → Platform/Processor CA → Intel root; TCB signing → Intel root).
 *
 * Invariants:
 * - Trust comes only from `anchors`, matched by SHA-256 of the DER: a root carried inside
 *   the evidence is just another candidate and is never trusted for being self-signed.
 * - Every link is a signature check under the issuer's key, with the algorithm allowed by
 *   the caller; names only select candidates.
 * - Work is bounded: at most `maxDepth` links and `MAX_CANDIDATES` certificates.
 * - Every certificate on the path, the anchor included, is refused when it carries a
 *   critical extension outside `PROCESSED_EXTENSIONS` (and, for the leaf, the caller's
 *   `leafExtensions`): RFC 5280 §4.2 requires it. The two processed ones are acted on:
 *   basicConstraints (cA on every issuer, pathLenConstraint) and keyUsage (keyCertSign on
 *   every issuer, digitalSignature on the leaf, whose key always signs evidence or
 *   collateral; cRLSign on a CRL issuer, crl.ts).
 */
import { ShadowplaneError } from '../errors.ts';
import { shortHex } from './bytes.ts';
import { checkRevocation, mayIssueCrls, type Crl } from './crl.ts';
import { OID, describeAlgorithm, isSignedBy, type Certificate, type SignatureAlgorithm } from './x509.ts';

/** The extensions this module acts on, so any certificate may mark them critical. */
export const PROCESSED_EXTENSIONS: ReadonlySet<string> = new Set([OID.basicConstraints, OID.keyUsage]);

export interface TrustAnchor {
  readonly cert: Certificate;
  /** For messages: "AMD ARK-Milan", "simulated ARK". */
  readonly label: string;
}

export interface ChainRequest {
  readonly leaf: Certificate;
  /** Labels for messages, leaf first ("VCEK", "ASK", "ARK"). */
  readonly labels: readonly string[];
  readonly intermediates: readonly Certificate[];
  readonly anchors: readonly TrustAnchor[];
  readonly now: Date;
  readonly maxDepth: number;
  /** Which signature algorithms a link may use; undefined allows every supported one. */
  readonly algorithmAllowed?: (alg: SignatureAlgorithm) => boolean;
  readonly algorithmRule?: string;
  readonly crls?: readonly Crl[];
  /**
   * Require a current CRL from the issuer of every certificate below the anchor (when that
   * issuer may sign CRLs, see crl.ts). Default false: CRLs present are applied, none is required.
   */
  readonly requireCrls?: boolean;
  /** OIDs of leaf extensions the caller reads and acts on after this returns; the leaf may mark them critical. */
  readonly leafExtensions?: readonly string[];
  /** What the leaf's key is used for: signatures (default: keyUsage must allow digitalSignature) or CRLs (cRLSign). */
  readonly leafUse?: 'signature' | 'crl';
}

export interface VerifiedChain {
  /** Leaf first, anchor last. */
  readonly path: readonly Certificate[];
  readonly anchor: TrustAnchor;
  /**
   * Until when the path vouches: the earliest notAfter of its certificates and nextUpdate
   * of the CRLs applied along it. Do not reuse the result past it.
   */
  readonly notAfter: Date;
}

/**
 * Refuses a certificate with a critical extension that is neither processed here nor in
 * `extra` (SP_ATTEST_CHAIN_INVALID). For certificates checked outside `verifyChain` too
 * (RA-TLS certificates).
 */
export function refuseUnprocessedCritical(cert: Certificate, label: string, extra: readonly string[] = []): void {
  for (const [extOid, ext] of cert.extensions) {
    if (ext.critical && !PROCESSED_EXTENSIONS.has(extOid) && !extra.includes(extOid)) {
      throw new ShadowplaneError(
        'SP_ATTEST_CHAIN_INVALID',
        `the ${label} certificate ('${cert.subjectName}') carries the critical extension ${extOid}, which shadowplane does not process (RFC 5280 §4.2)`,
      );
    }
  }
}

/** keyUsage, when present, must allow what the key is used for here. */
export function requireKeyUsage(cert: Certificate, label: string, usage: 'digitalSignature' | 'keyCertSign'): void {
  if (cert.keyUsage !== undefined && !cert.keyUsage.has(usage)) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${label} certificate ('${cert.subjectName}') has a keyUsage without ${usage}, which its use here needs`);
  }
}

const MAX_CANDIDATES = 16;

function isSelfSigned(c: Certificate): boolean {
  return c.subject.equals(c.issuer) && isSignedBy(c, c);
}

/**
 * Finds a path from `leaf` to one of the anchors, then checks validity at `now`, the
 * algorithm rule, critical extensions, keyUsage, path length and CRLs along it. Throws
 * SP_ATTEST_CHAIN_INVALID, SP_ATTEST_ROOT_UNTRUSTED, SP_ATTEST_CERT_EXPIRED,
 * SP_ATTEST_CERT_REVOKED or SP_ATTEST_REVOCATION_UNKNOWN with the certificate named
 * (and SP_ATTEST_COLLATERAL_INVALID for a forged or stale CRL).
 */
export function verifyChain(req: ChainRequest): VerifiedChain {
  const label = (i: number): string => req.labels[i] ?? `certificate ${i}`;
  if (req.intermediates.length + req.anchors.length > MAX_CANDIDATES) {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `more than ${MAX_CANDIDATES} candidate certificates`);
  }
  const anchorBySha = new Map(req.anchors.map((a) => [a.cert.sha256, a]));
  const candidates = [...req.anchors.map((a) => a.cert), ...req.intermediates];

  let untrustedRoot: Certificate | undefined;
  let brokenLink: { child: number; issuerName: string } | undefined;

  const walk = (path: Certificate[]): { path: Certificate[]; anchor: TrustAnchor } | undefined => {
    const cur = path[path.length - 1]!;
    const anchor = anchorBySha.get(cur.sha256);
    if (anchor !== undefined) return { path, anchor };
    if (isSelfSigned(cur)) {
      // A root that is not an anchor ends this path: self-signed proves nothing.
      untrustedRoot ??= cur;
      return undefined;
    }
    if (path.length >= req.maxDepth) {
      brokenLink ??= { child: path.length - 1, issuerName: '' };
      return undefined;
    }
    let matchedByName = false;
    for (const cand of candidates) {
      if (!cand.subject.equals(cur.issuer) || path.some((p) => p.sha256 === cand.sha256)) continue;
      matchedByName = true;
      if (cand.isCa !== true || !isSignedBy(cur, cand)) continue;
      const found = walk([...path, cand]);
      if (found !== undefined) return found;
    }
    if (matchedByName) brokenLink ??= { child: path.length - 1, issuerName: cur.subjectName };
    else brokenLink ??= { child: path.length - 1, issuerName: '' };
    return undefined;
  };

  const found = walk([req.leaf]);
  if (found === undefined) {
    if (untrustedRoot !== undefined) {
      throw new ShadowplaneError(
        'SP_ATTEST_ROOT_UNTRUSTED',
        `the chain ends at '${untrustedRoot.subjectName}' (sha256 ${shortHex(untrustedRoot.sha256)}), which is not one of the ${req.anchors.length} trusted roots (${req.anchors.map((a) => a.label).join(', ') || 'none'})`,
      );
    }
    const b = brokenLink ?? { child: 0, issuerName: '' };
    throw new ShadowplaneError(
      'SP_ATTEST_CHAIN_INVALID',
      b.issuerName === ''
        ? `no certificate that could have issued the ${label(b.child)} certificate is present or trusted`
        : `the signature on the ${label(b.child)} certificate ('${b.issuerName}') does not verify under any issuer of that name`,
    );
  }

  const t = req.now.getTime();
  found.path.forEach((c, i) => {
    if (c.notBefore.getTime() > t || c.notAfter.getTime() < t) {
      throw new ShadowplaneError(
        'SP_ATTEST_CERT_EXPIRED',
        `the ${label(i)} certificate ('${c.subjectName}') is valid from ${c.notBefore.toISOString()} until ${c.notAfter.toISOString()}, not at ${req.now.toISOString()}`,
      );
    }
    if (i < found.path.length - 1 && req.algorithmAllowed !== undefined && !req.algorithmAllowed(c.signatureAlgorithm)) {
      throw new ShadowplaneError(
        'SP_ATTEST_CHAIN_INVALID',
        `the ${label(i)} certificate is signed with ${describeAlgorithm(c.signatureAlgorithm)}; ${req.algorithmRule ?? 'that algorithm is not allowed here'}`,
      );
    }
    refuseUnprocessedCritical(c, label(i), i === 0 ? (req.leafExtensions ?? []) : []);
    if (i === 0) {
      if (req.leafUse !== 'crl') requireKeyUsage(c, label(i), 'digitalSignature');
      else if (!mayIssueCrls(c)) throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${label(i)} certificate's keyUsage does not allow signing CRLs`);
    } else {
      // The walk only links through cA issuers; the number of certificates between this
      // issuer and the leaf must fit its pathLenConstraint.
      requireKeyUsage(c, label(i), 'keyCertSign');
      if (c.pathLen !== undefined && i - 1 > c.pathLen) {
        throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `the ${label(i)} certificate allows ${c.pathLen} intermediate certificates below it, this path has ${i - 1}`);
      }
    }
  });
  let crlNextUpdate: Date | undefined;
  if ((req.crls !== undefined && req.crls.length > 0) || req.requireCrls === true) {
    for (let i = 0; i < found.path.length - 1; i++) {
      const next = checkRevocation(found.path[i]!, label(i), found.path[i + 1]!, req.crls ?? [], req.now, req.requireCrls === true);
      if (next !== undefined && (crlNextUpdate === undefined || next.getTime() < crlNextUpdate.getTime())) crlNextUpdate = next;
    }
  }
  const notAfter = Math.min(...found.path.map((c) => c.notAfter.getTime()), crlNextUpdate?.getTime() ?? Infinity);
  return { ...found, notAfter: new Date(notAfter) };
}

/**
 * Refuses certificates that were supplied but play no part in the verified path (other
 * than copies of the anchor): evidence must not carry bytes that nothing checked.
 */
export function requireAllUsed(supplied: readonly Certificate[], chain: VerifiedChain, what: string): void {
  const used = new Set(chain.path.map((c) => c.sha256));
  const extra = supplied.findIndex((c) => !used.has(c.sha256));
  if (extra >= 0) {
    throw new ShadowplaneError('SP_ATTEST_CHAIN_INVALID', `certificate ${extra} of the ${what} ('${supplied[extra]!.subjectName}') is not part of the verified chain`);
  }
}
