import type { Subscription } from 'rxjs';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { Controller, QueueStats } from './controller.js';
import { ScopedContext, type ControllerStats } from './controller-context.js';
import { Runner } from './runner.js';
import type { WatchEvent } from './core.js';
import { ControllerStatusType, ptr } from './definition.js';
import { RegistrationError } from './errors.js';
import { buildGraph, type ControllerGraph } from './graph.js';
import { componentLogger, silentLogger, type Logger } from './logger.js';
import { kindKey, type ResourceKind } from './resource.js';
import type { State } from './state.js';
import type { Resource } from './resource.js';

/** Owner of the ControllerStatuses the engine writes. */
export const RUNTIME_OWNER = 'controller-runtime';

/** Options of the controller engine. */
export interface EngineOptions {
  readonly logger?: Logger;
  /** Restart backoff for crashed controllers (default about 0.5 s growing to 60 s). */
  readonly backoff?: BackoffOptions;
}

/** A controller's counters and whether it is waiting out a crash. */
export interface ControllerStatus extends ControllerStats {
  readonly name: string;
  readonly backingOff: boolean;
  /** Crashes since the last good round; drives the restart backoff. */
  readonly consecutiveFailures: number;
  /** Queue counters of a queue-based controller. */
  readonly queue?: QueueStats;
}

/** Runs controllers: watches each input kind once, wakes controllers on changes, restarts crashed ones. */
export class Engine {
  readonly #state: State;
  readonly #logger: Logger;
  readonly #rootLogger: Logger;
  readonly #backoff: BackoffOptions;
  readonly #runners = new Map<string, Runner>();
  readonly #watches = new Map<string, Subscription>();
  readonly #abort = new AbortController();
  readonly #timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  #started = false;
  #stopped = false;
  #settleWaiters: Array<() => void> = [];

