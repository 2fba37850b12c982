/**
 * Records every decrypted byte the API server stand-in receives and sends, per
 * connection and direction, so that tests can prove a secret never reached it.
 *
 * Two views are kept, because framing hides bytes from a plain search of the wire:
 * - `wire`: the plaintext of every TLS connection exactly as it crossed (HTTP/2 frames
 *   with HPACK-compressed headers, chunked HTTP/1.1, SPDY and WebSocket frames);
 * - `payload`: the same traffic de-framed, one stream per request or session: request
 *   and response headers as text, bodies, exec/attach stdin/stdout/stderr and
 *   port-forward data. A secret split across two frames (or Huffman-coded in a header)
 *   is invisible in the wire view but contiguous here.
 *
 * Invariant: `contains()` searches each recorded stream in each direction as one
 * continuous stream, so a needle split across chunks is still found; it never joins bytes
 * of two different streams or two directions (that could invent a match).
 *
 * Memory is bounded by `maxBytes`: once exceeded, recording stops and `truncated` is set,
 * so a test that relies on absence can assert `!truncated` first.
 */

export type Direction = 'received' | 'sent';

export type RecordingView = 'wire' | 'payload';

/** The bytes of one connection (wire) or one request/session (payload), in arrival order. */
export interface ConnectionRecording {
  readonly id: number;
  readonly view: RecordingView;
  /** Wire: the ALPN protocol ('h2', 'http/1.1' or '' for none). Payload: what the stream is. */
  readonly label: string;
  /** Same as `label` for wire recordings (kept for readability of tests). */
  readonly alpn: string;
  readonly received: readonly Buffer[];
  readonly sent: readonly Buffer[];
}

/** Where a connection reports its bytes. */
export interface RecorderTap {
  record(direction: Direction, chunk: Buffer): void;
}

interface MutableRecording {
  id: number;
  view: RecordingView;
  label: string;
  alpn: string;
  received: Buffer[];
  sent: Buffer[];
}

/** Default cap on recorded bytes (both directions, all connections). */
export const DEFAULT_RECORDER_MAX_BYTES = 512 * 1024 * 1024;

export class ByteRecorder {
  /** When false, taps drop bytes (for benchmarks); connections keep working. */
  enabled: boolean;
  readonly maxBytes: number;
  #recordings = new Map<number, MutableRecording>();
  #totalBytes = 0;
  #truncated = false;
  #nextId = 1;

  constructor(options: { enabled?: boolean; maxBytes?: number } = {}) {
    this.enabled = options.enabled ?? true;
    this.maxBytes = options.maxBytes ?? DEFAULT_RECORDER_MAX_BYTES;
  }

  /** True when some bytes were not recorded because `maxBytes` was reached. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /** Total bytes recorded since the last reset. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** Opens a tap for one new TLS connection (wire view). */
  openConnection(alpn: string): RecorderTap & { readonly id: number } {
    return this.#open('wire', alpn);
  }

  /** Opens a tap for one de-framed request or session (payload view). */
  openPayload(label: string): RecorderTap & { readonly id: number } {
    return this.#open('payload', label);
  }

  #open(view: RecordingView, label: string): RecorderTap & { readonly id: number } {
    const id = this.#nextId++;
    return {
      id,
      record: (direction: Direction, chunk: Buffer): void => {
        if (!this.enabled || chunk.length === 0) return;
        if (this.#totalBytes + chunk.length > this.maxBytes) {
          this.#truncated = true;
          return;
        }
        let rec = this.#recordings.get(id);
        if (rec === undefined) {
          rec = { id, view, label, alpn: label, received: [], sent: [] };
          this.#recordings.set(id, rec);
        }
        // Copy: a writer may reuse its buffer after the write completes.
        rec[direction].push(Buffer.from(chunk));
        this.#totalBytes += chunk.length;
      },
    };
  }

  /** Every connection's wire recording, in the order connections were opened. */
  connections(): readonly ConnectionRecording[] {
    return this.#all().filter((r) => r.view === 'wire');
  }

  /** Every de-framed request/session recording, in the order they began. */
  payloads(): readonly ConnectionRecording[] {
    return this.#all().filter((r) => r.view === 'payload');
  }

  #all(): MutableRecording[] {
    return [...this.#recordings.values()].sort((a, b) => a.id - b.id);
  }

  /** All wire bytes received, connection after connection. */
  received(): Buffer {
    return Buffer.concat(this.connections().flatMap((c) => c.received));
  }

  /** All wire bytes sent, connection after connection. */
  sent(): Buffer {
    return Buffer.concat(this.connections().flatMap((c) => c.sent));
  }

  /** The received chunks as they arrived (connection after connection). */
  receivedChunks(): readonly Buffer[] {
    return this.connections().flatMap((c) => c.received);
  }

  /** The sent chunks as they were written (connection after connection). */
  sentChunks(): readonly Buffer[] {
    return this.connections().flatMap((c) => c.sent);
  }

  /**
   * True if `needle` occurs in any recorded stream (both views unless one is named), in
   * either direction, including across chunk boundaries. An empty needle is refused (it
   * would match everything).
   */
  contains(needle: string | Buffer, view?: RecordingView): boolean {
    const n = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
    if (n.length === 0) throw new RangeError('contains() needs a non-empty needle');
    for (const rec of this.#recordings.values()) {
      if (view !== undefined && rec.view !== view) continue;
      if (streamContains(rec.received, n) || streamContains(rec.sent, n)) return true;
    }
    return false;
  }

  /** Forgets everything recorded so far; open connections keep recording afresh. */
  reset(): void {
    this.#recordings.clear();
    this.#totalBytes = 0;
    this.#truncated = false;
  }
}

/**
 * Searches a chunked byte stream for `needle`, carrying the last `needle.length - 1`
 * bytes of the stream into the next window so a split needle is found. Exported for
 * the unit test.
 */
export function streamContains(chunks: readonly Buffer[], needle: Buffer): boolean {
  const keep = needle.length - 1;
  let tail: Buffer = Buffer.alloc(0);
  for (const chunk of chunks) {
    const window = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
    if (window.indexOf(needle) !== -1) return true;
    tail = keep === 0 ? Buffer.alloc(0) : window.subarray(Math.max(0, window.length - keep));
  }
  return false;
}
