/**
 * Trailing-edge debounce: `fn` runs once, `waitMs` after the last call, with the last arguments.
 * `flush()` runs a pending call now; `cancel()` drops it.
 */
export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  flush(): void;
  cancel(): void;
  readonly pending: boolean;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, waitMs: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastArgs: A | null = null;

  const run = () => {
    timer = null;
    const args = lastArgs;
    lastArgs = null;
    if (args) fn(...args);
  };

  const debounced = ((...args: A) => {
    lastArgs = args;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(run, waitMs);
  }) as Debounced<A>;

  debounced.flush = () => {
    if (timer !== null) {
      clearTimeout(timer);
      run();
    }
  };
  debounced.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    lastArgs = null;
  };
  Object.defineProperty(debounced, "pending", { get: () => timer !== null });
  return debounced;
}

/**
 * Keeps only the newest of overlapping async requests: `run(task)` resolves to the task's result, or
 * to `undefined` when a newer `run` started before it finished (its answer is stale).
 */
export class LatestOnly {
  private sequence = 0;

  async run<T>(task: () => Promise<T>): Promise<T | undefined> {
    this.sequence += 1;
    const mine = this.sequence;
    try {
      const result = await task();
      return mine === this.sequence ? result : undefined;
    } catch (error) {
      if (mine !== this.sequence) return undefined; // a stale failure is as irrelevant as a stale answer
      throw error;
    }
  }

  /** Mark every running task stale. */
  invalidate(): void {
    this.sequence += 1;
  }
}
