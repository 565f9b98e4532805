/** Exponential backoff with jitter, as used to restart crashed controllers and retry binds. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  /** Fraction of the delay added or removed at random, so restarts across controllers spread out. */
  readonly jitter: number;
}

/** About 0.5 s growing to 60 s, ±20 %. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 60_000, multiplier: 2, jitter: 0.2 };

/** Delay before retry number `failures` (1-based). */
export function backoffDelay(failures: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.max(0, failures - 1);
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** exponent);
  const jittered = base * (1 + options.jitter * (2 * random() - 1));
  return Math.max(0, Math.round(Math.min(options.maxMs, jittered)));
}
