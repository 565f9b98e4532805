import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { TimeoutError } from './errors.js';
import type { Backend, CheckResult, HealthCheckTiming, UpstreamChange, UpstreamListOptions, UpstreamState } from './upstream-types.js';
import { initialScore, recordFailure, recordSuccess, type ScoreRules, type ScoreState } from './score.js';

export type { Backend, CheckResult, HealthCheckTiming, UpstreamChange, UpstreamListOptions, UpstreamState } from './upstream-types.js';

interface Node<B> extends ScoreState {
  backend: B;
  key: unknown;
  timer?: TimerHandle;
  inFlight?: AbortController;
  removed: boolean;
}

/**
 * The pure balancing policy: scores, tiers, health-check scheduling, pick and reconcile, over any
 * {@link Backend}. Imports nothing from `net`; the socket layer only reports outcomes (`down`).
 *
 * Selection: among usable upstreams in the best tier, the one with the fewest active connections,
 * round robin among equals. Kubernetes clients hold long-lived watch connections, so plain round robin
 * over *new* connections can leave one server with most of the watches (e.g. after it was the only one
 * up); counting active connections evens that out, and the round-robin tie break still spreads bursts.
 * The list does not count connections itself: it reads them through `load` (the proxy's count, the one
 * source of truth), so nothing has to be handed back when a connection ends.
 */
export class UpstreamList<B extends Backend> {
  private nodes: Node<B>[] = [];
  private readonly byKey = new Map<unknown, Node<B>>();
  private readonly listeners = new Set<(change: UpstreamChange<B>) => void>();
  private cursor = 0;
  private stopped = false;
  private timing: HealthCheckTiming;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly rules: ScoreRules;
  private readonly keyOf: (backend: B) => unknown;
  private readonly load: (backend: B) => number;
  private readonly onCheck: ((backend: B, result: CheckResult) => void) | undefined;

  constructor(options: UpstreamListOptions<B> = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.rules = { minScore: options.minScore ?? -5, maxScore: options.maxScore ?? 5, tierDemoteAfter: options.tierDemoteAfter ?? 3 };
    this.keyOf = options.keyOf ?? ((b) => b);
    this.load = options.load ?? noLoad;
    this.onCheck = options.onCheck;
    this.timing = {
      intervalMs: options.intervalMs ?? 1000,
      timeoutMs: options.timeoutMs ?? 1000,
      jitter: options.jitter ?? 0.1,
    };
    if (this.rules.minScore >= 0 || this.rules.maxScore <= 0) throw new RangeError('minScore must be < 0 < maxScore');
  }

  /** Replace the set of backends; survivors (same key) keep their health state (and their backend object). */
  reconcile(backends: Iterable<B>): { added: B[]; removed: B[] } {
    const next: Node<B>[] = [];
    const nextKeys = new Set<unknown>();
    const added: Node<B>[] = [];
    for (const backend of backends) {
      const key = this.keyOf(backend);
      if (nextKeys.has(key)) continue; // duplicates collapse to the first
      nextKeys.add(key);
      let node = this.byKey.get(key);
      if (!node) {
        node = { ...initialScore(), backend, key, removed: false };
        added.push(node);
      }
      next.push(node);
    }
    const removed = this.nodes.filter((n) => !nextKeys.has(n.key));
    this.nodes = next;
    this.byKey.clear();
    for (const n of next) this.byKey.set(n.key, n);
    this.cursor = next.length === 0 ? 0 : this.cursor % next.length;
    for (const n of removed) {
      n.removed = true;
      this.cancel(n);
      this.emit({ type: 'removed', backend: n.backend, state: this.stateOf(n) });
    }
    for (const n of added) this.emit({ type: 'added', backend: n.backend, state: this.stateOf(n) });
    // A new upstream is checked at once: it should not wait a whole interval to become usable.
    for (const n of added) this.check(n);
    return { added: added.map((n) => n.backend), removed: removed.map((n) => n.backend) };
  }

  /**
   * Choose the upstream for a new connection, skipping `exclude` (those already tried): the best tier
   * with a usable upstream, fewest active connections (`load`), round robin among equals. When none of
   * the remaining is usable (panic mode) every one is a candidate, best score first, then tier. Picking
   * reserves nothing: the caller's count (`load`) moves when it dials the upstream.
   */
  pick(exclude?: ReadonlySet<B>): B | undefined {
    const count = this.nodes.length;
    let bestTier = Infinity;
    for (const n of this.nodes) {
      if (n.score > 0 && n.tier < bestTier && !exclude?.has(n.backend)) bestTier = n.tier;
    }
    const panic = bestTier === Infinity;
    let best: Node<B> | undefined;
    let bestLoad = 0;
    let bestIndex = 0;
    for (let k = 0; k < count; k++) {
      const i = (this.cursor + k) % count;
      const n = this.nodes[i] as Node<B>;
      if (exclude?.has(n.backend)) continue;
      if (!panic && (n.score <= 0 || n.tier !== bestTier)) continue;
      const load = this.load(n.backend);
      if (best === undefined || better(n, load, best, bestLoad, panic)) {
        best = n;
        bestLoad = load;
        bestIndex = i;
      }
    }
    if (best === undefined) return undefined;
    this.cursor = (bestIndex + 1) % count; // the next equal candidate goes first next time
    return best.backend;
  }

