import { latencyTier, WORST_TIER } from './tier.js';

/** The health bookkeeping of one upstream that checks and dials move. */
export interface ScoreState {
  /** Signed streak: +n after n successes in a row, -n after n failures, 0 before the first check. */
  score: number;
  /** Latency tier (0 best); {@link WORST_TIER} until measured. */
  tier: number;
  /** Latency of the last successful check. */
  latencyMs?: number;
  /** Why the last check or dial failed; cleared by a success. */
  lastError?: string;
  /** The last failure was a check that ran out of time (ambiguous on a busy machine), not a refusal or an error. */
  timedOut?: boolean;
  /** Best of the consecutive slower tiers measured since the last tier change, and how many. */
  pendingTier: number;
  pendingCount: number;
}

/** Bounds and hysteresis of the scoring. */
export interface ScoreRules {
  minScore: number;
  maxScore: number;
  /** Consecutive slower measurements needed to demote a tier. */
  tierDemoteAfter: number;
}

/** The state of an upstream nothing is known about yet. */
export function initialScore(): ScoreState {
  return { score: 0, tier: WORST_TIER, pendingTier: WORST_TIER, pendingCount: 0 };
}

/** A check succeeded in `latencyMs`: the score rises (from 0 if it was negative), the tier follows the latency. */
export function recordSuccess(s: ScoreState, latencyMs: number, rules: ScoreRules): void {
  s.score = Math.min(rules.maxScore, Math.max(s.score, 0) + 1);
  delete s.lastError;
  delete s.timedOut;
  s.latencyMs = latencyMs;
  const measured = latencyTier(latencyMs);
  if (measured <= s.tier) {
    // Faster (or same): take it at once.
    s.tier = measured;
    s.pendingCount = 0;
    return;
  }
  // Slower: noise (GC pause, busy CPU, a queue somewhere) only ever adds latency, so the tier follows
  // the minimum of recent checks: demoted only when the last `tierDemoteAfter` were all slower.
  s.pendingTier = s.pendingCount === 0 ? measured : Math.min(s.pendingTier, measured);
  s.pendingCount++;
  if (s.pendingCount >= rules.tierDemoteAfter) {
    s.tier = s.pendingTier;
    s.pendingCount = 0;
  }
}

/**
 * A check or dial failed: the upstream is unusable at once (score ≤ -1), so a broken server stops
 * getting connections within one interval; the depth of the streak orders upstreams in panic mode.
 */
export function recordFailure(s: ScoreState, reason: string, rules: ScoreRules, timedOut = false): void {
  s.score = Math.max(rules.minScore, Math.min(s.score, 0) - 1);
  s.lastError = reason;
  if (timedOut) s.timedOut = true;
  else delete s.timedOut;
  s.pendingCount = 0;
}

/**
 * Whether connections already open to an upstream should be closed (so clients move elsewhere): after
 * a definite failure (refused, reset, 5xx, TLS error), or after two failures in a row. A single check
 * that ran out of time is not enough: on a busy node that is often the node, not the server, and
 * closing every watch on it would hurt more than waiting one interval.
 */
export function shouldCloseConnections(s: { score: number; timedOut?: boolean }): boolean {
  return s.score <= -2 || (s.score < 0 && s.timedOut !== true);
}
