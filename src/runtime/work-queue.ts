/** How the queue sets and clears its delay timers (injectable for tests). */
export interface QueueTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** Real timers that do not keep the process alive on their own. */
const REAL_TIMERS: QueueTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * The queue behind queue-based controllers (COSI's qruntime queue): items are deduplicated by key, an
 * item being processed that is put again runs once more after it is released, and an item can come
 * back after a delay (requeue, backoff). A put makes a delayed item ready at once: a change outranks a
 * scheduled retry. Single-threaded: no locks, timers through the injected scheduler.
 */
export class WorkQueue<T> {
  readonly #ready = new Map<string, T>();
  readonly #delayed = new Map<string, { value: T; timer: unknown }>();
  readonly #inFlight = new Set<string>();
  /** Put while in flight: runs again once released (the latest value wins). */
  readonly #again = new Map<string, T>();
  #closed = false;

  constructor(
    /** Called whenever an item becomes ready (a put, a delay that ran out). */
    private readonly onReady: () => void,
    private readonly timers: QueueTimers = REAL_TIMERS,
  ) {}

  /** Queues an item now (or once its current processing is released); the latest value for a key wins. */
  put(key: string, value: T): void {
    if (this.#closed) return;
    if (this.#inFlight.has(key)) {
      this.#again.set(key, value);
      return;
    }
    const delayed = this.#delayed.get(key);
    if (delayed) {
      this.timers.clear(delayed.timer);
      this.#delayed.delete(key);
    }
    this.#ready.set(key, value);
    this.onReady();
  }

  /** Takes the oldest ready item, marking it in flight; undefined when none is ready. */
  take(): [string, T] | undefined {
    const first = this.#ready.entries().next();
    if (first.done) return undefined;
    const [key, value] = first.value;
    this.#ready.delete(key);
    this.#inFlight.add(key);
    return [key, value];
  }

  /**
   * Ends an item's processing. With `afterMs`, it comes back after that delay (unless put again
   * meanwhile, which makes it ready at once); a put during processing makes it ready now.
   */
  release(key: string, value: T, afterMs?: number): void {
    this.#inFlight.delete(key);
    const again = this.#again.get(key);
    if (again !== undefined) {
      this.#again.delete(key);
      this.put(key, again);
      return;
    }
    if (afterMs === undefined || this.#closed) return;
    const timer = this.timers.set(() => {
      this.#delayed.delete(key);
      this.put(key, value);
    }, afterMs);
    this.#delayed.set(key, { value, timer });
  }

  /** Items ready to run. */
  get readyCount(): number {
    return this.#ready.size;
  }

  /** Items waiting in any way: ready, in flight (due again or not), or delayed. */
  get length(): number {
    return this.#ready.size + this.#inFlight.size + this.#delayed.size;
  }

  /** Drops every delayed item and stops accepting new ones (what is in flight may still be released). */
  close(): void {
    this.#closed = true;
    for (const { timer } of this.#delayed.values()) this.timers.clear(timer);
    this.#delayed.clear();
    this.#ready.clear();
    this.#again.clear();
  }
}