  constructor(state: State, options: EngineOptions = {}) {
    this.#state = state;
    this.#rootLogger = options.logger ?? silentLogger();
    this.#logger = componentLogger(this.#rootLogger, 'controller-runtime');
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  /** Adds a controller; it starts at once when the engine is running. */
  register(controller: Controller): void {
    if (this.#stopped) throw new RegistrationError(`engine is stopped; cannot register ${controller.name}`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(controller.name)) {
      throw new RegistrationError(`invalid controller name "${controller.name}"`);
    }
    if (this.#runners.has(controller.name)) throw new RegistrationError(`controller ${controller.name} is already registered`);
    const runner = new Runner(controller, this.#rootLogger, this.#state, () => this.#stopped);
    this.#checkDeclarations(runner);
    this.#runners.set(controller.name, runner);
    runner.onRecovered = () => this.#publish(runner, {});
    runner.onSettled = () => this.#onRunnerSettled();
    this.#publish(runner, {});
    for (const input of runner.inputs) this.#ensureWatch(input);
    // Outputs are watched too, so their owner hears when the last finalizer of a torn-down one goes.
    for (const output of runner.outputs) {
      this.#ensureWatch({ namespace: this.#state.registry.require(output.type).defaultNamespace, type: output.type });
    }
    if (this.#started) this.#launch(runner);
  }

  #checkDeclarations(runner: Runner): void {
    const name = runner.controller.name;
    for (const input of runner.inputs) {
      this.#state.registry.require(input.type);
      if (!this.#state.registry.hasNamespace(input.namespace)) {
        throw new RegistrationError(`controller ${name}: input namespace "${input.namespace}" is not registered`);
      }
    }
    for (const output of runner.outputs) {
      this.#state.registry.require(output.type);
      for (const other of this.#runners.values()) {
        const clash = other.outputs.find((o) => o.type === output.type);
        if (clash && (clash.kind === 'exclusive' || output.kind === 'exclusive')) {
          throw new RegistrationError(
            `controller ${name} declares output ${output.type} (${output.kind}), already declared by ${other.controller.name} (${clash.kind})`,
          );
        }
      }
    }
  }

  /** Starts every registered controller. */
  start(): void {
    if (this.#started) return;
    if (this.#stopped) throw new RegistrationError('engine is stopped; it cannot be started again');
    this.#started = true;
    for (const runner of this.#runners.values()) this.#launch(runner);
  }

  /** Stops every controller and watch; resolves when all controller loops have returned. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort(new Error('engine stopped'));
    for (const subscription of this.#watches.values()) subscription.unsubscribe();
    this.#watches.clear();
    for (const pending of this.#timers) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.#timers.clear();
    for (const runner of this.#runners.values()) runner.interrupt();
    this.#onRunnerSettled();
    await Promise.all([...this.#runners.values()].map((runner) => runner.done));
    await Promise.all([...this.#runners.values()].map((runner) => runner.published));
  }

  /**
   * Resolves once every controller waits for its next event with nothing pending (or is backing off
   * after a crash): what the changes made so far lead to has been written. For tests and embedders that
   * need the derived state of a change, or to check that a change leads to nothing.
   */
  async settled(): Promise<void> {
    for (;;) {
      // A macrotask first: wake-ups from writes just made have started their rounds after it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.#started || this.#stopped || [...this.#runners.values()].every((r) => r.idle || r.backingOff || r.finished)) return;
      await new Promise<void>((resolve) => this.#settleWaiters.push(resolve));
    }
  }

  /** A controller settled: whoever waits in `settled()` looks again. */
  #onRunnerSettled(): void {
    const waiters = this.#settleWaiters;
    this.#settleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Counters of every controller, by name. */
  stats(): ControllerStatus[] {
    return [...this.#runners.values()]
      .map((r) => ({
        name: r.controller.name,
        ...r.stats,
        backingOff: r.backingOff,
        consecutiveFailures: r.failures,
        ...(r.controller.queueStats ? { queue: r.controller.queueStats() } : {}),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Controllers, resource types and the edges between them. */
  graph(): ControllerGraph {
    return buildGraph([...this.#runners.values()].map((r) => ({ name: r.controller.name, inputs: r.inputs, outputs: r.outputs })));
  }

  #ensureWatch(kind: ResourceKind): void {
    const key = kindKey(kind);
    if (this.#watches.has(key) || this.#stopped) return;
    const subscription = this.#state.watchKind(kind).subscribe((event) => this.#dispatch(kind, event));
    this.#watches.set(key, subscription);
  }

  #dispatch(kind: ResourceKind, event: WatchEvent): void {
    if (event.type === 'errored') {
      // Fell behind the history: watch again and wake everyone reading or writing this kind, since events were lost.
      this.#logger.warn({ kind: kindKey(kind), err: event.error }, 'input watch overrun; re-watching');
      this.#watches.delete(kindKey(kind));
      this.#ensureWatch(kind);
      for (const runner of this.#runners.values()) {
        const reads = runner.inputs.some((i) => i.namespace === kind.namespace && i.type === kind.type);
        if (reads || runner.outputs.some((o) => o.type === kind.type)) runner.wake();
      }
      return;
    }
    if (event.type === 'bootstrapped') return;
    const { metadata } = event.resource;
    const released = event.type === 'updated' && isReleased(event.old, event.resource);
    for (const runner of this.#runners.values()) {
      const interested = runner.inputs.some((input) => {
        if (input.namespace !== kind.namespace || input.type !== kind.type) return false;
        if (input.id !== undefined && input.id !== metadata.id) return false;
        if (input.kind !== 'destroyReady') return true;
        return event.type !== 'destroyed' && metadata.phase === 'tearingDown' && metadata.finalizers.length === 0;
      });
      // An output of this controller that its cleanup left tearing down is free to destroy now.
      const ownOutputReleased = released && metadata.owner === runner.controller.name && runner.outputs.some((o) => o.type === kind.type);
      if (interested || ownOutputReleased) runner.wake();
    }
  }

  #launch(runner: Runner): void {
    runner.done = this.#supervise(runner);
  }

  async #supervise(runner: Runner): Promise<void> {
    const { controller, logger } = runner;
    while (!this.#stopped) {
      runner.schedule();
      runner.roundsThisAttempt = 0;
      const ctx = new ScopedContext(controller.name, logger, this.#abort.signal, runner.state, runner.inputs, runner.outputs, {
        nextEvent: () => runner.nextEvent(),
        trigger: () => runner.wake(),
      });
      try {
        await controller.run(ctx);
        if (!this.#stopped) logger.warn('controller returned while the engine is running; not restarting');
        runner.finished = true;
        this.#onRunnerSettled();
        return;
      } catch (err) {
        if (this.#stopped) return;
        runner.stats.crashes++;
        runner.failures++;
        const delayMs = backoffDelay(runner.failures, this.#backoff);
        logger.error({ err, delayMs, crashes: runner.stats.crashes }, 'controller failed; restarting after backoff');
        runner.backingOff = true;
        this.#onRunnerSettled();
        this.#publish(runner, { lastError: err instanceof Error ? err.message : String(err), lastCrashAt: new Date().toISOString() });
        await this.#sleep(delayMs);
        runner.backingOff = false;
        this.#publish(runner, {});
      }
    }
  }

  /** Mirrors a controller's health into its ControllerStatuses resource (on register, crash, restart, recovery). */
  #publish(runner: Runner, crash: { lastError?: string; lastCrashAt?: string }): void {
    const { stats, failures, backingOff } = runner;
    const snapshot = { crashes: stats.crashes, consecutiveFailures: failures, backingOff, ...crash };
    runner.published = runner.published
      .then(async () => {
        await this.#state.modify(
          ptr(ControllerStatusType, runner.controller.name),
          (draft) => {
            draft.spec.crashes = snapshot.crashes;
            draft.spec.consecutiveFailures = snapshot.consecutiveFailures;
            draft.spec.backingOff = snapshot.backingOff;
            if (snapshot.lastError !== undefined) draft.spec.lastError = snapshot.lastError;
            if (snapshot.lastCrashAt !== undefined) draft.spec.lastCrashAt = snapshot.lastCrashAt;
          },
          { owner: RUNTIME_OWNER, initialSpec: { crashes: 0, consecutiveFailures: 0, backingOff: false } },
        );
      })
      .catch((err: unknown) => this.#logger.warn({ err, controller: runner.controller.name }, 'cannot write controller status'));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        timer: setTimeout(() => {
          this.#timers.delete(pending);
          resolve();
        }, ms),
        resolve,
      };
      this.#timers.add(pending);
    });
  }
}

/** A tearing-down resource whose last finalizer just went: ready to destroy. */
function isReleased(old: Resource, now: Resource): boolean {
  return now.metadata.phase === 'tearingDown' && now.metadata.finalizers.length === 0 && old.metadata.finalizers.length > 0;
}
