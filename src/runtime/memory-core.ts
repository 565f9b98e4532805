import { isDeepStrictEqual } from 'node:util';
import { freeze } from 'immer';
// The classes alone: rxjs's index loads all of its ~230 modules (about 6 MiB of the agent's memory).
import { Observable } from 'rxjs/internal/Observable';
import { BookmarkCodec } from './bookmark.js';
import type {
  BookmarkedWatchKindOptions,
  CoreState,
  OwnerOptions,
  UpdateOptions,
  WatchBookmarkEvent,
  WatchEvent,
  WatchKindOptions,
} from './core.js';
import { ConflictError, NotFoundError, OwnerConflictError, PhaseConflictError, ValidationError } from './errors.js';
import { Collection, type Watcher } from './memory-collection.js';
import { isFiltering, matchesQuery, type ResourceQuery } from './query.js';
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
  /**
   * Events kept per kind for watchers still catching up, tail requests and bookmark resumes; a watcher
   * further behind gets an overrun error, an older bookmark a BookmarkExpiredError.
   */
  readonly historyCapacity?: number;
}

function byId(a: Resource, b: Resource): number {
  return a.metadata.id < b.metadata.id ? -1 : a.metadata.id > b.metadata.id ? 1 : 0;
}

/** The in-memory CoreState: all operations complete synchronously inside their promise. */
export class InMemoryCore implements CoreState {
  readonly #collections = new Map<string, Collection>();
  readonly #capacity: number;
  readonly #bookmarks = new BookmarkCodec();

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
      collection = new Collection(kind, this.#capacity, this.#bookmarks.prefix(kind));
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
    collection.append({ type: 'created', resource: stored, bookmark: collection.nextBookmark() });
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
    collection.append({ type: 'updated', resource: stored, old: current, bookmark: collection.nextBookmark() });
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
    collection.append({ type: 'destroyed', resource: current, bookmark: collection.nextBookmark() });
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
    collection.append({ type: 'updated', resource: stored, old: current, bookmark: collection.nextBookmark() });
    return stored;
  }

  watch(ptr: ResourcePointer): Observable<WatchEvent> {
    return new Observable<WatchEvent>((subscriber) => {
      const collection = this.#collection(ptr);
      const current = collection.items.get(ptr.id);
      subscriber.next(current ? { type: 'created', resource: current } : { type: 'destroyed', resource: tombstone(ptr) });
      return this.#attach(collection, { position: collection.head, id: ptr.id, query: undefined, bookmarks: false, subscriber });
    });
  }

  watchKind(kind: ResourceKind, options: BookmarkedWatchKindOptions): Observable<WatchEvent | WatchBookmarkEvent>;
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent>;
  watchKind(kind: ResourceKind, options: WatchKindOptions & { bookmarks?: boolean } = {}): Observable<WatchEvent | WatchBookmarkEvent> {
    return new Observable<WatchEvent | WatchBookmarkEvent>((subscriber) => {
      const collection = this.#collection(kind);
      const query = isFiltering(options) ? options : undefined;
      let position = collection.head;
      try {
        checkStart(kind, options);
        if (options.startFromBookmark !== undefined) {
          position = this.#bookmarks.resume(options.startFromBookmark, kind, collection.head, collection.capacity);
        } else if (options.tailEvents) {
          position = Math.max(0, collection.head - Math.min(options.tailEvents, collection.capacity));
        }
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      if (options.bootstrap) {
        for (const resource of matching(collection, query)) subscriber.next({ type: 'created', resource });
        subscriber.next({ type: 'bootstrapped', kind: collection.kind, bookmark: collection.bookmark(position) });
      } else if (options.bookmarks) {
        subscriber.next({ type: 'bookmark', kind: collection.kind, bookmark: collection.bookmark(position) });
      }
      const watcher: Watcher = { position, id: undefined, query, bookmarks: options.bookmarks === true, subscriber };
      const detach = this.#attach(collection, watcher);
      // Tail and resume replay what the history holds at once; live events follow as they come.
      if (position < collection.head) collection.deliver(watcher);
      return detach;
    });
  }

  #attach(collection: Collection, watcher: Watcher): () => void {
    if (watcher.subscriber.closed) return () => undefined;
    collection.watchers.add(watcher);
    return () => collection.watchers.delete(watcher);
  }
}

/** Refuses start options that contradict each other (COSI refuses the same combinations). */
function checkStart(kind: ResourceKind, options: WatchKindOptions): void {
  const where = `watch of ${kindKey(kind)}`;
  const tail = options.tailEvents;
  if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 0)) {
    throw new ValidationError(`${where}: tailEvents must be a non-negative integer`, [
      { path: 'tailEvents', message: 'must be a non-negative integer' },
    ]);
  }
  const starts = [
    options.bootstrap ? 'bootstrap' : undefined,
    tail ? 'tailEvents' : undefined,
    options.startFromBookmark !== undefined ? 'startFromBookmark' : undefined,
  ].filter((s) => s !== undefined);
  if (starts.length > 1) {
    throw new ValidationError(`${where}: ${starts.join(' and ')} exclude each other`, [
      { path: starts[1] ?? '', message: `cannot be combined with ${starts[0] ?? ''}` },
    ]);
  }
}

/** The items of a collection that match `query`, in id order. */
function matching(collection: Collection | undefined, query: ResourceQuery | undefined): Resource[] {
  if (!collection) return [];
  return [...collection.items.values()].filter((res) => matchesQuery(res, query)).sort(byId);
}
