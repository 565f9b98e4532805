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
export function recordFailure(s: ScoreState, reason: string, rules: ScoreRules): void {
  s.score = Math.max(rules.minScore, Math.min(s.score, 0) - 1);
  s.lastError = reason;
  s.pendingCount = 0;
}
