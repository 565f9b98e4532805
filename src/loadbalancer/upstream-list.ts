import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { TimeoutError } from './errors.js';
import { latencyTier, WORST_TIER } from './tier.js';

/** What the list balances over: anything that can check its own health. The list times the call. */
export interface Backend {
  /** Resolve when healthy, reject with the reason otherwise; stop and clean up when `signal` aborts. */
  healthCheck(signal: AbortSignal): Promise<void>;
}

/** How often and how long upstreams are checked. */
export interface HealthCheckTiming {
  /** Mean time between the starts of two checks of one upstream. */
  intervalMs: number;
  /** Bound on one check; the signal is aborted and the check counts as failed when it passes. */
  timeoutMs: number;
  /** Relative spread of the interval (0.1 → ±10 %), so upstreams are not checked in lockstep. */
  jitter: number;
}

/** The outcome of one health check, as reported to {@link UpstreamListOptions.onCheck}. */
export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** Options of an {@link UpstreamList}; every field has a default. */
export interface UpstreamListOptions<B> extends Partial<HealthCheckTiming> {
  clock?: Clock;
  /** Uniform [0, 1) source for the jitter (injected for deterministic tests). */
  random?: () => number;
  /** Lower score bound (a long failure streak sinks no further). Default -5. */
  minScore?: number;
  /** Upper score bound (a long success streak rises no further). Default 5. */
  maxScore?: number;
  /** Consecutive slower measurements needed to demote an upstream's tier. Default 3. */
  tierDemoteAfter?: number;
  /** Identity of a backend across `reconcile` calls. Default: the object itself. */
  keyOf?: (backend: B) => unknown;
  /** Called after every check (for latency histograms); not a change notification. */
  onCheck?: (backend: B, result: CheckResult) => void;
}

/** The health of one upstream as the list sees it. */
export interface UpstreamState {
  /**
   * A signed streak: n > 0 after n successes in a row, -n after n failures (or dial failures) in a row,
   * 0 before the first check. Bounded by minScore/maxScore.
   */
  score: number;
  /** Usable for new connections: score > 0. */
  healthy: boolean;
  /** Latency tier of the last successful checks (0 best); {@link WORST_TIER} until measured. */
  tier: number;
  /** Latency of the last successful check. */
  latencyMs?: number;
  /** Why the last check or dial failed; cleared by a successful check. */
  lastError?: string;
  /** Connections handed out by `acquire` and not yet released. */
  active: number;
}

/** A change worth telling the world about: an upstream appeared, vanished, or its health/tier/score moved. */
export interface UpstreamChange<B> {
  type: 'added' | 'updated' | 'removed';
  backend: B;
  state: UpstreamState;
  /** The state before an update. */
  previous?: UpstreamState;
}

interface Node<B> {
  backend: B;
  key: unknown;
  score: number;
  tier: number;
  latencyMs?: number;
  lastError?: string;
  active: number;
  /** Best of the consecutive slower tiers measured since the last tier change, and how many. */
  pendingTier: number;
  pendingCount: number;
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
  private readonly minScore: number;
  private readonly maxScore: number;
  private readonly tierDemoteAfter: number;
  private readonly keyOf: (backend: B) => unknown;
  private readonly onCheck: ((backend: B, result: CheckResult) => void) | undefined;

  constructor(options: UpstreamListOptions<B> = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.minScore = options.minScore ?? -5;
    this.maxScore = options.maxScore ?? 5;
    this.tierDemoteAfter = options.tierDemoteAfter ?? 3;
    this.keyOf = options.keyOf ?? ((b) => b);
    this.onCheck = options.onCheck;
    this.timing = {
      intervalMs: options.intervalMs ?? 1000,
      timeoutMs: options.timeoutMs ?? 1000,
      jitter: options.jitter ?? 0.1,
    };
    if (this.minScore >= 0 || this.maxScore <= 0) throw new RangeError('minScore must be < 0 < maxScore');
  }

