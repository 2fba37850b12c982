/** An AgentConnection for channel tests, over a real TLS socket and without attestation. */
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { AgentConnection } from '../../../../src/channel/agent-client.ts';
import { silentLogger } from '../../../../src/log.ts';
import { within } from '../../../support/testing.ts';

/**
 * Connects to an agent (or a stand-in) at 127.0.0.1:`port` and wraps the socket as if it
 * had been verified: `tls` adds client credentials (default: none, any server
 * certificate); the agent's trust ends at `notAfterMs` (default in 10 minutes). Pings are
 * off (60 s).
 */
export async function testConnection(port: number, options: { tls?: ConnectionOptions; notAfterMs?: number } = {}): Promise<{ connection: AgentConnection; socket: TLSSocket }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...options.tls });
  socket.on('error', () => undefined);
  await within(
    5000,
    'the TLS handshake',
    new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    }),
  );
  const identity = { namespace: 'ns', pod: 'p' };
  const connection = new AgentConnection(
    { socket, agent: { identity }, fingerprint256: 'test', notAfterMs: options.notAfterMs ?? Date.now() + 600_000 },
    { address: '127.0.0.1', port, identity },
    { logger: silentLogger(), pingIntervalMs: 60_000, pingTimeoutMs: 60_000, onUnusable: () => undefined },
  );
  return { connection, socket };
}
