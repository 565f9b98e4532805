import type { Clock, TimerHandle } from '../../src/loadbalancer/clock.js';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Let every queued promise callback run (one macrotask turn drains the microtask queue). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A deterministic {@link Clock} for policy tests: time moves only through `advance`, timers fire in
 * (time, creation) order, and promise callbacks are flushed between timers so async code keeps up.
 */
export class FakeClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<TimerHandle, FakeTimer>();

  /** Current fake time in milliseconds (starts at 0). */
  now(): number {
    return this.time;
  }

  /** Schedule `fn` at now + ms. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = {};
    this.timers.set(handle, { at: this.time + Math.max(0, ms), seq: this.seq++, fn });
    return handle;
  }

  /** Cancel a timer; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle);
  }

  /** Number of timers waiting to fire. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order, flushing promises between. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await flushMicrotasks();
    for (;;) {
      let next: [TimerHandle, FakeTimer] | undefined;
      for (const entry of this.timers) {
        const t = entry[1];
        if (t.at <= target && (!next || t.at < next[1].at || (t.at === next[1].at && t.seq < next[1].seq))) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
      await flushMicrotasks();
    }
    this.time = target;
    await flushMicrotasks();
  }

  /** A promise resolved after `ms` of fake time, rejected with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const handle = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        this.clearTimeout(handle);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
