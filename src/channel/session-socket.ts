/**
 * What both ends hand to node:http2 instead of the TLS socket: the same bytes, but a
 * write to it completes as soon as the TLS socket has taken it, while the TLS socket
 * holds at most `writeBudgetBytes` not yet sent.
 *
 * Why: Node's Http2Session stops reading its socket while one of its writes is still
 * pending (node_http2.cc, MaybeStopReading: `want_read == 0 || is_write_in_progress()`,
 * and OnDataChunkReceived pauses the parser the same way). On a native socket a write
 * is pending whenever the kernel's send buffer is full, which is whenever the peer does
 * not read fast enough. When both ends send a lot at once (many port-forward
 * connections echoing both ways) each end's write waits for the other to read, neither
 * reads: the whole session freezes, PINGs go unanswered, and `session.destroy()` never
 * closes the connection either (it waits for the pending write). Here a pending write
 * only happens past the budget, and the budget exceeds what an honest peer lets us have
 * in flight (its connection window, plus control frames), so the session keeps reading
 * and the peer keeps getting its flow-control credit back.
 *
 * Bounds: outgoing bytes queued in user space are at most the budget plus one HTTP/2
 * write (itself bounded by the peer's windows); a peer that grants more window and then
 * stops reading only gets Node's own behaviour back past the budget (the proxy's ping
 * then ends the session). Incoming bytes are read from the TLS socket only while HTTP/2
 * takes them (readable high-water mark), so a paused session pauses the socket.
 */
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

const READ_HIGH_WATER_MARK = 64 * 1024;

class SessionSocket extends Duplex {
  readonly #socket: TLSSocket;
  readonly #budget: number;
  /** The callback of the write that crossed the budget, called at the socket's next 'drain'. */
  #waiting: ((error?: Error | null) => void) | null = null;

  constructor(socket: TLSSocket, writeBudgetBytes: number) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_HIGH_WATER_MARK });
    this.#socket = socket;
    this.#budget = writeBudgetBytes;
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

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#socket.write(chunk);
    this.#settle(callback);
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    // One TLS write for the batch HTTP/2 hands over (fewer records and syscalls).
    this.#socket.cork();
    for (const { chunk } of chunks) this.#socket.write(chunk);
    this.#socket.uncork();
    this.#settle(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#waiting = null;
    this.#socket.destroy();
    callback(error);
  }

  #settle(callback: (error?: Error | null) => void): void {
    if (this.#socket.destroyed) {
      callback(new Error('channel socket closed'));
      return;
    }
    if (this.#socket.writableLength <= this.#budget) callback();
    else this.#waiting = callback;
  }
}

/** The TLS socket as HTTP/2 should see it (see above). Destroying either destroys both. */
export function sessionSocket(socket: TLSSocket, writeBudgetBytes: number): Duplex {
  return new SessionSocket(socket, writeBudgetBytes);
}
