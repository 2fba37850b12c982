/**
 * Container logs as a kubelet keeps them: per (namespace, pod, container) a current and a
 * previous instance, each a list of timestamped lines, with followers notified on every
 * append. Selection implements the PodLogOptions semantics: sinceSeconds/sinceTime first,
 * then tailLines, then limitBytes (a byte cap that may cut a line).
 *
 * Bounded: each container instance keeps at most `maxLinesPerContainer` lines.
 */

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  /** Milliseconds since the epoch when the line was written. */
  readonly timeMs: number;
  /** A counter that makes timestamps of lines written in the same millisecond distinct. */
  readonly seq: number;
  readonly stream: LogStream;
  /** The line including its trailing '\n' (the last write may lack one). */
  readonly text: string;
}

export type LogListener = (line: LogLine) => void;

interface Instance {
  lines: LogLine[];
  listeners: Set<LogListener>;
}

export interface LogSelection {
  readonly sinceMs?: number;
  readonly tailLines?: number;
  readonly stream?: LogStream;
}

export class LogStore {
  readonly #current = new Map<string, Instance>();
  readonly #previous = new Map<string, Instance>();
  readonly #maxLines: number;
  readonly #clock: () => number;
  #seq = 0;

  constructor(options: { clock: () => number; maxLinesPerContainer?: number }) {
    this.#clock = options.clock;
    this.#maxLines = options.maxLinesPerContainer ?? 100_000;
  }

  static key(namespace: string, pod: string, container: string): string {
    return `${namespace}/${pod}/${container}`;
  }

  #instance(which: Map<string, Instance>, key: string): Instance {
    let inst = which.get(key);
    if (inst === undefined) {
      inst = { lines: [], listeners: new Set() };
      which.set(key, inst);
    }
    return inst;
  }

  /** Appends text (split into lines) to a container's current or previous log. */
  append(namespace: string, pod: string, container: string, text: string, options: { previous?: boolean; stream?: LogStream } = {}): void {
    const inst = this.#instance(options.previous === true ? this.#previous : this.#current, LogStore.key(namespace, pod, container));
    const now = this.#clock();
    const parts = text.split(/(?<=\n)/);
    for (const part of parts) {
      if (part === '') continue;
      const line: LogLine = { timeMs: now, seq: this.#seq++ % 1_000_000, stream: options.stream ?? 'stdout', text: part };
      inst.lines.push(line);
      if (inst.lines.length > this.#maxLines) inst.lines.splice(0, inst.lines.length - this.#maxLines);
      if (options.previous !== true) for (const l of [...inst.listeners]) l(line);
    }
  }

  hasPrevious(namespace: string, pod: string, container: string): boolean {
    return this.#previous.has(LogStore.key(namespace, pod, container));
  }

  select(namespace: string, pod: string, container: string, previous: boolean, sel: LogSelection): LogLine[] {
    const inst = (previous ? this.#previous : this.#current).get(LogStore.key(namespace, pod, container));
    let lines = inst?.lines ?? [];
    if (sel.stream !== undefined) lines = lines.filter((l) => l.stream === sel.stream);
    if (sel.sinceMs !== undefined) {
      const since = sel.sinceMs;
      lines = lines.filter((l) => l.timeMs >= since);
    }
    if (sel.tailLines !== undefined) lines = sel.tailLines === 0 ? [] : lines.slice(-sel.tailLines);
    return [...lines];
  }

  /** Subscribes to new lines of the current instance; returns the unsubscribe function. */
  follow(namespace: string, pod: string, container: string, listener: LogListener): () => void {
    const inst = this.#instance(this.#current, LogStore.key(namespace, pod, container));
    inst.listeners.add(listener);
    return () => inst.listeners.delete(listener);
  }

  /** Drops the logs of a pod (its containers are gone). */
  forgetPod(namespace: string, pod: string): void {
    const prefix = `${namespace}/${pod}/`;
    for (const m of [this.#current, this.#previous]) for (const k of [...m.keys()]) if (k.startsWith(prefix)) m.delete(k);
  }
}
