import type { Clock } from './clock.js';

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
  /**
   * Connections counted against a backend now (the balancer: dialing or established, as its proxy
   * counts them); `pick` prefers the fewest. Read, never kept: the caller's count is the only one.
   * Default: none (0 for all: plain round robin).
   */
  load?: (backend: B) => number;
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
  /** The last failure was a check timeout rather than a definite error. */
  timedOut?: boolean;
  /** Connections counted against it now, as `load` reports them (0 without `load`). */
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
