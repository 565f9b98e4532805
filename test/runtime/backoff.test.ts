import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/runtime/backoff.js';

describe('backoffDelay', () => {
  const b = { initialMs: 1000, maxMs: 30_000, multiplier: 2, jitter: 0.2 };

  it('grows by the multiplier from the first failure up to the cap', () => {
    expect([1, 2, 3, 5, 6, 20].map((n) => backoffDelay(n, b, () => 0.5))).toEqual([1000, 2000, 4000, 16_000, 30_000, 30_000]);
    expect(backoffDelay(3, { ...b, multiplier: 3 }, () => 0.5)).toBe(9000);
  });

  it('moves each delay by at most the jitter, and never past the cap', () => {
    expect(backoffDelay(1, b, () => 0)).toBe(800);
    expect(backoffDelay(1, b, () => 1)).toBe(1200);
    expect(backoffDelay(20, b, () => 1)).toBe(30_000);
    expect(backoffDelay(20, b, () => 0)).toBe(24_000);
  });

  it('defaults to about 0.5 s growing to 60 s', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.5)).toBe(500);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 0.5)).toBe(60_000);
  });
});
