import type { Controller, ControllerInput, ControllerOutput } from './controller.js';
import type { ControllerStats } from './controller-context.js';
import { CountingCore } from './counting-core.js';
import { componentLogger, type Logger } from './logger.js';
import { State } from './state.js';

/** Supervises one controller: its dirty latch, its restarts and its counters. */
export class Runner {
  readonly stats: ControllerStats = { wakeups: 0, reads: 0, writes: 0, crashes: 0 };
  readonly inputs: readonly ControllerInput[];
  readonly outputs: readonly ControllerOutput[];
  readonly logger: Logger;
  /** The controller's own view of the store: every call through it counts in `stats`. */
  readonly state: State;
  dirty = false;
  backingOff = false;
  /** Its run returned (or the engine stopped it): it will not run again. */
  finished = false;
  failures = 0;
  roundsThisAttempt = 0;
  /** Status writes, chained so they land in order. */
  published: Promise<void> = Promise.resolve();
  /** Called when a round starts after crashes: the controller recovered. */
  onRecovered: () => void = () => undefined;
  /** Called when it settles: waiting with nothing pending, backing off, or finished. */
  onSettled: () => void = () => undefined;
  #waiter: (() => void) | undefined;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly controller: Controller,
    rootLogger: Logger,
    state: State,
    private readonly isStopped: () => boolean,
  ) {
    this.inputs = [...controller.inputs()];
    this.outputs = [...controller.outputs()];
    this.logger = componentLogger(rootLogger, controller.name);
    this.state = new State(new CountingCore(state.core, this.stats), state.registry);
  }

  /** Sets the latch, counting a wake-up when it was clear (COSI counts a reconcile when it is scheduled). */
  schedule(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.stats.wakeups++;
  }

  /** Schedules a round; `nextEvent` starts it a macrotask later, so bursts of changes coalesce. */
  wake(): void {
    this.schedule();
    this.#release();
  }

  /** Lets a waiting `nextEvent` re-check its conditions (wake-up or stop). */
  #release(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  interrupt(): void {
    this.#release();
  }

  /** Waiting for its next event with nothing pending: its last round is over. */
  get idle(): boolean {
    return this.#waiter !== undefined && !this.dirty;
  }

  async nextEvent(): Promise<boolean> {
    // Asking for the next event means the previous round ended without throwing: forgive past crashes.
    if (this.roundsThisAttempt++ > 0 && this.failures > 0) {
      this.failures = 0;
      this.onRecovered();
    }
    for (;;) {
      if (this.isStopped()) return false;
      if (this.dirty) {
        // Yield a macrotask first so changes made in the same tick land in this round.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.isStopped()) return false;
        this.dirty = false;
        return true;
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        this.onSettled();
      });
    }
  }
}
