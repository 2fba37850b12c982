/**
 * Trust on the proxy ↔ agent channel: credentials in, peer verification out.
 *
 * Both sides present a certificate (RA-TLS: the certificate carries the side's
 * attestation evidence, whose report data binds the certificate's key). TLS 1.3 proves
 * that the peer holds that key; an injected async verifier decides whether the evidence
 * is acceptable. Nothing runs before the verifier said yes:
 *
 * - the proxy verifies the agent against the manifest's reference values for the
 *   requested namespace/workload, and the channel then checks that the agent's claimed
 *   pod identity is the pod the proxy asked for;
 * - the agent verifies the proxy against the reference values in its own configuration
 *   (optionally pinned to manifest digests).
 *
 * The verifiers cache verified evidence by certificate fingerprint (the attestation
 * module owns that cache); the channel calls them once per TLS connection.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket, TlsOptions, ConnectionOptions } from 'node:tls';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';

/** The side's own key and certificate (PEM). The certificate may be followed by its chain. */
export interface ChannelCredentials {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
}

/** What a verifier gets: the peer's leaf certificate as TLS delivered it. */
export interface PeerCertificate {
  readonly x509: X509Certificate;
  /** DER bytes. */
  readonly raw: Buffer;
  /** SHA-256 fingerprint as Node prints it (colon-separated upper-case hex): the cache key. */
  readonly fingerprint256: string;
}

/** A pod as the proxy names it. */
export interface AgentIdentity {
  readonly namespace: string;
  readonly pod: string;
}

/** What the proxy learned from an agent's verified evidence. */
export interface VerifiedAgent {
  /** The pod the agent claims to be, as bound into its evidence. */
  readonly identity: AgentIdentity;
  /** The platform of the verified evidence, when the verifier reports it (for counting). */
  readonly platform?: 'sev-snp' | 'tdx' | 'simulated';
  /**
   * When the verified evidence stops vouching for the agent (epoch ms): the earliest end of
   * the vendor certificates, collateral and CRLs it was verified with. The session takes
   * no new work after it (nor after the certificate's own end).
   */
  readonly notAfterMs?: number;
}

/** What the agent learned from the proxy's verified evidence. */
export interface VerifiedProxy {
  /** The manifest digest the proxy's evidence binds, when it carries one. */
  readonly manifestDigest?: string;
  /** When the verified evidence stops vouching for the proxy (epoch ms; see VerifiedAgent). */
  readonly notAfterMs?: number;
}

/**
 * Proxy side: accept or refuse an agent's certificate for the pod the proxy wants.
 * Throws a ShadowplaneError (an SP_ATTEST_* code, say) to refuse.
 */
export type AgentVerifier = (peer: PeerCertificate, expected: AgentIdentity) => Promise<VerifiedAgent>;

/** Agent side: accept or refuse the proxy's certificate. Throws to refuse. */
export type ProxyVerifier = (peer: PeerCertificate) => Promise<VerifiedProxy>;

/** The one ALPN protocol the channel speaks. */
export const CHANNEL_ALPN = 'h2';

/**
 * TLS options of the agent's listener: TLS 1.3 only, a client certificate is required
 * (but judged by the verifier, not by a CA: RA-TLS certificates are self-signed).
 */
export function agentTlsOptions(credentials: ChannelCredentials, handshakeTimeoutMs: number): TlsOptions {
  return {
    key: credentials.key,
    cert: credentials.cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: [CHANNEL_ALPN],
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** TLS options of the proxy's connection to one agent (an IP: no SNI). The verifier, not a CA, decides. */
export function proxyTlsOptions(credentials: ChannelCredentials, host: string, port: number): ConnectionOptions {
  return {
    host,
    port,
    key: credentials.key,
    cert: credentials.cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: false,
    ALPNProtocols: [CHANNEL_ALPN],
  };
}

/** The peer's certificate, or undefined when it presented none. */
export function peerCertificateOf(socket: TLSSocket): PeerCertificate | undefined {
  const x509 = socket.getPeerX509Certificate();
  if (x509 === undefined) return undefined;
  return { x509, raw: x509.raw, fingerprint256: x509.fingerprint256 };
}

/**
 * Runs a verifier with a deadline. A verifier's ShadowplaneError keeps its code; anything
 * else becomes `fallback` (its message is not copied: it may quote certificate bytes).
 */
export async function runVerifier<T>(verify: () => Promise<T>, timeoutMs: number, fallback: 'SP_AGENT_ATTESTATION_FAILED' | 'SP_AGENT_REFUSED'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ShadowplaneError(fallback, 'verification did not finish in time')), timeoutMs);
  });
  try {
    return await Promise.race([verify(), deadline]);
  } catch (err) {
    throw isShadowplaneError(err) ? err : new ShadowplaneError(fallback, 'verifier failed', { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** How long a session takes new work by default: a new one is verified again (expiry, revocation, new reference values). */
export const MAX_SESSION_AGE_MS = 60 * 60 * 1000;

/**
 * The end of a session's trust (epoch ms): the peer certificate's `validTo`, or earlier when
 * its evidence says so (vendor certificates, collateral or CRLs that end sooner); NaN when
 * unknown, which ends the session at once.
 */
export function trustedUntil(validTo: string, evidenceNotAfterMs: number | undefined): number {
  const certificate = Date.parse(validTo);
  return evidenceNotAfterMs === undefined ? certificate : Math.min(certificate, evidenceNotAfterMs);
}

/** A session's lifetime timers (sessionLifetime); cancel when the session has ended. */
export interface SessionLifetime {
  cancel(): void;
}

/**
 * The two ends of a session verified once, at its handshake, as unref'd timers:
 *
 * - `drain` after `maxAgeMs` (default MAX_SESSION_AGE_MS): the session takes no new work
 *   (GOAWAY), running operations finish, and the next operation comes over a new session,
 *   verified again (expiry, revocation, new reference values).
 * - `end` when the peer's trust ends (`notAfterMs`: its certificate, or earlier when its
 *   evidence or the owner's signature it was admitted on says so; at once when unknown):
 *   everything on the session stops, running operations included. Past it nothing vouches
 *   for the peer any more, and an exec, a `logs -f` or a port-forward could otherwise run
 *   on for as long as the client keeps it open. `end` implies `drain`.
 */
export function sessionLifetime(notAfterMs: number, maxAgeMs: number | undefined, drain: () => void, end: () => void): SessionLifetime {
  const now = Date.now();
  const until = Number.isNaN(notAfterMs) ? now : notAfterMs;
  const timers = [timer(end, until - now)];
  const age = maxAgeMs ?? MAX_SESSION_AGE_MS;
  if (age < until - now) timers.push(timer(drain, age));
  return { cancel: () => timers.forEach((t) => clearTimeout(t)) };
}

/** An unref'd timer; a delay beyond setTimeout's range (~24.8 days) fires at its end, early rather than never. */
function timer(callback: () => void, delayMs: number): NodeJS.Timeout {
  const t = setTimeout(callback, Math.max(0, Math.min(delayMs, 2 ** 31 - 1)));
  t.unref();
  return t;
}
