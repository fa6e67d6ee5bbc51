// A push-fed async iterator: the sender pushes completions as the kernel
// posts them, the consumer pulls at its own pace.
export class CompletionStream<T> implements AsyncIterableIterator<T> {
  #buffer: T[] = [];
  #head = 0; // first unread entry of #buffer: shift() would be O(n) per read
  #waiting: ((result: IteratorResult<T>) => void) | undefined;
  #ended = false;
  #stopped = false;

  push(items: readonly T[]): void {
    if (this.#stopped) return;
    for (const item of items) {
      if (this.#waiting) {
        const wake = this.#waiting;
        this.#waiting = undefined;
        wake({ value: item, done: false });
      } else {
        this.#buffer.push(item);
      }
    }
  }

  end(): void {
    this.#ended = true;
    if (this.#waiting) {
      this.#waiting({ value: undefined, done: true });
      this.#waiting = undefined;
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!;
      if (this.#head === this.#buffer.length) {
        this.#buffer = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended || this.#stopped) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => { this.#waiting = resolve; });
  }

  /** Leaving the loop early stops buffering; the send itself goes on (its datagrams are already the kernel's). */
  return(): Promise<IteratorResult<T>> {
    this.#stopped = true;
    this.#buffer = [];
    this.#head = 0;
    this.#waiting?.({ value: undefined, done: true });
    this.#waiting = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
