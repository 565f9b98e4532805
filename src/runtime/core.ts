import type { Observable } from 'rxjs';
import type { KubeprismError } from './errors.js';
import type { ResourceQuery } from './query.js';
import type { NewResource, Phase, Resource, ResourceKind, ResourcePointer } from './resource.js';

/**
 * A change seen by a watcher. `updated` carries the previous version in `old`. Changes from a kind
 * watch carry the `bookmark` to resume after them. `bootstrapped` ends a kind watch's bootstrap and
 * names the kind, with the bookmark of that point.
 */
export type WatchEvent<S = unknown> =
  | { readonly type: 'created'; readonly resource: Resource<S>; readonly bookmark?: string }
  | { readonly type: 'updated'; readonly resource: Resource<S>; readonly old: Resource<S>; readonly bookmark?: string }
  | { readonly type: 'destroyed'; readonly resource: Resource<S>; readonly bookmark?: string }
  | { readonly type: 'bootstrapped'; readonly kind: ResourceKind; readonly bookmark?: string }
  | { readonly type: 'errored'; readonly error: KubeprismError };

/**
 * A point a kind watch can resume from, sent only to watches that ask for bookmarks: the starting point
 * (unless a `bootstrapped` event carries it), then the point after each delivered batch.
 */
export interface WatchBookmarkEvent {
  readonly type: 'bookmark';
  readonly kind: ResourceKind;
  readonly bookmark: string;
}

/** Who is writing: the owner must match the stored owner for updates and destroys. */
export interface OwnerOptions {
  readonly owner?: string;
}

/** Update options: which phase the stored resource must be in (`running` unless told). */
export interface UpdateOptions extends OwnerOptions {
  readonly expectedPhase?: Phase | 'any';
}

/**
 * Watch-kind options. Where the watch starts: with `bootstrap`, the current items (as `created`) then a
 * `bootstrapped` marker; with `tailEvents: N`, the last N events of the kind's history (COSI's
 * WithKindTailEvents; filters apply after counting); with `startFromBookmark`, right after the event the
 * bookmark names (no gap, no duplicate); otherwise at the next change. The three exclude each other. A
 * bookmark that cannot be honoured (fallen out of the history, another store instance, another kind)
 * fails the subscription with BookmarkExpiredError.
 */
export interface WatchKindOptions extends ResourceQuery {
  readonly bootstrap?: boolean;
  readonly tailEvents?: number;
  readonly startFromBookmark?: string;
}

/** Watch-kind options of a watch that also gets {@link WatchBookmarkEvent}s. */
export interface BookmarkedWatchKindOptions extends WatchKindOptions {
  readonly bookmarks: true;
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
   * based on. Checks owner, then version, then phase. Always writes (version + 1 and an `updated` event),
   * even when nothing changed, as COSI's Update; skipping no-op writes is `modify`'s job.
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
  /** Events of a kind, starting where the options say (see {@link WatchKindOptions}), with bookmark events. */
  watchKind(kind: ResourceKind, options: BookmarkedWatchKindOptions): Observable<WatchEvent | WatchBookmarkEvent>;
  /** Events of a kind, starting where the options say (see {@link WatchKindOptions}). */
  watchKind(kind: ResourceKind, options?: WatchKindOptions): Observable<WatchEvent>;
}
