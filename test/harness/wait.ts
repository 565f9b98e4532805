import type { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import type { LoadBalancerSnapshot } from '../../src/loadbalancer/snapshot.js';

/** How long and on what to wait. */
export interface WaitOptions {
  /** What is awaited, in words, for the failure message. */
  description: string;
  /** Deadline; default 5 s. */
  timeoutMs?: number;
  /** Re-check whenever this source calls `wake`; returns an unsubscribe function. */
  subscribe?: (wake: () => void) => () => void;
  /** Also re-check every `pollMs` (for state that announces no events, e.g. counters). */
  pollMs?: number;
  /** The state to print when the deadline passes. */
  detail?: () => unknown;
}

/**
 * Resolve with the first truthy result of `check`, evaluated now, on every wake-up from `subscribe`
 * and every `pollMs`; reject at the deadline with the description and the last state. This replaces
 * sleep-then-assert: the test moves on as soon as the condition holds.
 */
export function waitFor<T>(check: () => T | false | undefined | null, options: WaitOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    // Assigned after `finish` exists: a subscription may report (and finish) synchronously.
    let unsubscribe: (() => void) | undefined = undefined;
    let poll: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (poll) clearInterval(poll);
      unsubscribe?.();
      if (err === undefined) resolve(value as T);
      else reject(err);
    };
    const evaluate = (): void => {
      if (done) return;
      try {
        const value = check();
        if (value) finish(undefined, value);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const deadline = setTimeout(() => {
      const detail = options.detail ? `\nlast state: ${inspect(options.detail(), { depth: 6, breakLength: 120 })}` : '';
      finish(new Error(`timed out after ${timeoutMs} ms waiting for ${options.description}${detail}`));
    }, timeoutMs);
    unsubscribe = options.subscribe?.(evaluate);
    if (options.pollMs) poll = setInterval(evaluate, options.pollMs);
    evaluate();
  });
}

/**
 * Wait until `lb.snapshot()` satisfies `predicate`: re-checked on every `onChange` and, for counters
 * that do not announce themselves (connections, bytes), every 20 ms. Resolves with that snapshot.
 */
export function waitForSnapshot(
  lb: LoadBalancer,
  predicate: (snapshot: LoadBalancerSnapshot) => boolean,
  description: string,
  timeoutMs = 5_000,
): Promise<LoadBalancerSnapshot> {
  return waitFor(
    () => {
      const s = lb.snapshot();
      return predicate(s) ? s : undefined;
    },
    { description, timeoutMs, subscribe: (wake) => lb.onChange(wake), pollMs: 20, detail: () => lb.snapshot() },
  );
}

/** Wait until the balancer's upstream at `address` (`host:port`) satisfies `predicate`. */
export function waitForUpstream(
  lb: LoadBalancer,
  address: string,
  predicate: (u: LoadBalancerSnapshot['upstreams'][number]) => boolean,
  description: string,
  timeoutMs = 5_000,
): Promise<LoadBalancerSnapshot> {
  return waitForSnapshot(
    lb,
    (s) => {
      const u = s.upstreams.find((x) => x.address === address);
      return u !== undefined && predicate(u);
    },
    `${address}: ${description}`,
    timeoutMs,
  );
}

/** Wait for `event` on `emitter` (optionally one whose first argument passes `filter`). */
export function waitForEvent<A = unknown>(
  emitter: EventEmitter,
  event: string,
  description: string,
  filter?: (arg: A) => boolean,
  timeoutMs = 5_000,
): Promise<A> {
  let hit: { arg: A } | undefined; // boxed: the event's argument may itself be falsy
  return waitFor(() => hit, {
    description: `${description} (event "${event}")`,
    timeoutMs,
    subscribe: (wake) => {
      const on = (arg: A): void => {
        if (!filter || filter(arg)) {
          hit = { arg };
          wake();
        }
      };
      emitter.on(event, on);
      return () => emitter.removeListener(event, on);
    },
  }).then((h) => h.arg);
}

/** Wait until `check()` is truthy, polling every `pollMs` (default 10 ms): for state with no events at all. */
export function waitUntil<T>(check: () => T | false | undefined | null, description: string, timeoutMs = 5_000, pollMs = 10): Promise<T> {
  return waitFor(check, { description, timeoutMs, pollMs });
}
