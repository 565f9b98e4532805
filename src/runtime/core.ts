import type { Observable } from 'rxjs';
import type { KubeprismError } from './errors.js';
import type { ResourceQuery } from './query.js';
import type { NewResource, Phase, Resource, ResourceKind, ResourcePointer } from './resource.js';

/** A change seen by a watcher. `updated` carries the previous version in `old`. */
export type WatchEvent<S = unknown> =
  | { readonly type: 'created'; readonly resource: Resource<S> }
  | { readonly type: 'updated'; readonly resource: Resource<S>; readonly old: Resource<S> }
  | { readonly type: 'destroyed'; readonly resource: Resource<S> }
  | { readonly type: 'bootstrapped' }
  | { readonly type: 'errored'; readonly error: KubeprismError };

/** Who is writing: the owner must match the stored owner for updates and destroys. */
export interface OwnerOptions {
  readonly owner?: string;
}

/** Update options: which phase the stored resource must be in (`running` unless told). */
export interface UpdateOptions extends OwnerOptions {
  readonly expectedPhase?: Phase | 'any';
}

/** Watch-kind options: replay current items first, and filter by labels and id. */
export interface WatchKindOptions extends ResourceQuery {
  readonly bootstrap?: boolean;
}

/**
 * The minimal store every implementation provides; conveniences (modify, teardown, watch-for…) are
 * built once on top of it in `State`.
 */
export interface CoreState {
  /** The stored resource; NotFoundError when absent. */
  get(ptr: ResourcePointer): Promise<Resource>;
  /** Resources of a kind sorted by id, filtered by the query. */
  list(kind: ResourceKind, query?: ResourceQuery): Promise<Resource[]>;
  /** Stores a new resource at version 1; ConflictError when the id is taken. */
  create(res: NewResource, options?: OwnerOptions): Promise<Resource>;
  /**
   * Replaces spec, labels, annotations and phase. `res.metadata.version` is the version the change was
   * based on. Checks owner, then version, then phase. A write that changes nothing returns the stored copy.
   */
  update(res: Resource, options?: UpdateOptions): Promise<Resource>;
  /** Removes a resource; refused while finalizers remain. */
  destroy(ptr: ResourcePointer, options?: OwnerOptions): Promise<void>;
  /** Adds finalizers (any owner may); a no-op for ones already present. */
  addFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource>;
  /** Removes finalizers (any owner may); a no-op for ones absent. */
  removeFinalizer(ptr: ResourcePointer, ...finalizers: string[]): Promise<Resource>;
  /** Events of one resource; the first is its current state (`created`, or `destroyed` with a tombstone). */
  watch(ptr: ResourcePointer): Observable<WatchEvent>;
  /** Events of a kind; with `bootstrap`, `created` for each current item, then `bootstrapped`, then live. */
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent>;
}
