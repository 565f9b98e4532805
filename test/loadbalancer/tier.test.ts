import { describe, expect, it } from 'vitest';
import { latencyTier, tierLabel, TIER_BOUNDS_MS, WORST_TIER } from '../../src/loadbalancer/tier.js';
import { shouldCloseConnections } from '../../src/loadbalancer/score.js';

// Tiers: <100 µs, <1 ms, <10 ms, <100 ms, <1 s, and everything slower. Bounds are exclusive.
describe('latencyTier', () => {
  it.each([
    [0, 0],
    [0.05, 0],
    [0.0999, 0],
    [0.1, 1],
    [0.5, 1],
    [0.999, 1],
    [1, 2],
    [5, 2],
    [9.999, 2],
    [10, 3],
    [50, 3],
    [99.9, 3],
    [100, 4],
    [999, 4],
    [1000, 5],
    [60_000, 5],
    [Number.POSITIVE_INFINITY, 5],
    [Number.NaN, 5],
    [-1, 5],
  ])('%s ms → tier %s', (latency, tier) => {
    expect(latencyTier(latency)).toBe(tier);
  });

  it('has six tiers', () => {
    expect(TIER_BOUNDS_MS).toHaveLength(5);
    expect(WORST_TIER).toBe(5);
  });

  it.each([
    [0, '<100us'],
    [1, '<1ms'],
    [2, '<10ms'],
    [3, '<100ms'],
    [4, '<1s'],
    [5, '>=1s'],
  ])('tier %s is labelled %s', (tier, label) => {
    expect(tierLabel(tier)).toBe(label);
  });
});

describe('shouldCloseConnections', () => {
  it.each([
    [{ score: 3 }, false],
    [{ score: 0 }, false], // not checked yet
    [{ score: -1 }, true], // refused, reset, 5xx: definite
    [{ score: -1, timedOut: true }, false], // one slow check on a busy node: wait for the next
    [{ score: -2, timedOut: true }, true], // two in a row
    [{ score: -5 }, true],
  ])('%o → %s', (state, expected) => {
    expect(shouldCloseConnections(state)).toBe(expected);
  });
});
