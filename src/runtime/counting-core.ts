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
import type { ResourceQuery } from './query.js';
import type { NewResource, Resource, ResourceKind, ResourcePointer } from './resource.js';

/** Counters a {@link CountingCore} adds to. */
export interface ReadWriteCounters {
  reads: number;
  writes: number;
}

/**
 * A CoreState that counts every call reaching the store, as COSI's controller metrics do: reads are
 * get, list and watches; writes are create, update, destroy and finalizer changes. Conveniences built on
 * top (modify's read-then-write, teardown's get) count for each store call they make.
 */
export class CountingCore implements CoreState {
  constructor(
    private readonly inner: CoreState,
    private readonly counters: ReadWriteCounters,
  ) {}

  get(ptr: ResourcePointer): Promise<Resource> {
    this.counters.reads++;
    return this.inner.get(ptr);
  }

  list(kind: ResourceKind, query?: ResourceQuery): Promise<Resource[]> {
    this.counters.reads++;
    return this.inner.list(kind, query);
  }

  create(res: NewResource, options?: OwnerOptions): Promise<Resource> {
    this.counters.writes++;
    return this.inner.create(res, options);
  }

  update(res: Resource, options?: UpdateOptions): Promise<Resource> {
    this.counters.writes++;
    return this.inner.update(res, options);
  }

  destroy(ptr: ResourcePointer, options?: OwnerOptions): Promise<void> {
    this.counters.writes++;
    return this.inner.destroy(ptr, options);
  }

  addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    this.counters.writes++;
    return this.inner.addFinalizer(ptr, ...finalizers);
  }

  removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource> {
    this.counters.writes++;
    return this.inner.removeFinalizer(ptr, ...finalizers);
  }

  watch(ptr: ResourcePointer): Observable<WatchEvent> {
    this.counters.reads++;
    return this.inner.watch(ptr);
  }

  watchKind(kind: ResourceKind, options: BookmarkedWatchKindOptions): Observable<WatchEvent | WatchBookmarkEvent>;
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent>;
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent | WatchBookmarkEvent> {
    this.counters.reads++;
    return this.inner.watchKind(kind, options);
  }
}
