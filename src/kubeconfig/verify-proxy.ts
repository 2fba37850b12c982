/**
 * Verifies a running proxy before anyone trusts it: opens one TLS connection, records the
 * certificate that connection presented, asks for evidence over that same connection
 * with a fresh nonce, and checks that the evidence binds exactly that certificate's key,
 * the expected manifest and the nonce, and satisfies the reference values.
 *
 * Nothing about the proxy is trusted before this returns: the TLS handshake skips
 * certificate validation on purpose, and every answer is bounded before it is parsed.
 */
import { createHash, randomBytes, type X509Certificate } from 'node:crypto';
import http2 from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { attestReportData, decodeEvidence, verifyEvidence, type ReferenceValues, type RevocationPolicy, type VerifiedEvidence } from '../attestation/index.ts';
import { ShadowplaneError } from '../errors.ts';
import { ATTEST_PATH } from '../proxy/attest-endpoint.ts';
import { checkServingCertificate } from './serving-certificate.ts';

const MAX_RESPONSE_BYTES = 512 * 1024;

export interface VerifyProxyOptions {
  /** https://host:port of the proxy. */
  readonly server: string;
  /** SNI / certificate name to ask for; default the server's host name when it is a DNS name. */
  readonly tlsServerName?: string;
  readonly reference: ReferenceValues;
  /** SHA-256 of the manifest the user expects the proxy to enforce. */
  readonly expectedManifestDigest: Buffer;
  readonly allowSimulated: boolean;
  /** The user's own CRLs and whether they are required (docs/attestation.md, revocation). Default: only CRLs in the evidence. */
  readonly revocation?: RevocationPolicy;
  readonly timeoutMs?: number;
  /** Injected for tests; default 32 random bytes. */
  readonly nonce?: Buffer;
  readonly now?: Date;
}

export interface VerifiedProxy {
  /** The serving certificate this connection saw, now pinned. */
  readonly certificate: X509Certificate;
  readonly servingKeySha256: string;
  readonly manifestName: string;
  readonly evidence: VerifiedEvidence;
  /** The raw attestation answer, for the user's records. */
  readonly response: unknown;
}

/**
 * `--server` as a URL: https, a host, an optional port, nothing else. The proxy serves the
 * Kubernetes API at its root, so a path (or query, fragment, user name) would only be
 * written into the kubeconfig for kubectl to fail on later. SP_USAGE names the form.
 */