  /**
   * Mark an upstream down at once (a dial failed, or a connection went unanswered), as if a check had
   * failed; `timedOut` says the failure was a timeout (see `shouldCloseConnections`).
   */
  down(backend: B, reason: string, timedOut = false): void {
    const n = this.byKey.get(this.keyOf(backend));
    if (!n || this.stopped) return;
    this.apply(n, () => recordFailure(n, reason, this.rules, timedOut));
  }

  /** Check `backend` (or every upstream) now instead of at its next scheduled time. */
  checkNow(backend?: B): void {
    const targets = backend === undefined ? this.nodes : [this.byKey.get(this.keyOf(backend))];
    for (const n of targets) if (n && !n.inFlight) this.check(n);
  }

  /** Change the check timing; idle upstreams are rescheduled under the new interval. */
  setTiming(timing: HealthCheckTiming): void {
    this.timing = { ...timing };
    for (const n of this.nodes) if (n.timer !== undefined) this.schedule(n, this.nextDelay(0));
  }

  /** The state of one upstream, or undefined when it is not in the list. */
  state(backend: B): UpstreamState | undefined {
    const n = this.byKey.get(this.keyOf(backend));
    return n ? this.stateOf(n) : undefined;
  }

  /** Every upstream with its state, in list order. */
  entries(): Array<{ backend: B; state: UpstreamState }> {
    return this.nodes.map((n) => ({ backend: n.backend, state: this.stateOf(n) }));
  }

  /** True when some upstream is usable for new connections. */
  anyHealthy(): boolean {
    return this.nodes.some((n) => n.score > 0);
  }

  /** Subscribe to changes of health, tier or score, and to added/removed upstreams. */
  onChange(listener: (change: UpstreamChange<B>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop all checks for good (in-flight ones are aborted). */
  stop(): void {
    this.stopped = true;
    for (const n of this.nodes) this.cancel(n);
  }

  private check(n: Node<B>): void {
    if (this.stopped || n.removed || n.inFlight) return;
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = undefined;
    const controller = new AbortController();
    n.inFlight = controller;
    const start = this.clock.now();
    const { timeoutMs } = this.timing;
    let settled = false;
    let timedOut = false;
    const finish = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      this.clock.clearTimeout(timeout);
      if (n.inFlight === controller) n.inFlight = undefined;
      if (this.stopped || n.removed) return;
      const latencyMs = this.clock.now() - start;
      this.apply(n, () => (error === undefined ? recordSuccess(n, latencyMs, this.rules) : recordFailure(n, error, this.rules, timedOut)));
      this.onCheck?.(n.backend, error === undefined ? { ok: true, latencyMs } : { ok: false, latencyMs, error });
      // Start-to-start spacing, so a slow check does not stretch the interval.
      this.schedule(n, this.nextDelay(latencyMs));
    };
    const timeout = this.clock.setTimeout(() => {
      const message = `health check timed out after ${timeoutMs} ms`;
      timedOut = true;
      controller.abort(new TimeoutError(message));
      finish(message);
    }, timeoutMs);
    let pending: Promise<void>;
    try {
      pending = n.backend.healthCheck(controller.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => finish(undefined),
      (err: unknown) => finish(err instanceof Error ? err.message : String(err)),
    );
  }

  private apply(n: Node<B>, mutate: () => void): void {
    const previous = this.stateOf(n);
    mutate();
    if (previous.score !== n.score || previous.tier !== n.tier) {
      this.emit({ type: 'updated', backend: n.backend, state: this.stateOf(n), previous });
    }
  }

  private nextDelay(elapsedMs: number): number {
    const { intervalMs, jitter } = this.timing;
    const spread = intervalMs * jitter * (2 * this.random() - 1);
    return Math.max(0, intervalMs + spread - elapsedMs);
  }

  private schedule(n: Node<B>, delayMs: number): void {
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = this.clock.setTimeout(() => {
      n.timer = undefined;
      this.check(n);
    }, delayMs);
  }

  private cancel(n: Node<B>): void {
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = undefined;
    n.inFlight?.abort(new TimeoutError('health check cancelled'));
    n.inFlight = undefined;
  }

  private stateOf(n: Node<B>): UpstreamState {
    const state: UpstreamState = { score: n.score, healthy: n.score > 0, tier: n.tier, active: this.load(n.backend) };
    if (n.latencyMs !== undefined) state.latencyMs = n.latencyMs;
    if (n.lastError !== undefined) state.lastError = n.lastError;
    if (n.timedOut === true) state.timedOut = true;
    return state;
  }

  private emit(change: UpstreamChange<B>): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}

function better<B>(a: Node<B>, aLoad: number, b: Node<B>, bLoad: number, panic: boolean): boolean {
  if (panic) {
    if (a.score !== b.score) return a.score > b.score;
    if (a.tier !== b.tier) return a.tier < b.tier;
  }
  return aLoad < bLoad;
}

function noLoad(): number {
  return 0;
}
