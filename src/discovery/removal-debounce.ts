import type { MemberSpec } from '../config/index.js';

/** What the members should be now, which of them are only waiting out their delay, and when to look again. */
export interface DebounceDecision {
  readonly members: Map<string, MemberSpec>;
  /** Ids kept although absent from the last known state. */
  readonly leaving: string[];
  /** When the next absent member's delay runs out (epoch ms); undefined when none is waiting. */
  readonly nextCheckAt?: number;
}

/**
 * Debounces member removal (no sockets, no timers: the caller passes the time and schedules the next
 * look). A member seen in the last known state is current at once (arrivals are good news); one missing
 * from it stays with its last spec until it has been missing for `delayMs` without a break, so an API
 * server that leaves and rejoins while it restarts never drops out. With no known state yet (`observed`
 * undefined: not synced since the source started) every member stays and no clock runs.
 */
export class RemovalDebounce {
  readonly #absentSince = new Map<string, number>();

  /** The decision for `now`, from the members written so far and the last known state. */
  decide(
    now: number,
    current: ReadonlyMap<string, MemberSpec>,
    observed: ReadonlyMap<string, MemberSpec> | undefined,
    delayMs: number,
  ): DebounceDecision {
    if (observed === undefined) return { members: new Map(current), leaving: [] };
    const members = new Map(observed);
    const leaving: string[] = [];
    let nextCheckAt: number | undefined;
    for (const id of [...this.#absentSince.keys()]) {
      if (observed.has(id) || !current.has(id)) this.#absentSince.delete(id);
    }
    for (const [id, spec] of current) {
      if (observed.has(id)) continue;
      const since = this.#absentSince.get(id) ?? now;
      this.#absentSince.set(id, since);
      const due = since + delayMs;
      if (now >= due) {
        this.#absentSince.delete(id);
        continue;
      }
      members.set(id, spec);
      leaving.push(id);
      nextCheckAt = nextCheckAt === undefined ? due : Math.min(nextCheckAt, due);
    }
    return { members, leaving, ...(nextCheckAt !== undefined ? { nextCheckAt } : {}) };
  }

  /** Forgets every clock (the source was switched off). */
  reset(): void {
    this.#absentSince.clear();
  }
}
