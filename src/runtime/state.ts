import { produce, type Draft } from 'immer';
import type { Observable, Subscription } from 'rxjs';
import type { CoreState, OwnerOptions, UpdateOptions, WatchEvent, WatchKindOptions } from './core.js';
import { ControllerStatusType, NamespaceType, ResourceDefinitionType, RUNTIME_NAMESPACE, type ResourceDefinition } from './definition.js';
import { ConflictError, hasCode, NotFoundError, ValidationError, type FieldIssue } from './errors.js';
import { InMemoryCore, type InMemoryCoreOptions } from './memory-core.js';
import type { ResourceQuery } from './query.js';
import { TypeRegistry } from './registry.js';
import {
  MAX_SPEC_DEPTH,
  nestsDeeperThan,
  pointerKey,
  type NewResource,
  type Resource,
  type ResourceKind,
  type ResourcePointer,
  type TypedKind,
} from './resource.js';

/** What a `modify` callback may change: the spec, labels and annotations, as an immer draft. */
export interface ModifyDraft<S> {
  spec: Draft<S>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Options for `modify`: the writer, and the spec a missing resource starts from. */
export interface ModifyOptions<S> extends UpdateOptions {
  readonly initialSpec?: S;
}

/** Options for waiting on a resource. */
export interface WatchForOptions {
  readonly signal?: AbortSignal;
}

const ID_PATTERN = /^[^\s/]{1,253}$/;
const META_NAMESPACE = 'meta';
const MODIFY_ATTEMPTS = 8;

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
    const def = this.registry.require(res.metadata.type);
    const issues: FieldIssue[] = [];
    if (!this.registry.hasNamespace(res.metadata.namespace)) {
      issues.push({ path: 'metadata.namespace', message: `namespace "${res.metadata.namespace}" is not registered` });
    }
    if (!ID_PATTERN.test(res.metadata.id)) {
      issues.push({ path: 'metadata.id', message: 'must be 1-253 characters without whitespace or "/"' });
    }
    for (const field of ['labels', 'annotations'] as const) {
      for (const [key, value] of Object.entries(res.metadata[field] ?? {})) {
        if (key === '' || typeof value !== 'string') {
          issues.push({ path: `metadata.${field}.${key}`, message: 'keys must be non-empty and values strings' });
        }
      }
    }
    // Checked first and without recursion: a spec nested thousands deep would overflow the stack in the
    // schema, the copy or the freeze, a RangeError no caller expects, instead of a validation error.
    if (nestsDeeperThan(res.spec, MAX_SPEC_DEPTH)) {
      throw invalid(res.metadata, [...issues, { path: 'spec', message: `nested more than ${MAX_SPEC_DEPTH} levels deep` }]);
    }
    const parsed = def.schema.safeParse(res.spec);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        issues.push({ path: ['spec', ...issue.path.map(String)].join('.'), message: issue.message });
      }
    }
    if (issues.length > 0 || !parsed.success) throw invalid(res.metadata, issues);
    return { ...res, spec: parsed.data };
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

  watchKind<S>(kind: TypedKind<S>, options?: WatchKindOptions): Observable<WatchEvent<S>>;
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent> {
    return this.core.watchKind(kind, options);
  }

  /**
   * Creates or updates a resource through an immer draft. A missing resource starts from `initialSpec`
   * (or `{}`); a callback that changes nothing writes nothing. Retries when it loses a version race.
   */
  async modify<S>(ptr: ResourcePointer<S>, mutate: (draft: ModifyDraft<S>) => void, options: ModifyOptions<S> = {}): Promise<Resource<S>> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.find(ptr);
      const base = {
        spec: current ? current.spec : (options.initialSpec ?? ({} as S)),
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
            options,
          );
        }
        return await this.update<S>(
          { metadata: { ...current.metadata, labels: next.labels, annotations: next.annotations }, spec: next.spec },
          options,
        );
      } catch (err) {
        const lostRace = hasCode(err, 'KP_ERR_CONFLICT') || (current !== undefined && hasCode(err, 'KP_ERR_NOT_FOUND'));
        if (!lostRace || attempt >= MODIFY_ATTEMPTS) throw err;
      }
    }
  }

  /** Moves a resource to `tearingDown`; true when no finalizers remain (ready to destroy). */
  async teardown(ptr: ResourcePointer, options: OwnerOptions = {}): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(ptr);
      if (current.metadata.phase === 'tearingDown') return current.metadata.finalizers.length === 0;
      try {
        const updated = await this.core.update(
          { ...current, metadata: { ...current.metadata, phase: 'tearingDown' } },
          { ...options, expectedPhase: 'any' },
        );
        return updated.metadata.finalizers.length === 0;
      } catch (err) {
        if (!hasCode(err, 'KP_ERR_CONFLICT') || attempt >= MODIFY_ATTEMPTS) throw err;
      }
    }
  }

  /** Tears down, then destroys if no finalizers remain; true when destroyed. Never waits. */
  async teardownAndDestroy(ptr: ResourcePointer, options: OwnerOptions = {}): Promise<boolean> {
    if (!(await this.teardown(ptr, options))) return false;
    try {
      await this.destroy(ptr, options);
      return true;
    } catch (err) {
      // A finalizer added between teardown and destroy: the holder will release it and we retry later.
      if (err instanceof ConflictError) return false;
      if (err instanceof NotFoundError) return true;
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
    const { signal } = options;
    return new Promise((resolve, reject) => {
      let subscription: Subscription | undefined;
      let done = false;
      const finish = (outcome: () => void): void => {
        done = true;
        subscription?.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        outcome();
      };
      const onAbort = (): void => finish(() => reject(signal?.reason));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const subscribe = (): void => {
        subscription = this.watch(ptr).subscribe({
          next: (event) => {
            if (event.type === 'errored') {
              subscription?.unsubscribe();
              queueMicrotask(subscribe);
              return;
            }
            if (event.type === 'bootstrapped') return;
            const res = event.type === 'destroyed' ? undefined : event.resource;
            let satisfied: boolean;
            try {
              satisfied = predicate(res);
            } catch (err) {
              return finish(() => reject(err));
            }
            if (satisfied) finish(() => resolve(res));
          },
          error: (err: unknown) => finish(() => reject(err)),
        });
        // The first event arrives synchronously: it may have finished us before `subscription` was set.
        if (done) subscription.unsubscribe();
      };
      subscribe();
    });
  }
}

/** A write refused by validation: every issue, in the message too. */
function invalid(ptr: ResourcePointer, issues: readonly FieldIssue[]): ValidationError {
  return new ValidationError(`invalid ${pointerKey(ptr)}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, [...issues]);
}
