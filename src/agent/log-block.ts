/**
 * The unit the log store keeps: the lines of one stream that arrived in one chunk.
 *
 * Keeping one object per chunk rather than per line keeps a workload that floods short
 * lines cheap (one allocation per pipe read, not per line), and lets a query without
 * timestamps hand a run of lines to the client as one contiguous slice.
 *
 * Invariant: line i is `data[bounds[i], bounds[i+1])` and is exactly what a client gets
 * without timestamps: a full line (CRI tag F) ends with its `\n`, a partial piece
 * (CRI tag P, a line longer than the line limit) has none. Lines are contiguous.
 */
export type LogStream = 'stdout' | 'stderr';

export interface LogBlock {
  /** Sequence number of the first line; lines of later blocks have higher numbers. */
  readonly seq: number;
  /** When the chunk arrived (ns since the epoch); every line of the block has it. */
  readonly time: bigint;
  readonly stream: LogStream;
  readonly data: Buffer;
  /** lineCount + 1 offsets into data. */
  readonly bounds: Uint32Array;
  /** Per line: 1 when the line is a partial piece. Null when no line is partial. */
  readonly partial: Uint8Array | null;
}

export function lineCount(block: LogBlock): number {
  return block.bounds.length - 1;
}

export function isPartial(block: LogBlock, line: number): boolean {
  return block.partial !== null && block.partial[line] === 1;
}

/** Approximate memory a block holds (its bytes plus bookkeeping). */
export function blockCost(block: LogBlock): number {
  return block.data.length + block.bounds.byteLength + (block.partial?.byteLength ?? 0) + 96;
}
