/**
 * The protocol-independent view of a stream session that shadowplane terminates.
 *
 * kubectl speaks exec/attach over WebSocket (v5/v4/base64/legacy channel.k8s.io) or
 * SPDY/3.1, and port-forward over SPDY, over SPDY tunnelled in WebSocket, or (client
 * libraries) over the legacy WebSocket port-forward protocol. The terminators in this
 * folder accept one upgraded HTTP/1.1 connection in any of those protocols and hand the
 * caller these shapes, so that whoever serves the session (the proxy talking to an agent,
 * or the test stand-in running a local process) never sees a wire protocol.
 *
 * Invariant: nothing here logs or embeds payload bytes in errors.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import type { ShadowplaneError } from '../../errors.ts';

/** What the client asked for, parsed from the exec/attach query (Go ParseBool semantics). */
export interface RemoteCommandOptions {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/** How a command session ended, reported to the client on the error channel. */
export type CommandResult =
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'error'; readonly error: ShadowplaneError };

/** The wire protocol a session was negotiated with (for audit and shadowplane's own metrics). */
export type StreamProtocol =
  | 'v5.channel.k8s.io'
  | 'v4.channel.k8s.io'
  | 'v4.base64.channel.k8s.io'
  | 'channel.k8s.io'
  | 'base64.channel.k8s.io'
  | 'spdy/v4.channel.k8s.io'
  | 'spdy/v3.channel.k8s.io'
  | 'spdy/v2.channel.k8s.io'
  | 'spdy/channel.k8s.io'
  | 'spdy/portforward.k8s.io'
  | 'websocket/SPDY/3.1+portforward.k8s.io'
  | 'websocket/portforward.k8s.io';

/**
 * One exec or attach session, after the upgrade succeeded and every stream the client
 * asked for is open.
 *
 * - `stdin` ends when the client half-closes stdin (v5 `[255,0]`, SPDY FIN).
 * - Writes to `stdout`/`stderr` honour backpressure (their `write()` returns false and
 *   they emit 'drain').
 * - `resizes` is an object-mode stream of TerminalSize (TTY sessions only).
 * - `finish()` ends the session the way kubectl needs it: for WebSocket, the Status on
 *   channel 3 and then a close frame with code 1000; for SPDY, FIN on stdout/stderr, the
 *   Status on the error stream with FIN, then GOAWAY. It resolves when the bytes are out.
 * - `aborted` fires when the client goes away before `finish()`; the server then stops
 *   its side (for example kills the process or cancels the agent stream).
 */
export interface RemoteCommandSession {
  readonly protocol: StreamProtocol;
  readonly options: RemoteCommandOptions;
  readonly stdin: Readable | null;
  readonly stdout: Writable | null;
  readonly stderr: Writable | null;
  readonly resizes: Readable | null;
  readonly aborted: AbortSignal;
  /** Payload bytes received from the client (stdin) and sent to it (stdout + stderr). */
  readonly counters: { readonly bytesIn: number; readonly bytesOut: number };
  finish(result: CommandResult): Promise<void>;
}

/**
 * One forwarded connection inside a port-forward session (one local connection accepted
 * by `kubectl port-forward`, or one port of the legacy WebSocket protocol).
 *
 * - Bytes written to `data` go to the client; bytes read from it came from the client.
 *   `data.end()` FINs the client's data stream; the readable side ends when the client
 *   half-closes.
 * - `fail(message)` reports an error the way kubectl prints it
 *   (`an error occurred forwarding L -> R: <message>`): message must carry no workload data.
 * - When the forwarded connection is over, call `close()`: it FINs the error stream, which
 *   kubectl waits for.
 */
export interface ForwardedConnection {
  readonly port: number;
  readonly requestId: string;
  readonly data: Duplex;
  fail(message: string): void;
  close(): void;
}

/**
 * A port-forward session. `connections` yields each forwarded connection as the client
 * opens it; it ends when the session ends.
 */
export interface PortForwardSession {
  readonly protocol: StreamProtocol;
  readonly aborted: AbortSignal;
  readonly counters: { readonly bytesIn: number; readonly bytesOut: number };
  connections(): AsyncIterable<ForwardedConnection>;
  /** Ends the whole session (GOAWAY / close 1000). */
  close(): void;
}

/** The upgrade request as the HTTP server delivered it. */
export interface UpgradeRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  /** Node's lower-cased header map. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Raw header pairs in the order received (repeated X-Stream-Protocol-Version lines matter). */
  readonly rawHeaders: readonly string[];
}

export type { ShadowplaneError };
