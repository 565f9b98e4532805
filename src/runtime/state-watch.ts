// The classes alone: rxjs's index loads all of its ~230 modules (about 6 MiB of the agent's memory).
import { Observable } from 'rxjs/internal/Observable';
import { Subscription } from 'rxjs/internal/Subscription';
import type { BookmarkedWatchKindOptions, CoreState, WatchBookmarkEvent, WatchEvent, WatchKindOptions } from './core.js';
import { NotFoundError, PhaseConflictError, ValidationError } from './errors.js';
import { kindKey, pointerKey, type Resource, type ResourceKind, type ResourcePointer } from './resource.js';

/** The watches these conveniences are built on: any CoreState has them. */
type WatchSource = Pick<CoreState, 'watch' | 'watchKind'>;

/** Options for waiting on a resource. */
export interface WatchForOptions {
  readonly signal?: AbortSignal;
}

/** One kind of an aggregated watch, optionally resuming from its own bookmark. */
export interface AggregatedKind extends ResourceKind {
  readonly startFromBookmark?: string;
}

/** Options shared by every kind of an aggregated watch (the start point is per kind). */
export interface AggregatedWatchOptions extends Omit<WatchKindOptions, 'startFromBookmark'> {
  readonly bookmarks?: boolean;
}

/**
 * Resolves with the first state of the resource (undefined when absent) that satisfies the predicate;
 * rejects with the signal's reason when aborted. Re-watches after a history overrun.
 */
export function watchFor<S>(
  source: WatchSource,
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
      subscription = (source.watch(ptr) as Observable<WatchEvent<S>>).subscribe({
        next: (event) => {
          if (done) return;
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

/**
 * A signal that aborts when the resource starts tearing down or is destroyed (at once when it does not
 * exist), or when `parent` aborts: work tied to a resource's life (COSI's WatchFor-based teardown
 * context). The watch behind it ends when the signal aborts.
 */
export function contextUntilTeardown(source: WatchSource, ptr: ResourcePointer, parent?: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) {
    onParentAbort();
    return controller.signal;
  }
  parent?.addEventListener('abort', onParentAbort, { once: true });
  watchFor(source, ptr, (res) => res === undefined || res.metadata.phase === 'tearingDown', { signal: controller.signal }).then(
    (res) => {
      parent?.removeEventListener('abort', onParentAbort);
      const key = pointerKey(ptr);
      controller.abort(res ? new PhaseConflictError(`resource ${key} is tearing down`) : new NotFoundError(`resource ${key} is gone`));
    },
    // Rejected only by our own abort (the parent's, relayed): nothing left to do.
    () => parent?.removeEventListener('abort', onParentAbort),
  );
  return controller.signal;
}

/**
 * Several kinds in one stream of batches (COSI's WatchKindAggregated, generalised to several kinds).
 * A batch holds the events that arrived in one turn of the event loop's microtask queue; each kind's
 * bootstrap (its `created` events and its `bootstrapped` marker, which names the kind) is contiguous in
 * one batch. Events carry the bookmark of their own kind; a kind's subscription failing (e.g. an expired
 * bookmark) fails the whole stream.
 */
export function watchKindAggregated(
  source: WatchSource,
  kinds: readonly AggregatedKind[],
  options: AggregatedWatchOptions = {},
): Observable<Array<WatchEvent | WatchBookmarkEvent>> {
  return new Observable<Array<WatchEvent | WatchBookmarkEvent>>((subscriber) => {
    const keys = kinds.map((k) => kindKey(k));
    const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
    if (duplicate !== undefined) {
      subscriber.error(
        new ValidationError(`aggregated watch: ${duplicate} is listed twice`, [{ path: 'kinds', message: 'duplicate kind' }]),
      );
      return undefined;
    }
    let pending: Array<WatchEvent | WatchBookmarkEvent> = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      if (pending.length === 0 || subscriber.closed) return;
      const batch = pending;
      pending = [];
      subscriber.next(batch);
    };
    const subscriptions = new Subscription();
    const { bookmarks, ...shared } = options;
    for (const { namespace, type, startFromBookmark } of kinds) {
      const perKind: WatchKindOptions = { ...shared, ...(startFromBookmark !== undefined ? { startFromBookmark } : {}) };
      const events: Observable<WatchEvent | WatchBookmarkEvent> = bookmarks
        ? source.watchKind({ namespace, type }, { ...perKind, bookmarks: true } satisfies BookmarkedWatchKindOptions)
        : source.watchKind({ namespace, type }, perKind);
      subscriptions.add(
        events.subscribe({
          next: (event) => {
            pending.push(event);
            if (!scheduled) {
              scheduled = true;
              queueMicrotask(flush);
            }
          },
          error: (err: unknown) => subscriber.error(err),
        }),
      );
      if (subscriber.closed) break;
    }
    return () => subscriptions.unsubscribe();
  });
}
