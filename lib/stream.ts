// A push-fed async iterator: the sender pushes completions as the kernel
// posts them, the consumer pulls at its own pace.

/** First in, first out; shift() on an array would be O(n) per read. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item; only when size > 0. */
  shift(): T {
    const item = this.#items[this.#head++]!;
    if (this.#head === this.#items.length) this.clear();
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

type Wake<T> = (result: IteratorResult<T>) => void;

export class CompletionStream<T> implements AsyncIterableIterator<T> {
  #buffer = new Fifo<T>();
  // Pulls not yet answered, oldest first: a consumer may ask again before
  // an answer came (Promise.all over several next()).
  #waiting = new Fifo<Wake<T>>();
  #ended = false;
  #stopped = false;

  push(items: readonly T[]): void {
    if (this.#stopped) return;
    for (const item of items) {
      if (this.#waiting.size) this.#waiting.shift()({ value: item, done: false });
      else this.#buffer.push(item);
    }
  }

  end(): void {
    this.#ended = true;
    this.#finishWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.size) return Promise.resolve({ value: this.#buffer.shift(), done: false });
    if (this.#ended || this.#stopped) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Leaving the loop early stops buffering; the send itself goes on (its datagrams are already the kernel's). */
  return(): Promise<IteratorResult<T>> {
    this.#stopped = true;
    this.#buffer.clear();
    this.#finishWaiting();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #finishWaiting(): void {
    while (this.#waiting.size) this.#waiting.shift()({ value: undefined, done: true });
  }
}
