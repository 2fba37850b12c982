/**
 * A single-consumer async queue: producers `push`, one `for await` consumes, `end` finishes
 * it. Used to hand forwarded connections to whoever serves a port-forward session.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiter: ((result: IteratorResult<T>) => void) | null = null;
  #ended = false;

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  /** No more items; the consumer finishes once it has taken those already queued. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.({ value: undefined, done: true });
  }

  get ended(): boolean {
    return this.#ended;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.#waiter = resolve));
      },
      return: () => {
        this.end();
        this.#items = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
