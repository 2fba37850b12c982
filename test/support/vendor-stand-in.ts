/**
 * A plain-HTTP stand-in on loopback for the vendors' services (AMD KDS, Intel PCS): the
 * fetches under test treat every answer as untrusted, so tests serve what they choose.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface VendorStandIn {
  /** http://127.0.0.1:PORT, without a trailing slash. */
  readonly base: string;
  close(): void;
}

export async function startVendorStandIn(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<VendorStandIn> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