export function parseProxyServer(server: string): URL {
  const shown = JSON.stringify(server.slice(0, 200));
  const url = URL.parse(server);
  if (url === null || url.protocol !== 'https:' || url.hostname === '') {
    throw new ShadowplaneError('SP_USAGE', `--server ${shown} is not of the form https://host:port (the shadowplane proxy's address, scheme included)`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(server) || url.username !== '' || url.password !== '') {
    throw new ShadowplaneError('SP_USAGE', `--server ${shown} must be just https://host:port: the proxy serves the Kubernetes API at its root, so no path, query, fragment or user name`);
  }
  return url;
}

export async function verifyProxy(opts: VerifyProxyOptions): Promise<VerifiedProxy> {
  const url = parseProxyServer(opts.server);
  const nonce = opts.nonce ?? randomBytes(32);
  const timeoutMs = opts.timeoutMs ?? 15_000;

  const socket = await openTls(url, opts.tlsServerName, timeoutMs);
  try {
    const certificate = socket.getPeerX509Certificate();
    if (certificate === undefined) throw new ShadowplaneError('SP_ATTEST_TLS_BINDING', 'the proxy presented no certificate');
    const spkiDer = certificate.publicKey.export({ type: 'spki', format: 'der' });
    const servingKeySha256 = createHash('sha256').update(spkiDer).digest('hex');

    const response = await postOverSocket(socket, url, JSON.stringify({ nonce: nonce.toString('base64') }), timeoutMs);
    const answer = parseAnswer(response);

    // Cheap comparisons first, each with its own explanation; the signed report data below
    // is what actually proves them.
    if (answer.nonce !== nonce.toString('base64')) {
      throw new ShadowplaneError('SP_ATTEST_NONCE_MISMATCH', 'the proxy answered a different nonce (replayed evidence?)');
    }
    if (answer.servingKeySha256 !== servingKeySha256) {
      throw new ShadowplaneError('SP_ATTEST_TLS_BINDING', `the evidence names serving key ${answer.servingKeySha256.slice(0, 16)}…, this connection saw ${servingKeySha256.slice(0, 16)}… (relayed or intercepted connection?)`);
    }
    const expectedDigest = opts.expectedManifestDigest.toString('hex');
    if (answer.manifestDigest !== expectedDigest) {
      throw new ShadowplaneError('SP_ATTEST_MANIFEST_MISMATCH', `the proxy enforces manifest sha256:${answer.manifestDigest.slice(0, 16)}…, you expect sha256:${expectedDigest.slice(0, 16)}…`);
    }
    const evidence = decodeEvidence(answer.evidence);
    const reportData = attestReportData({ spkiDer, manifestDigest: opts.expectedManifestDigest, nonce });
    const verified = await verifyEvidence(evidence, {
      reportData,
      reference: opts.reference,
      allowSimulated: opts.allowSimulated,
      ...(opts.revocation === undefined ? {} : { revocation: opts.revocation }),
      ...(opts.now === undefined ? {} : { now: opts.now }),
    });
    // Attested, so the certificate is the proxy's own: now what kubectl will check of it.
    checkServingCertificate(certificate, opts.tlsServerName ?? url.hostname, opts.tlsServerName === undefined ? '--server' : '--tls-server-name', opts.now ?? new Date());
    return { certificate, servingKeySha256, manifestName: answer.manifestName, evidence: verified, response };
  } finally {
    socket.destroy();
  }
}

interface Answer {
  readonly nonce: string;
  readonly servingKeySha256: string;
  readonly manifestDigest: string;
  readonly manifestName: string;
  readonly evidence: unknown;
}

function parseAnswer(value: unknown): Answer {
  const o = value as Record<string, unknown> | null;
  const str = (k: string, re: RegExp): string => {
    const v = o?.[k];
    if (typeof v !== 'string' || !re.test(v)) throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `the attestation answer has no valid ${k}`);
    return v;
  };
  if (typeof o !== 'object' || o === null || o.kind !== 'AttestationResponse') {
    throw new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', 'the answer is not an AttestationResponse');
  }
  return {
    nonce: str('nonce', /^[A-Za-z0-9+/=]{1,128}$/),
    servingKeySha256: str('servingKeySha256', /^[0-9a-f]{64}$/),
    manifestDigest: str('manifestDigest', /^[0-9a-f]{64}$/),
    manifestName: str('manifestName', /^[a-z0-9.-]{1,253}$/),
    evidence: o.evidence,
  };
}

function openTls(url: URL, servername: string | undefined, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const sni = servername ?? (/^[\d.]+$/.test(host) || host.includes(':') ? undefined : host);
    const socket = tlsConnect({
      host,
      port: url.port === '' ? 443 : Number(url.port),
      ...(sni === undefined ? {} : { servername: sni }),
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.3',
      // Not trusted yet: the certificate is judged by the evidence, below.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `no TLS connection to the shadowplane proxy at ${url.origin} within ${timeoutMs} ms: check --server and that the proxy is running and reachable from here`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      if (socket.alpnProtocol !== 'h2') {
        socket.destroy();
        reject(new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `${url.host} did not negotiate HTTP/2; is it a shadowplane proxy?`));
        return;
      }
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `the shadowplane proxy at ${url.origin} cannot be reached (${err.code ?? 'TLS error'}): check --server and that the proxy is running and reachable from here`));
    });
  });
}

/** POSTs over an already-open TLS socket, so the answer provably comes over that connection. */
function postOverSocket(socket: TLSSocket, url: URL, body: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.origin, { createConnection: () => socket });
    const done = (err: ShadowplaneError | undefined, value?: unknown): void => {
      clearTimeout(timer);
      session.destroy();
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `the shadowplane proxy at ${url.origin} gave no attestation answer within ${timeoutMs} ms`)), timeoutMs);
    const lost = (): void => done(new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `the connection to the shadowplane proxy at ${url.origin} failed during the attestation request`));
    session.on('error', lost);
    const req = session.request({ ':method': 'POST', ':path': ATTEST_PATH, 'content-type': 'application/json' });
    let status = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        done(new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `the attestation answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        done(new ShadowplaneError('SP_ATTEST_EVIDENCE_MALFORMED', `the attestation answer (HTTP ${status}) is not JSON`));
        return;
      }
      if (status !== 200) {
        // Text from a proxy not yet verified: printable ASCII only, so that it cannot drive the user's terminal.
        const message = typeof (parsed as { message?: unknown }).message === 'string' ? (parsed as { message: string }).message.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) : `HTTP ${status}`;
        done(new ShadowplaneError('SP_ATTEST_UNAVAILABLE', `the proxy could not attest (its own words, unverified): ${message}`));
        return;
      }
      done(undefined, parsed);
    });
    req.on('error', lost);
    req.end(body);
  });
}