  /** Replace the set of backends; survivors (same key) keep their health state and connection counts. */
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
        node = { backend, key, score: 0, tier: WORST_TIER, active: 0, pendingTier: WORST_TIER, pendingCount: 0, removed: false };
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
      this.emit({ type: 'removed', backend: n.backend, state: stateOf(n) });
    }
    for (const n of added) this.emit({ type: 'added', backend: n.backend, state: stateOf(n) });
    // A new upstream is checked at once: it should not wait a whole interval to become usable.
    for (const n of added) this.check(n);
    return { added: added.map((n) => n.backend), removed: removed.map((n) => n.backend) };
  }

  /**
   * Choose the upstream for a new connection, skipping `exclude` (those already tried): the best tier
   * with a usable upstream, fewest active connections, round robin among equals. When none of the
   * remaining is usable (panic mode) every one is a candidate, best score first, then tier.
   */
  pick(exclude?: ReadonlySet<B>): B | undefined {
    const count = this.nodes.length;
    let bestTier = Infinity;
    for (const n of this.nodes) {
      if (n.score > 0 && n.tier < bestTier && !exclude?.has(n.backend)) bestTier = n.tier;
    }
    const panic = bestTier === Infinity;
    let best: Node<B> | undefined;
    let bestIndex = 0;
    for (let k = 0; k < count; k++) {
      const i = (this.cursor + k) % count;
      const n = this.nodes[i] as Node<B>;
      if (exclude?.has(n.backend)) continue;
      if (!panic && (n.score <= 0 || n.tier !== bestTier)) continue;
      if (best === undefined || better(n, best, panic)) {
        best = n;
        bestIndex = i;
      }
    }
    if (best === undefined) return undefined;
    this.cursor = (bestIndex + 1) % count; // the next equal candidate goes first next time
    return best.backend;
  }

  /** `pick`, and count the connection against the chosen upstream until `release`. */
  acquire(exclude?: ReadonlySet<B>): B | undefined {
    const backend = this.pick(exclude);
    if (backend !== undefined) (this.byKey.get(this.keyOf(backend)) as Node<B>).active++;
    return backend;
  }

  /** A connection counted by `acquire` ended (or its dial failed). */
  release(backend: B): void {
    const n = this.byKey.get(this.keyOf(backend));
    if (n && n.active > 0) n.active--;
  }

  /** Mark an upstream down at once (a dial failed), as if a check had failed. */
  down(backend: B, reason: string): void {
    const n = this.byKey.get(this.keyOf(backend));
    if (!n || this.stopped) return;
    this.apply(n, () => this.fail(n, reason));
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
    return n ? stateOf(n) : undefined;
  }

  /** Every upstream with its state, in list order. */
  entries(): Array<{ backend: B; state: UpstreamState }> {
    return this.nodes.map((n) => ({ backend: n.backend, state: stateOf(n) }));
  }

  /** True when some upstream is usable for new connections. */
  anyHealthy(): boolean {
    return this.nodes.some((n) => n.score > 0);
  }

  /** True when `backend` is in the list and usable. */
  isHealthy(backend: B): boolean {
    return (this.byKey.get(this.keyOf(backend))?.score ?? 0) > 0;
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
    const finish = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      this.clock.clearTimeout(timeout);
      if (n.inFlight === controller) n.inFlight = undefined;
      if (this.stopped || n.removed) return;
      const latencyMs = this.clock.now() - start;
      this.apply(n, () => (error === undefined ? this.succeed(n, latencyMs) : this.fail(n, error)));
      this.onCheck?.(n.backend, error === undefined ? { ok: true, latencyMs } : { ok: false, latencyMs, error });
      // Start-to-start spacing, so a slow check does not stretch the interval.
      this.schedule(n, this.nextDelay(latencyMs));
    };
    const timeout = this.clock.setTimeout(() => {
      const message = `health check timed out after ${timeoutMs} ms`;
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

  private succeed(n: Node<B>, latencyMs: number): void {
    n.score = Math.min(this.maxScore, Math.max(n.score, 0) + 1);
    n.lastError = undefined;
    n.latencyMs = latencyMs;
    const measured = latencyTier(latencyMs);
    if (measured <= n.tier) {
      // Faster (or same): take it at once.
      n.tier = measured;
      n.pendingCount = 0;
      return;
    }
    // Slower: noise (GC pause, busy CPU, a queue somewhere) only ever adds latency, so the tier follows
    // the minimum of recent checks: demoted only when the last `tierDemoteAfter` were all slower.
    n.pendingTier = n.pendingCount === 0 ? measured : Math.min(n.pendingTier, measured);
    n.pendingCount++;
    if (n.pendingCount >= this.tierDemoteAfter) {
      n.tier = n.pendingTier;
      n.pendingCount = 0;
    }
  }

  private fail(n: Node<B>, reason: string): void {
    // Any failure makes the upstream unusable at once (score ≤ -1): a broken server must stop getting
    // connections within one interval; the depth of the streak orders upstreams in panic mode.
    n.score = Math.max(this.minScore, Math.min(n.score, 0) - 1);
    n.lastError = reason;
    n.pendingCount = 0;
  }

  private apply(n: Node<B>, mutate: () => void): void {
    const previous = stateOf(n);
    mutate();
    if (previous.score !== n.score || previous.tier !== n.tier) {
      this.emit({ type: 'updated', backend: n.backend, state: stateOf(n), previous });
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

  private emit(change: UpstreamChange<B>): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}

function better<B>(a: Node<B>, b: Node<B>, panic: boolean): boolean {
  if (panic) {
    if (a.score !== b.score) return a.score > b.score;
    if (a.tier !== b.tier) return a.tier < b.tier;
  }
  return a.active < b.active;
}

function stateOf<B>(n: Node<B>): UpstreamState {
  const state: UpstreamState = { score: n.score, healthy: n.score > 0, tier: n.tier, active: n.active };
  if (n.latencyMs !== undefined) state.latencyMs = n.latencyMs;
  if (n.lastError !== undefined) state.lastError = n.lastError;
  return state;
}
