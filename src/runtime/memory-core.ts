import { isDeepStrictEqual } from 'node:util';
import { freeze } from 'immer';
import { Observable, type Subscriber } from 'rxjs';
import type { CoreState, OwnerOptions, UpdateOptions, WatchEvent, WatchKindOptions } from './core.js';
import { ConflictError, NotFoundError, OwnerConflictError, PhaseConflictError, WatchOverrunError } from './errors.js';
import { matchesQuery, type ResourceQuery } from './query.js';
import {
  frozenCopy,
  kindKey,
  normalizeFinalizers,
  pointerKey,
  tombstone,
  type NewResource,
  type Resource,
  type ResourceKind,
  type ResourcePointer,
} from './resource.js';

/** Options of the in-memory store. */
export interface InMemoryCoreOptions {
  /** Events kept per kind for watchers still catching up; a watcher further behind gets an overrun error. */
  readonly historyCapacity?: number;
}

type ChangeEvent =
  | { type: 'created'; resource: Resource }
  | { type: 'updated'; resource: Resource; old: Resource }
  | { type: 'destroyed'; resource: Resource };

interface Watcher {
  position: number;
  readonly id: string | undefined;
  readonly query: ResourceQuery | undefined;
  readonly subscriber: Subscriber<WatchEvent>;
}

/** One namespace+type: its items, a ring of recent events, and the watchers reading that ring. */
class Collection {
  readonly items = new Map<string, Resource>();
  /** Grows with the events written (filled in order, so it stays packed) up to `capacity`, then wraps. */
  readonly ring: ChangeEvent[] = [];
  head = 0;
  readonly watchers = new Set<Watcher>();
  flushScheduled = false;

  constructor(readonly capacity: number) {}

  append(event: ChangeEvent): void {
    this.ring[this.head % this.capacity] = event;
    this.head++;
    if (this.watchers.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // Delivery is deferred so a burst of writes reaches watchers as one batch, never re-entrantly.
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    for (const watcher of [...this.watchers]) this.deliver(watcher);
  }

  deliver(watcher: Watcher): void {
    while (watcher.position < this.head && !watcher.subscriber.closed) {
      if (this.head - watcher.position > this.capacity) {
        this.watchers.delete(watcher);
        watcher.subscriber.next({
          type: 'errored',
          error: new WatchOverrunError(`watcher fell ${this.head - watcher.position} events behind; history holds ${this.capacity}`),
        });
        watcher.subscriber.complete();
        return;
      }
      const event = this.ring[watcher.position % this.capacity];
      watcher.position++;
      const translated = event && translate(event, watcher);
      if (translated) watcher.subscriber.next(translated);
    }
  }
}

/** What a watcher sees of a change: filters turn "started matching" into created and "stopped matching" into destroyed. */
function translate(event: ChangeEvent, watcher: Watcher): WatchEvent | undefined {
  if (watcher.id !== undefined && event.resource.metadata.id !== watcher.id) return undefined;
  if (!watcher.query) return event;
  const nowMatches = matchesQuery(event.resource, watcher.query);
  if (event.type !== 'updated') return nowMatches ? event : undefined;
  const usedToMatch = matchesQuery(event.old, watcher.query);
  if (usedToMatch && nowMatches) return event;
  if (nowMatches) return { type: 'created', resource: event.resource };
  if (usedToMatch) return { type: 'destroyed', resource: event.resource };
  return undefined;
}

function byId(a: Resource, b: Resource): number {
  return a.metadata.id < b.metadata.id ? -1 : a.metadata.id > b.metadata.id ? 1 : 0;
}

/** The in-memory CoreState: all operations complete synchronously inside their promise. */
export class InMemoryCore implements CoreState {
  readonly #collections = new Map<string, Collection>();
  readonly #capacity: number;

  constructor(options: InMemoryCoreOptions = {}) {
    this.#capacity = options.historyCapacity ?? 4096;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) {
      throw new RangeError(`historyCapacity must be a positive integer, got ${this.#capacity}`);
    }
  }

  #collection(kind: ResourceKind): Collection {
    const key = kindKey(kind);
    let collection = this.#collections.get(key);
    if (!collection) {
      collection = new Collection(this.#capacity);
      this.#collections.set(key, collection);
    }
    return collection;
  }

