/**
 * An HTTP/2 client that asks for metrics and never reads them: its flow-control window is
 * 0, so no byte of any body can reach it, while it still answers PINGs (as a live
 * scraper that stopped reading would).
 */
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';

export interface NonReadingClient {
  readonly session: ClientHttp2Session;
  /** Asks for `path`: its status once the head came, and its RST code once the stream closed. */
  open(path: string, headers?: OutgoingHttpHeaders): Promise<{ readonly status: number; readonly closed: Promise<number> }>;
  /** Leaves: the connection is destroyed. */
  close(): void;
}

export function nonReadingClient(url: string, tls: { readonly ca: string; readonly cert?: string; readonly key?: string }): NonReadingClient {
  const session = http2.connect(url, { ...tls, settings: { initialWindowSize: 0 } });
  session.on('error', () => undefined);
  return {
    session,
    async open(path, headers = {}) {
      const stream = session.request({ ':path': path, ...headers });
      stream.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode ?? 0)));
      const status = await new Promise<number>((resolve, reject) => {
        stream.once('response', (h) => resolve(Number(h[':status'])));
        stream.once('close', () => reject(new Error(`${path} closed before its head`)));
      });
      return { status, closed };
    },
    close: () => session.destroy(),
  };
}
