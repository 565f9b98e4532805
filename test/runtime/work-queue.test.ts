import { describe, expect, it } from 'vitest';
import { WorkQueue, type QueueTimers } from '../../src/runtime/index.js';

/** Timers that fire only when the test says so. */
class ManualTimers implements QueueTimers {
  readonly pending = new Map<object, { fn: () => void; ms: number }>();
  set(fn: () => void, ms: number): object {
    const handle = {};
    this.pending.set(handle, { fn, ms });
    return handle;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as object);
  }
  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const { fn } of due) fn();
  }
}

function queue() {
  const timers = new ManualTimers();
  let ready = 0;
  const q = new WorkQueue<string>(() => ready++, timers);
  return { q, timers, readyCalls: () => ready };
}

describe('work queue (queue-based controllers)', () => {
  it('deduplicates by key, oldest first, the latest value winning', () => {
    const { q } = queue();
    q.put('a', 'a1');
    q.put('b', 'b1');
    q.put('a', 'a2');
    expect(q.take()).toEqual(['a', 'a2']);
    expect(q.take()).toEqual(['b', 'b1']);
    expect(q.take()).toBeUndefined();
  });

  it('runs an item put during its processing once more after its release, never twice at once', () => {
    const { q } = queue();
    q.put('a', 'v1');
    expect(q.take()).toEqual(['a', 'v1']);
    q.put('a', 'v2');
    q.put('a', 'v3');
    expect(q.take()).toBeUndefined(); // still in flight
    expect(q.length).toBe(1);
    q.release('a', 'v1');
    expect(q.take()).toEqual(['a', 'v3']);
  });

  it('brings a released item back after its delay, or at once when it is put meanwhile', () => {
    const { q, timers, readyCalls } = queue();
    q.put('a', 'v1');
    q.take();
    q.release('a', 'v1', 250);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([250]);
    expect(q.take()).toBeUndefined();
    expect(q.length).toBe(1);
    const calls = readyCalls();
    timers.fireAll();
    expect(readyCalls()).toBe(calls + 1);
    expect(q.take()).toEqual(['a', 'v1']);
    q.release('a', 'v1', 10_000);
    q.put('a', 'changed');
    expect(timers.pending.size).toBe(0); // the delay was dropped
    expect(q.take()).toEqual(['a', 'changed']);
  });

  it('drops delayed items and their timers on close', () => {
    const { q, timers } = queue();
    q.put('a', 'v');
    q.take();
    q.release('a', 'v', 100);
    q.put('b', 'v');
    q.close();
    expect(timers.pending.size).toBe(0);
    expect(q.take()).toBeUndefined();
    q.put('c', 'v');
    expect(q.length).toBe(0);
  });
});
