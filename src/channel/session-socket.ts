/**
 * What the agent hands to node:http2 instead of the TLS socket of a proxy session: the
 * same bytes, but a write to it completes as soon as the TLS socket has taken it, while
 * the TLS socket holds at most `writeBudgetBytes` not yet sent.
 *
 * Why: Node's Http2Session stops reading its socket while one of its writes is still
 * pending (node_http2.cc, MaybeStopReading: `want_read == 0 || is_write_in_progress()`,
 * and OnDataChunkReceived pauses the parser the same way). On a native socket a write
 * is pending whenever the kernel's send buffer is full, which is whenever the peer does
 * not read fast enough. When both ends send a lot at once (many port-forward
 * connections echoing both ways) each end's write waits for the other to read, neither
 * reads: the whole session freezes and PINGs go unanswered. Here a pending write only
 * happens past the budget, and the budget exceeds what an honest proxy lets the agent
 * queue (below), so the agent always reads: the proxy's writes complete, and the proxy
 * reads again. And a native session that stopped reading never learns that its
 * connection was reset (Node drops the error of the failed write, then waits forever
 * for its next write): the agent kept every operation and target connection of a proxy
 * that had gone. Reading from JavaScript, it sees the reset at once.
 *
 * Only the agent: one end that always reads is enough, and the proxy keeps its native
 * socket. Through a JS socket node:http2 parses a whole read in one go, so the events
 * it emits a tick later ('stream', 'response', 'end') come after the ones it emits while
 * parsing ('aborted') of every frame of that read, where a native socket delivers each
 * frame's events before it parses the next; the proxy's readers of agent answers rely on
 * that (behind this wrapper, an agent's refusal came out as SP_AGENT_SESSION_LOST and an
 * empty metrics answer hung). The JS path also costs CPU for every byte, which the proxy,
 * serving every pod, would pay for all of them. A dead agent is the proxy's ping's job.
 *
 * The budget: `writableLength` of the TLS socket counts the write in progress whole,
 * though the proxy may already have read (and given credit back for) part of it, plus
 * everything queued behind it. Each of the two holds at most one connection window of
 * DATA (what the proxy granted and has not yet parsed), so an honest proxy keeps
 * `writableLength` under two windows plus control frames (measured: up to 48 MiB with
 * 32 MiB windows; with a budget of one window plus 4 MiB the wrapped end stopped reading,
 * and its native peer with it). A proxy that grants more and reads nothing gets Node's own
 * behaviour back past the budget, and its own ping then ends the session.
 *
 * Bounds: outgoing bytes in user space are at most the budget plus one HTTP/2 write;
 * incoming bytes are read from the TLS socket only while HTTP/2 takes them (readable
 * high-water mark), so a session that stops reading stops the socket. A graceful end
 * lasts at most `endTimeoutMs` (below), so a proxy that stops reading cannot keep the
 * socket and what is queued for it.
 */
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

const READ_HIGH_WATER_MARK = 64 * 1024;

/**
 * The longest a graceful end takes (a refused proxy's session closing, a session whose
 * GOAWAY's streams have all finished): from HTTP/2 ending the socket until the TLS socket
 * has sent what is queued and the proxy has closed its side. Then the socket is
 * destroyed. Without it, a peer that stops reading (the TLS socket never flushes) or never
 * closes its side (the socket stays half-closed) kept the socket, and up to the write
 * budget of memory, forever. An honest proxy reads all the time and closes its side as
 * soon as its session ends; 10 s is what the proxy itself gives the agent to answer a
 * ping, whose answer queues behind everything the agent sent, before it gives up on the
 * session.
 */
export const GRACEFUL_END_TIMEOUT_MS = 10_000;

type Callback = (error?: Error | null) => void;

class SessionSocket extends Duplex {
  readonly #socket: TLSSocket;
  readonly #budget: number;
  readonly #endTimeoutMs: number;
  /** The callback of the write that crossed the budget, called at the socket's next 'drain'. */
  #waiting: Callback | null = null;
  /** Armed when a graceful end starts; cleared when the socket is gone. */
  #endDeadline: NodeJS.Timeout | undefined;

  constructor(socket: TLSSocket, writeBudgetBytes: number, endTimeoutMs: number) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_HIGH_WATER_MARK });
    this.#socket = socket;
    this.#budget = writeBudgetBytes;
    this.#endTimeoutMs = endTimeoutMs;
    // HTTP/2 asks the socket it is given for these; the TLS socket is the one that has them.
    socket.setNoDelay(true);
    socket.disableRenegotiation();
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.on('error', (err: Error) => this.destroy(err));
    socket.once('close', () => this.destroy());
    socket.on('drain', () => {
      const callback = this.#waiting;
      this.#waiting = null;
      callback?.();
    });
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.#socket.write(chunk);
    this.#settle(callback);
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: Callback): void {
    // One TLS write for the batch HTTP/2 hands over (fewer records and syscalls).
    this.#socket.cork();
    for (const { chunk } of chunks) this.#socket.write(chunk);
    this.#socket.uncork();
    this.#settle(callback);
  }

  override _final(callback: Callback): void {
    // A graceful end (a refused proxy's session closing, GOAWAY) is over only once the TLS
    // socket has sent what HTTP/2 queued: the wrapper may be destroyed right after, and
    // that destroys the TLS socket (the refusal must reach the proxy). Then the socket
    // stays half-closed until the proxy closes its side. Both waits on the peer end at
    // the deadline: destroyed, the socket drops what the proxy did not take.
    this.#endDeadline = setTimeout(() => this.destroy(), this.#endTimeoutMs);
    this.#endDeadline.unref();
    this.#socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: Callback): void {
    // A destroy is forced (the listener's close after its grace, a broken socket, a
    // session error, a graceful end past its deadline): what is still queued is dropped,
    // so that a proxy that reads nothing cannot hold the connection open. A graceful end
    // gets here after _final flushed and the proxy closed its side, or at its deadline.
    clearTimeout(this.#endDeadline);
    this.#waiting = null;
    this.#socket.destroy();
    callback(error);
  }

  #settle(callback: Callback): void {
    if (this.#socket.destroyed) {
      callback(new Error('channel socket closed'));
      return;
    }
    if (this.#socket.writableLength <= this.#budget) callback();
    else this.#waiting = callback;
  }
}

/**
 * The agent's TLS socket as HTTP/2 should see it (see above). Destroying either destroys
 * both; a graceful end destroys both after `endTimeoutMs` at the latest.
 */
export function sessionSocket(socket: TLSSocket, writeBudgetBytes: number, endTimeoutMs = GRACEFUL_END_TIMEOUT_MS): Duplex {
  return new SessionSocket(socket, writeBudgetBytes, endTimeoutMs);
}
