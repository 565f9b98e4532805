import { produce, type Draft } from 'immer';
import type { Observable } from 'rxjs';
import type {
  BookmarkedWatchKindOptions,
  CoreState,
  OwnerOptions,
  UpdateOptions,
  WatchBookmarkEvent,
  WatchEvent,
  WatchKindOptions,
} from './core.js';
import { ControllerStatusType, NamespaceType, ResourceDefinitionType, RUNTIME_NAMESPACE, type ResourceDefinition } from './definition.js';
import { ConflictError, hasCode, NotFoundError } from './errors.js';
import { InMemoryCore, type InMemoryCoreOptions } from './memory-core.js';
import type { ResourceQuery } from './query.js';
import { TypeRegistry } from './registry.js';
import { type NewResource, type Resource, type ResourceKind, type ResourcePointer, type TypedKind } from './resource.js';
import {
  contextUntilTeardown,
  watchFor,
  watchKindAggregated,
  type AggregatedKind,
  type AggregatedWatchOptions,
  type WatchForOptions,
} from './state-watch.js';
import { checkNoOpWrite, invalid, unchanged, validateWrite } from './validation.js';

export type { AggregatedKind, AggregatedWatchOptions, WatchForOptions } from './state-watch.js';

/** What a `modify` callback may change: the spec, labels and annotations, as an immer draft. */
export interface ModifyDraft<S> {
  spec: Draft<S>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Options for `modify`: the writer, the spec a missing resource starts from, and when to give up. */
export interface ModifyOptions<S> extends UpdateOptions {
  readonly initialSpec?: S;
  /** Ends the retries of lost version races (rejecting with the signal's reason); without it, retries until it lands. */
  readonly signal?: AbortSignal;
}

/** Options for `teardownAndDestroy`: the writer, and how long to wait for the finalizers. */
export interface TeardownAndDestroyOptions extends OwnerOptions {
  readonly signal?: AbortSignal;
}

const META_NAMESPACE = 'meta';

/** Options for {@link createState}. */
export interface StateOptions extends InMemoryCoreOptions {
  /** Another CoreState to wrap instead of a fresh in-memory one. */
  readonly core?: CoreState;
}

/** Creates a State over a fresh in-memory core (or the given one), with the meta types registered. */
export async function createState(options: StateOptions = {}): Promise<State> {
  const state = new State(options.core ?? new InMemoryCore(options), new TypeRegistry());
  await state.registerNamespace(META_NAMESPACE, 'Resource definitions and namespaces');
  await state.registerType(ResourceDefinitionType);
  await state.registerType(NamespaceType);
  await state.registerNamespace(RUNTIME_NAMESPACE, 'The runtime itself: controller health');
  await state.registerType(ControllerStatusType);
  return state;
}

/**
 * The store everyone uses: validates every write against the registered definitions, and adds the
 * conveniences (typed reads, modify, teardown, watch-for) on top of any CoreState.
 */
export class State implements CoreState {
  constructor(
    readonly core: CoreState,
    readonly registry: TypeRegistry,
  ) {}

  /** Registers a namespace and records it as a `Namespaces` resource. */
  async registerNamespace(name: string, description = ''): Promise<void> {
    if (!this.registry.registerNamespace(name)) return;
    await this.core.create({ metadata: { namespace: META_NAMESPACE, type: NamespaceType.type, id: name }, spec: { description } });
  }

  /** Registers a type (and its default namespace) and records it as a `ResourceDefinitions` resource. */
  async registerType(def: ResourceDefinition): Promise<void> {
    if (!this.registry.hasNamespace(def.defaultNamespace)) await this.registerNamespace(def.defaultNamespace);
    if (!this.registry.register(def)) return;
    const spec = {
      type: def.type,
      displayType: def.displayType,
      defaultNamespace: def.defaultNamespace,
      aliases: [...def.aliases],
      printColumns: def.printColumns.map((c) => ({ ...c })),
      sensitivity: def.sensitivity,
    };
    await this.core.create({
      metadata: { namespace: META_NAMESPACE, type: ResourceDefinitionType.type, id: def.type.toLowerCase() },
      spec,
    });
  }