  #current(ptr: ResourcePointer): [Collection, Resource] {
    const collection = this.#collection(ptr);
    const current = collection.items.get(ptr.id);
    if (!current) throw new NotFoundError(`resource ${pointerKey(ptr)} doesn't exist`);
    return [collection, current];
  }

  async get(ptr: ResourcePointer): Promise<Resource> {
    const current = this.#collections.get(kindKey(ptr))?.items.get(ptr.id);
    if (!current) throw new NotFoundError(`resource ${pointerKey(ptr)} doesn't exist`);
    return current;
  }

  async list(kind: ResourceKind, query?: ResourceQuery): Promise<Resource[]> {
    // A read creates nothing: a kind never written (every type × namespace a dump walks) stays absent.
    return matching(this.#collections.get(kindKey(kind)), query);
  }

  async create(res: NewResource, options: OwnerOptions = {}): Promise<Resource> {
    const { namespace, type, id } = res.metadata;
    const collection = this.#collection(res.metadata);
    if (collection.items.has(id)) throw new ConflictError(`resource ${pointerKey(res.metadata)} already exists`);
    const now = new Date().toISOString();
    const stored = frozenCopy<Resource>({
      metadata: {
        namespace,
        type,
        id,
        version: 1,
        owner: options.owner ?? '',
        phase: 'running',
        finalizers: normalizeFinalizers(res.metadata.finalizers ?? []),
        labels: { ...res.metadata.labels },
        annotations: { ...res.metadata.annotations },
        created: now,
        updated: now,
      },
      spec: res.spec,
    });
    collection.items.set(id, stored);
    collection.append({ type: 'created', resource: stored });
    return stored;
  }

  async update(res: Resource, options: UpdateOptions = {}): Promise<Resource> {
    const [collection, current] = this.#current(res.metadata);
    const key = pointerKey(res.metadata);
    const owner = options.owner ?? '';
    if (current.metadata.owner !== owner) {
      throw new OwnerConflictError(`resource ${key} is owned by "${current.metadata.owner}", not "${owner}"`);
    }
    if (current.metadata.version !== res.metadata.version) {
      throw new ConflictError(
        `resource ${key} was changed: update is based on version ${res.metadata.version}, stored is ${current.metadata.version}`,
      );
    }
    const expectedPhase = options.expectedPhase ?? 'running';
    if (expectedPhase !== 'any' && current.metadata.phase !== expectedPhase) {
      throw new PhaseConflictError(`resource ${key} is ${current.metadata.phase}, expected ${expectedPhase}`);
    }
    if (current.metadata.phase === 'tearingDown' && res.metadata.phase === 'running') {
      throw new PhaseConflictError(`resource ${key} is tearing down and cannot go back to running`);
    }
    const unchanged =
      current.metadata.phase === res.metadata.phase &&
      isDeepStrictEqual(current.metadata.labels, res.metadata.labels) &&
      isDeepStrictEqual(current.metadata.annotations, res.metadata.annotations) &&
      isDeepStrictEqual(current.spec, res.spec);
    if (unchanged) return current;
    const stored = frozenCopy<Resource>({
      metadata: {
        ...current.metadata,
        version: current.metadata.version + 1,
        phase: res.metadata.phase,
        labels: { ...res.metadata.labels },
        annotations: { ...res.metadata.annotations },
        updated: new Date().toISOString(),
      },
      spec: res.spec,
    });
    collection.items.set(res.metadata.id, stored);
    collection.append({ type: 'updated', resource: stored, old: current });
    return stored;
  }

  async destroy(ptr: ResourcePointer, options: OwnerOptions = {}): Promise<void> {
    const [collection, current] = this.#current(ptr);
    const owner = options.owner ?? '';
    if (current.metadata.owner !== owner) {
      throw new OwnerConflictError(`resource ${pointerKey(ptr)} is owned by "${current.metadata.owner}", not "${owner}"`);
    }
    if (current.metadata.finalizers.length > 0) {
      throw new ConflictError(`resource ${pointerKey(ptr)} has pending finalizers: ${current.metadata.finalizers.join(', ')}`);
    }
    collection.items.delete(ptr.id);
    collection.append({ type: 'destroyed', resource: current });
  }

  async addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.#setFinalizers(ptr, (current) => [...current, ...finalizers]);
  }

  async removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    return this.#setFinalizers(ptr, (current) => current.filter((f) => !finalizers.includes(f)));
  }

  #setFinalizers(ptr: ResourcePointer, change: (current: readonly string[]) => string[]): Resource {
    const [collection, current] = this.#current(ptr);
    const finalizers = normalizeFinalizers(change(current.metadata.finalizers));
    if (isDeepStrictEqual(finalizers, current.metadata.finalizers)) return current;
    const stored: Resource = freeze(
      {
        metadata: {
          ...current.metadata,
          version: current.metadata.version + 1,
          finalizers,
          updated: new Date().toISOString(),
        },
        spec: current.spec,
      },
      true,
    );
    collection.items.set(ptr.id, stored);
    collection.append({ type: 'updated', resource: stored, old: current });
    return stored;
  }

  watch(ptr: ResourcePointer): Observable<WatchEvent> {
    return new Observable<WatchEvent>((subscriber) => {
      const collection = this.#collection(ptr);
      const current = collection.items.get(ptr.id);
      subscriber.next(current ? { type: 'created', resource: current } : { type: 'destroyed', resource: tombstone(ptr) });
      return this.#attach(collection, { position: collection.head, id: ptr.id, query: undefined, subscriber });
    });
  }

  watchKind(kind: ResourceKind, options: WatchKindOptions = {}): Observable<WatchEvent> {
    return new Observable<WatchEvent>((subscriber) => {
      const collection = this.#collection(kind);
      const query = options.labels || options.idRegexp ? options : undefined;
      if (options.bootstrap) {
        for (const resource of matching(collection, query)) subscriber.next({ type: 'created', resource });
        subscriber.next({ type: 'bootstrapped' });
      }
      return this.#attach(collection, { position: collection.head, id: undefined, query, subscriber });
    });
  }

  #attach(collection: Collection, watcher: Watcher): () => void {
    if (watcher.subscriber.closed) return () => undefined;
    collection.watchers.add(watcher);
    return () => collection.watchers.delete(watcher);
  }
}

/** The items of a collection that match `query`, in id order. */
function matching(collection: Collection | undefined, query: ResourceQuery | undefined): Resource[] {
  if (!collection) return [];
  return [...collection.items.values()].filter((res) => matchesQuery(res, query)).sort(byId);
}
