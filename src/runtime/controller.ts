import type { Observable } from 'rxjs';
import type { WatchEvent, WatchKindOptions } from './core.js';
import type { ModifyDraft, ModifyOptions } from './state.js';
import type { Logger } from './logger.js';
import type { ResourceDefinition } from './definition.js';
import type { ResourceQuery } from './query.js';
import type { NewResource, Resource, ResourceKind, ResourcePointer, TypedKind } from './resource.js';

/**
 * How a controller depends on an input: `weak` reads it; `strong` may also hold finalizers on it;
 * `destroyReady` wakes only when a resource is tearing down with no finalizers left. Queue-based
 * controllers (see `queueController`) declare `primary` inputs (each resource is a queue item) and
 * `mapped` inputs (mapped to primary items); both may hold finalizers, as COSI's QPrimary/QMapped.
 */
export type InputKind = 'weak' | 'strong' | 'destroyReady' | 'primary' | 'mapped';

/** A declared input: a kind (optionally one id) the controller reads and is woken by. */
export interface ControllerInput {
  readonly namespace: string;
  readonly type: string;
  readonly id?: string;
  readonly kind: InputKind;
}

/** `exclusive`: this controller is the only writer of the type; `shared`: several may write, each its own. */
export type OutputKind = 'exclusive' | 'shared';

/** A declared output type. */
export interface ControllerOutput {
  readonly type: string;
  readonly kind: OutputKind;
}

/** Counters of a queue-based controller (COSI's QController metrics). */
export interface QueueStats {
  /** Items reconciled (successfully or not). */
  readonly processed: number;
  /** Reconciles and mappings that failed (each retried after its item's backoff). */
  readonly failures: number;
  /** Items that asked to be reconciled again later. */
  readonly requeues: number;
  /** Mapped-input events turned into primary items. */
  readonly mapped: number;
  /** Items waiting: ready, in progress or delayed. */
  readonly queued: number;
}

/** A reactive controller: declares what it reads and writes, and runs until its context says stop. */
export interface Controller {
  readonly name: string;
  inputs(): readonly ControllerInput[];
  outputs(): readonly ControllerOutput[];
  /** The controller's loop; throwing (or rejecting) gets it restarted with backoff. */
  run(ctx: ControllerContext): Promise<void>;
  /** Queue counters, for controllers that keep a queue of items. */
  queueStats?(): QueueStats;
}

/** Reads a controller may make: only its declared inputs and outputs. */
export interface ControllerReader {
  get<S>(ptr: ResourcePointer<S>): Promise<Resource<S>>;
  find<S>(ptr: ResourcePointer<S>): Promise<Resource<S> | undefined>;
  list<S>(kind: TypedKind<S>, query?: ResourceQuery): Promise<Array<Resource<S>>>;
}

/** Writes a controller may make: only to its declared outputs, always as their owner. */
export interface ControllerWriter {
  create<S>(res: NewResource<S>): Promise<Resource<S>>;
  update<S>(res: Resource<S>): Promise<Resource<S>>;
  modify<S>(
    ptr: ResourcePointer<S>,
    mutate: (draft: ModifyDraft<S>) => void,
    options?: Omit<ModifyOptions<S>, 'owner'>,
  ): Promise<Resource<S>>;
  destroy(ptr: ResourcePointer): Promise<void>;
  teardown(ptr: ResourcePointer): Promise<boolean>;
  /**
   * Tears down, waits for every finalizer to go, then destroys (true once gone). The wait ends with the
   * engine (or `signal`): a round that must not wait uses {@link teardownAndDestroyIfReady}.
   */
  teardownAndDestroy(ptr: ResourcePointer, options?: { readonly signal?: AbortSignal }): Promise<boolean>;
  /** Tears down and destroys only if nothing holds it; false while finalizers remain (it stays tearing down). */
  teardownAndDestroyIfReady(ptr: ResourcePointer): Promise<boolean>;
  /** Finalizers may be put only on `strong`, `primary` and `mapped` inputs. */
  addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource>;
  removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource>;
}

/** Everything a running controller gets from the engine. */
export interface ControllerContext extends ControllerReader, ControllerWriter {
  readonly name: string;
  /** A pino child logger carrying the controller's name. */
  readonly logger: Logger;
  /** Aborted when the engine stops. */
  readonly signal: AbortSignal;
  /** Waits for the next (coalesced) wake-up; the first resolves at once. False when the engine is stopping. */
  nextEvent(): Promise<boolean>;
  /** `for await (const _ of ctx.events())` sugar over nextEvent. */
  events(): AsyncIterable<void>;
  /** Wakes the controller itself (e.g. from its own timers or sockets). */
  trigger(): void;
  /** Events of a declared input (or output) kind, counted as a read; for controllers that need each change. */
  watchKind<S>(kind: TypedKind<S>, options?: WatchKindOptions): Observable<WatchEvent<S>>;
  /** From now on, remember which outputs this round wrote. */
  startTrackingOutputs(): void;
  /**
   * Tears down and destroys this controller's outputs of these kinds (default: every declared output in
   * its default namespace) that were not written since tracking started. Never waits: an output another
   * controller holds a finalizer on stays tearing down, and is destroyed by a later round once released.
   */
  cleanupOutputs(...kinds: ResourceKind[]): Promise<void>;
}

/** Declares an input of `def`'s kind (default namespace, weak unless told). */
export function inputOf(def: ResourceDefinition, options: { kind?: InputKind; id?: string; namespace?: string } = {}): ControllerInput {
  return {
    namespace: options.namespace ?? def.defaultNamespace,
    type: def.type,
    kind: options.kind ?? 'weak',
    ...(options.id !== undefined ? { id: options.id } : {}),
  };
}

/** Declares an output of `def`'s type (exclusive unless told). */
export function outputOf(def: ResourceDefinition, kind: OutputKind = 'exclusive'): ControllerOutput {
  return { type: def.type, kind };
}
