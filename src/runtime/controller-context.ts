import type { Observable } from 'rxjs';
import type { ControllerContext, ControllerInput, ControllerOutput, InputKind } from './controller.js';
import type { WatchEvent, WatchKindOptions } from './core.js';
import { AccessDeniedError } from './errors.js';
import type { Logger } from './logger.js';
import type { ResourceQuery } from './query.js';
import {
  kindKey,
  pointerKey,
  type NewResource,
  type Resource,
  type ResourceKind,
  type ResourcePointer,
  type TypedKind,
} from './resource.js';
import { withEitherSignal } from './signals.js';
import type { ModifyDraft, ModifyOptions, State } from './state.js';

/** Input kinds whose resources a controller may hold finalizers on. */
const FINALIZER_INPUTS: ReadonlySet<InputKind> = new Set(['strong', 'primary', 'mapped']);

/**
 * Per-controller counters, kept across restarts, counted as COSI does: a wake-up when a round is
 * scheduled (the initial one included), a read or write for every store call made through the
 * controller's context (a modify is a read, plus a write when it changes something).
 */
export interface ControllerStats {
  wakeups: number;
  reads: number;
  writes: number;
  crashes: number;
}

/** What the context needs from the engine's supervisor of this controller. */
export interface ContextHost {
  nextEvent(): Promise<boolean>;
  trigger(): void;
}

/**
 * The controller's view of the state: reads limited to declared inputs and outputs, writes limited to
 * declared outputs (always as owner), finalizers limited to strong inputs. `state` is the controller's
 * own State over a counting core, so every store call made through the context is counted.
 */
export class ScopedContext implements ControllerContext {
  #tracked: Set<string> | undefined;

  constructor(
    readonly name: string,
    readonly logger: Logger,
    readonly signal: AbortSignal,
    private readonly state: State,
    private readonly declaredInputs: readonly ControllerInput[],
    private readonly declaredOutputs: readonly ControllerOutput[],
    private readonly host: ContextHost,
  ) {}

  nextEvent(): Promise<boolean> {
    return this.host.nextEvent();
  }

  async *events(): AsyncIterable<void> {
    while (await this.host.nextEvent()) yield;
  }

  trigger(): void {
    this.host.trigger();
  }

  watchKind<S>(kind: TypedKind<S>, options?: WatchKindOptions): Observable<WatchEvent<S>> {
    this.#checkRead(kind, true);
    return this.state.watchKind(kind, options);
  }

  #isOutput(type: string): boolean {
    return this.declaredOutputs.some((o) => o.type === type);
  }

  #checkRead(target: ResourceKind & { id?: string }, whole: boolean): void {
    const allowed =
      this.#isOutput(target.type) ||
      this.declaredInputs.some(
        (i) => i.namespace === target.namespace && i.type === target.type && (i.id === undefined || (!whole && i.id === target.id)),
      );
    if (!allowed) {
      const what = whole ? kindKey(target) : pointerKey(target as ResourcePointer);
      throw new AccessDeniedError(`controller ${this.name} may not read ${what}: not a declared input or output`);
    }
  }

  #checkWrite(ptr: ResourcePointer): void {
    if (!this.#isOutput(ptr.type)) {
      throw new AccessDeniedError(`controller ${this.name} may not write ${pointerKey(ptr)}: not a declared output`);
    }
    this.#tracked?.add(pointerKey(ptr));
  }

  #checkFinalizer(ptr: ResourcePointer): void {
    const strong = this.declaredInputs.some(
      (i) =>
        FINALIZER_INPUTS.has(i.kind) && i.namespace === ptr.namespace && i.type === ptr.type && (i.id === undefined || i.id === ptr.id),
    );
    if (!strong) {
      throw new AccessDeniedError(
        `controller ${this.name} may not change finalizers of ${pointerKey(ptr)}: not a strong, primary or mapped input`,
      );
    }
  }

  async get<S>(ptr: ResourcePointer<S>): Promise<Resource<S>> {
    this.#checkRead(ptr, false);
    return this.state.get(ptr);
  }

  async find<S>(ptr: ResourcePointer<S>): Promise<Resource<S> | undefined> {
    this.#checkRead(ptr, false);
    return this.state.find(ptr);
  }

  async list<S>(kind: TypedKind<S>, query?: ResourceQuery): Promise<Array<Resource<S>>> {
    this.#checkRead(kind, true);
    return this.state.list(kind, query);
  }

  async create<S>(res: NewResource<S>): Promise<Resource<S>> {
    this.#checkWrite(res.metadata);
    return this.state.create(res, { owner: this.name });
  }

  async update<S>(res: Resource<S>): Promise<Resource<S>> {
    this.#checkWrite(res.metadata);
    return this.state.update(res, { owner: this.name });
  }

  async modify<S>(
    ptr: ResourcePointer<S>,
    mutate: (draft: ModifyDraft<S>) => void,
    options: Omit<ModifyOptions<S>, 'owner'> = {},
  ): Promise<Resource<S>> {
    this.#checkWrite(ptr);
    // The engine's stop ends retries of lost races too, not only the caller's signal.
    if (options.signal === undefined) return this.state.modify(ptr, mutate, { ...options, signal: this.signal, owner: this.name });
    return withEitherSignal(this.signal, options.signal, (signal) =>
      this.state.modify(ptr, mutate, { ...options, signal, owner: this.name }),
    );
  }

  async destroy(ptr: ResourcePointer): Promise<void> {
    this.#checkWrite(ptr);
    return this.state.destroy(ptr, { owner: this.name });
  }

  async teardown(ptr: ResourcePointer): Promise<boolean> {
    this.#checkWrite(ptr);
    return this.state.teardown(ptr, { owner: this.name });
  }

  async teardownAndDestroy(ptr: ResourcePointer, options: { readonly signal?: AbortSignal } = {}): Promise<boolean> {
    this.#checkWrite(ptr);
    return withEitherSignal(this.signal, options.signal, (signal) => this.state.teardownAndDestroy(ptr, { owner: this.name, signal }));
  }

  async teardownAndDestroyIfReady(ptr: ResourcePointer): Promise<boolean> {
    this.#checkWrite(ptr);
    return this.state.teardownAndDestroyIfReady(ptr, { owner: this.name });
  }

  async addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    this.#checkFinalizer(ptr);
    return this.state.addFinalizer(ptr, ...finalizers);
  }

  async removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    this.#checkFinalizer(ptr);
    return this.state.removeFinalizer(ptr, ...finalizers);
  }

  startTrackingOutputs(): void {
    this.#tracked = new Set();
  }

  async cleanupOutputs(...kinds: ResourceKind[]): Promise<void> {
    const tracked = this.#tracked ?? new Set<string>();
    const targets =
      kinds.length > 0
        ? kinds
        : this.declaredOutputs.map((o) => ({ namespace: this.state.registry.require(o.type).defaultNamespace, type: o.type }));
    for (const kind of targets) {
      for (const res of await this.list(kind)) {
        if (res.metadata.owner !== this.name || tracked.has(pointerKey(res.metadata))) continue;
        // Not written this round: stale. Never waits here (COSI's controller runtime does not either): an
        // output another controller holds a finalizer on stays tearing down; the engine wakes this
        // controller when the last finalizer goes, and that round destroys it.
        await this.teardownAndDestroyIfReady(res.metadata);
      }
    }
  }
}
