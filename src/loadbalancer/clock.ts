/** An opaque timer handle returned by a {@link Clock}. */
export type TimerHandle = object;

/** Time and timers, injected so the policy code can be driven by a fake clock in tests. */
export interface Clock {
  /** Monotonic milliseconds (fractional: latency tiers go down to 100 µs). */
  now(): number;
  /** Run `fn` once after `ms`; the timer must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer from {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and unref'd Node timers (the embedder decides the process lifetime). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
