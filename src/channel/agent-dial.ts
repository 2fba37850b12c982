/**
 * Opens one attested connection from the proxy to an agent: TCP, TLS 1.3 with the
 * proxy's certificate, then the injected verifier judges the agent's certificate and the
 * agent's claimed pod identity is compared with the pod the proxy asked for. Only a
 * socket that passed all of that is returned; no HTTP/2 byte is sent before.
 *
 * Failures, by phase (what the proxy's caller sees):
 * - TCP refused, unreachable, or nothing within `connectTimeoutMs`: SP_AGENT_UNREACHABLE;
 * - anything that answers but does not complete a TLS 1.3 handshake with h2 and a
 *   certificate (a plain TCP or plain HTTP listener, for one): SP_AGENT_ATTESTATION_FAILED;
 * - a certificate the verifier refuses: SP_AGENT_ATTESTATION_FAILED (detail: the
 *   verifier's code);
 * - a verified agent of another pod: SP_AGENT_IDENTITY_MISMATCH.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ShadowplaneError, isShadowplaneError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CHANNEL_ALPN, peerCertificateOf, proxyTlsOptions, runVerifier, trustedUntil, type AgentIdentity, type AgentVerifier, type ChannelCredentials, type VerifiedAgent } from './trust.ts';

export interface DialOptions {
  readonly credentials: ChannelCredentials;
  readonly verifyAgent: AgentVerifier;
  readonly logger: Logger;
  /** TCP connect plus TLS handshake. */
  readonly connectTimeoutMs: number;
  readonly verifyTimeoutMs: number;
}

export interface DialTarget {
  readonly address: string;
  readonly port: number;
  readonly identity: AgentIdentity;
}

export interface AttestedSocket {
  readonly socket: TLSSocket;
  readonly agent: VerifiedAgent;
  readonly fingerprint256: string;
  /** When the agent's certificate, whose evidence was verified, stops being valid (ms since the epoch). */
  readonly notAfterMs: number;
}

function handshake(target: DialTarget, options: DialOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(proxyTlsOptions(options.credentials, target.address, target.port));
    let tcpUp = false;
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off('secureConnect', onSecure);
    };
    const fail = (err: ShadowplaneError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      tcpUp = true;
    };
    const onError = (err: NodeJS.ErrnoException): void =>
      fail(
        tcpUp
          ? new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'the peer did not complete a TLS 1.3 handshake')
          : new ShadowplaneError('SP_AGENT_UNREACHABLE', err.code ?? 'connect failed'),
      );
    const onClose = (): void => fail(new ShadowplaneError(tcpUp ? 'SP_AGENT_ATTESTATION_FAILED' : 'SP_AGENT_UNREACHABLE', 'connection closed during the handshake'));
    const onSecure = (): void => {
      cleanup();
      resolve(socket);
    };
    const timer = setTimeout(() => fail(new ShadowplaneError('SP_AGENT_UNREACHABLE', tcpUp ? 'TLS handshake timed out' : 'connect timed out')), options.connectTimeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('secureConnect', onSecure);
  });
}

/** Connects and attests one agent. The returned socket is ready for HTTP/2. */
export async function dialAgent(target: DialTarget, options: DialOptions): Promise<AttestedSocket> {
  const socket = await handshake(target, options);
  // Errors from here on are reported through the promise; keep the socket from throwing.
  const swallow = (): void => undefined;
  socket.on('error', swallow);
  try {
    if (socket.alpnProtocol !== CHANNEL_ALPN) throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'the peer does not speak the channel protocol');
    const peer = peerCertificateOf(socket);
    if (peer === undefined) throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', 'the peer presented no certificate');
    let agent: VerifiedAgent;
    try {
      agent = await runVerifier(() => options.verifyAgent(peer, target.identity), options.verifyTimeoutMs, 'SP_AGENT_ATTESTATION_FAILED');
    } catch (err) {
      if (isShadowplaneError(err, 'SP_AGENT_IDENTITY_MISMATCH') || isShadowplaneError(err, 'SP_AGENT_ATTESTATION_FAILED')) throw err;
      throw new ShadowplaneError('SP_AGENT_ATTESTATION_FAILED', isShadowplaneError(err) ? err.code : undefined, { cause: err });
    }
    if (agent.identity.namespace !== target.identity.namespace || agent.identity.pod !== target.identity.pod) {
      throw new ShadowplaneError('SP_AGENT_IDENTITY_MISMATCH');
    }
    if (socket.destroyed) throw new ShadowplaneError('SP_AGENT_UNREACHABLE', 'connection closed during verification');
    socket.off('error', swallow);
    options.logger.debug({ fingerprint: peer.fingerprint256 }, 'agent verified');
    return { socket, agent, fingerprint256: peer.fingerprint256, notAfterMs: trustedUntil(peer.x509.validTo, agent.notAfterMs) };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