  /** Checks identity, labels and spec of a write; returns the resource with its spec as the schema normalized it. */
  validate<R extends NewResource | Resource>(res: R): R {
    return validateWrite(this.registry, res);
  }

  get<S>(ptr: ResourcePointer<S>): Promise<Resource<S>>;
  async get(ptr: ResourcePointer): Promise<Resource> {
    return this.core.get(ptr);
  }

  /** Like get, but undefined instead of NotFoundError. */
  async find<S>(ptr: ResourcePointer<S>): Promise<Resource<S> | undefined> {
    try {
      return await this.get(ptr);
    } catch (err) {
      if (hasCode(err, 'KP_ERR_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  list<S>(kind: TypedKind<S>, query?: ResourceQuery): Promise<Array<Resource<S>>>;
  async list(kind: ResourceKind, query?: ResourceQuery): Promise<Resource[]> {
    return this.core.list(kind, query);
  }

  create<S>(res: NewResource<S>, options?: OwnerOptions): Promise<Resource<S>>;
  async create(res: NewResource, options?: OwnerOptions): Promise<Resource> {
    return this.core.create(this.validate(res), options);
  }

  /** Always writes (version + 1, an `updated` event), even when nothing changed; `modify` skips no-op writes. */
  update<S>(res: Resource<S>, options?: UpdateOptions): Promise<Resource<S>>;
  async update(res: Resource, options?: UpdateOptions): Promise<Resource> {
    return this.core.update(this.validate(res), options);
  }

  async destroy(ptr: ResourcePointer, options?: OwnerOptions): Promise<void> {
    return this.core.destroy(ptr, options);
  }

  async addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.core.addFinalizer(ptr, ...finalizers);
  }

  async removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.core.removeFinalizer(ptr, ...finalizers);
  }

  watch<S>(ptr: ResourcePointer<S>): Observable<WatchEvent<S>>;
  watch(ptr: ResourcePointer): Observable<WatchEvent> {
    return this.core.watch(ptr);
  }

  watchKind<S>(kind: TypedKind<S>, options: BookmarkedWatchKindOptions): Observable<WatchEvent<S> | WatchBookmarkEvent>;
  watchKind<S>(kind: TypedKind<S>, options?: WatchKindOptions): Observable<WatchEvent<S>>;
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent | WatchBookmarkEvent> {
    return this.core.watchKind(kind, options);
  }

  /** Several kinds in one stream of batches, one bootstrap per kind (see {@link watchKindAggregated}). */
  watchKindAggregated(
    kinds: readonly AggregatedKind[],
    options?: AggregatedWatchOptions,
  ): Observable<Array<WatchEvent | WatchBookmarkEvent>> {
    return watchKindAggregated(this.core, kinds, options);
  }

  /**
   * Creates or updates a resource through an immer draft. A missing resource starts from `initialSpec`
   * (or `{}`); a callback whose result (after schema normalization) equals the stored resource writes
   * nothing (COSI's UpdateWithConflicts). Retries version races until it lands or `signal` aborts.
   */
  async modify<S>(ptr: ResourcePointer<S>, mutate: (draft: ModifyDraft<S>) => void, options: ModifyOptions<S> = {}): Promise<Resource<S>> {
    const { signal, initialSpec, ...writeOptions } = options;
    for (;;) {
      const current = await this.find(ptr);
      const base = {
        spec: current ? current.spec : (initialSpec ?? ({} as S)),
        labels: { ...current?.metadata.labels },
        annotations: { ...current?.metadata.annotations },
      };
      let next: typeof base;
      try {
        next = produce(base, (draft) => {
          mutate(draft as ModifyDraft<S>);
        });
      } catch (err) {
        // immer freezes what the callback assigned, recursively: absurdly deep data overflows the stack there.
        if (!(err instanceof RangeError)) throw err;
        throw invalid(ptr, [{ path: 'spec', message: `cannot be stored: ${err.message} (nested too deeply?)` }]);
      }
      try {
        if (!current) {
          const { namespace, type, id } = ptr;
          return await this.create<S>(
            { metadata: { namespace, type, id, labels: next.labels, annotations: next.annotations }, spec: next.spec },
            writeOptions,
          );
        }
        const candidate = this.validate<Resource<S>>({
          metadata: { ...current.metadata, labels: next.labels, annotations: next.annotations },
          spec: next.spec,
        });
        if (unchanged(current, candidate)) {
          checkNoOpWrite(current, writeOptions);
          return current;
        }
        return (await this.core.update(candidate, writeOptions)) as Resource<S>;
      } catch (err) {
        // Lost a race (version moved, created or destroyed meanwhile): read again and re-apply the change.
        const lostRace = hasCode(err, 'KP_ERR_CONFLICT') || (current !== undefined && hasCode(err, 'KP_ERR_NOT_FOUND'));
        if (!lostRace) throw err;
        signal?.throwIfAborted();
      }
    }
  }

  /** Moves a resource to `tearingDown`; true when no finalizers remain (ready to destroy). */
  async teardown(ptr: ResourcePointer, options: OwnerOptions = {}): Promise<boolean> {
    for (;;) {
      const current = await this.get(ptr);
      if (current.metadata.phase === 'tearingDown') return current.metadata.finalizers.length === 0;
      try {
        const updated = await this.core.update(
          { ...current, metadata: { ...current.metadata, phase: 'tearingDown' } },
          { ...options, expectedPhase: 'any' },
        );
        return updated.metadata.finalizers.length === 0;
      } catch (err) {
        // Someone else wrote in between (a finalizer, a spec change): every retry follows a write that landed.
        if (!hasCode(err, 'KP_ERR_CONFLICT')) throw err;
      }
    }
  }

  /**
   * Tears down, waits until every finalizer is gone, then destroys (COSI's TeardownAndDestroy): it does
   * not give up while finalizers remain, only when `signal` aborts (rejecting with its reason, the
   * resource left tearing down). Resolves true once the resource is gone, including when someone else
   * destroyed it first. For a caller that must not wait, {@link teardownAndDestroyIfReady}.
   */
  async teardownAndDestroy(ptr: ResourcePointer, options: TeardownAndDestroyOptions = {}): Promise<boolean> {
    const { signal, ...owner } = options;
    for (;;) {
      signal?.throwIfAborted();
      if (!(await this.teardownAndDestroyIfReady(ptr, owner))) {
        await this.watchFor(ptr, (res) => res === undefined || res.metadata.finalizers.length === 0, signal ? { signal } : {});
        continue;
      }
      return true;
    }
  }

  /**
   * Tears down, then destroys only if no finalizer holds the resource; never waits. False when
   * finalizers remain: the resource stays tearing down until their holders release it, and a later
   * call destroys it (what controller output cleanup does, as COSI's controller runtime).
   */
  async teardownAndDestroyIfReady(ptr: ResourcePointer, options: OwnerOptions = {}): Promise<boolean> {
    try {
      if (!(await this.teardown(ptr, options))) return false;
      await this.destroy(ptr, options);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return true;
      // A finalizer added between teardown and destroy: the holder will release it.
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  /**
   * Resolves with the first state of the resource (undefined when absent) that satisfies the predicate;
   * rejects with the signal's reason when aborted. Re-watches after a history overrun.
   */
  watchFor<S>(
    ptr: ResourcePointer<S>,
    predicate: (res: Resource<S> | undefined) => boolean,
    options: WatchForOptions = {},
  ): Promise<Resource<S> | undefined> {
    return watchFor(this.core, ptr, predicate, options);
  }

  /**
   * A signal that aborts when the resource starts tearing down or is destroyed (at once when absent), or
   * when `parent` aborts: the life of work tied to that resource (COSI's teardown context).
   */
  contextUntilTeardown(ptr: ResourcePointer, parent?: AbortSignal): AbortSignal {
    return contextUntilTeardown(this.core, ptr, parent);
  }
}
