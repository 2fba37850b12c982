/**
 * HTTP/2 settings both ends of the channel use. One session carries every operation
 * with one pod (up to thousands of port-forward connections), so the defaults that suit
 * a browser (64 KiB windows, 10 MB session memory, 100 streams) would throttle it.
 *
 * Memory bound: the receive window of a stream is what a peer may send that the reader
 * has not consumed yet; with 1,000 streams at 256 KiB that is 256 MiB in the worst case.
 * Node returns connection-level credit as soon as it parsed a DATA frame (whether or not
 * the stream's reader took it), so the connection window caps only what is in flight on
 * the wire and in the sender's queues: it bounds SESSION_WRITE_BUDGET_BYTES, the most the
 * agent queues in user space for the socket (session-socket.ts). 4 MiB in flight is
 * ~4 GB/s at 1 ms round trip; one stream is limited by its own window long before.
 */
import type { ClientSessionOptions, ServerOptions, Settings } from 'node:http2';
import { PROTOCOL_LIMITS } from './protocol.ts';

export const STREAM_WINDOW_BYTES = 256 * 1024;
export const CONNECTION_WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * Outgoing bytes the agent queues for its TLS socket before HTTP/2 has to wait for the
 * kernel (and so stops reading, see session-socket.ts): two connection windows, since
 * the TLS socket counts its write in progress whole (part of which the proxy may have
 * read and credited already) besides what is queued behind it, plus room for control
 * frames (HEADERS of a burst of answers, RST_STREAM, WINDOW_UPDATE, PING and
 * SETTINGS acks).
 */
export const SESSION_WRITE_BUDGET_BYTES = 2 * CONNECTION_WINDOW_BYTES + 2 * 1024 * 1024;
/** MB, Node's unit for maxSessionMemory. */
const SESSION_MEMORY_MB = 512;

function settings(maxConcurrentStreams: number): Settings {
  return {
    initialWindowSize: STREAM_WINDOW_BYTES,
    maxFrameSize: 64 * 1024,
    maxConcurrentStreams,
    maxHeaderListSize: PROTOCOL_LIMITS.maxHeaderListBytes,
    enablePush: false,
  };
}

export function agentH2Options(maxConcurrentStreams: number): ServerOptions {
  return {
    settings: settings(maxConcurrentStreams),
    maxSessionMemory: SESSION_MEMORY_MB,
    maxHeaderListPairs: 256,
    maxOutstandingPings: 4,
    maxSendHeaderBlockLength: PROTOCOL_LIMITS.maxHeaderListBytes,
  };
}

export function proxyH2Options(): ClientSessionOptions {
  return {
    // The agent announces its own limit; until then, assume the documented default.
    peerMaxConcurrentStreams: 4096,
    settings: settings(16),
    maxSessionMemory: SESSION_MEMORY_MB,
    maxHeaderListPairs: 256,
    maxOutstandingPings: 4,
    maxSendHeaderBlockLength: PROTOCOL_LIMITS.maxHeaderListBytes,
  };
}
