/**
 * Upper bounds (exclusive, milliseconds) of the latency tiers: below 100 µs, 1 ms, 10 ms, 100 ms, 1 s,
 * and a last tier for everything slower. Tier 0 is the best.
 */
export const TIER_BOUNDS_MS: readonly number[] = [0.1, 1, 10, 100, 1000];

/** The worst tier: slower than every bound, and where an upstream never measured starts. */
export const WORST_TIER = TIER_BOUNDS_MS.length;

/** The latency tier (0 = best … {@link WORST_TIER}) of a check that took `latencyMs`. */
export function latencyTier(latencyMs: number): number {
  if (!(latencyMs >= 0)) return WORST_TIER; // NaN or negative: a clock glitch must not promote anyone
  for (let i = 0; i < TIER_BOUNDS_MS.length; i++) {
    if (latencyMs < (TIER_BOUNDS_MS[i] as number)) return i;
  }
  return WORST_TIER;
}

/** A human label for a tier, e.g. `<10ms` or `>=1s`. */
export function tierLabel(tier: number): string {
  const bound = TIER_BOUNDS_MS[tier];
  if (bound === undefined) return '>=1s';
  return bound < 1 ? `<${Math.round(bound * 1000)}us` : bound < 1000 ? `<${bound}ms` : `<${bound / 1000}s`;
}
