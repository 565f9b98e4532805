import type { Subscriber } from 'rxjs';
import type { WatchBookmarkEvent, WatchEvent } from './core.js';
import { WatchOverrunError } from './errors.js';
import { matchesQuery, type ResourceQuery } from './query.js';
import type { Resource, ResourceKind } from './resource.js';

/** A change as the in-memory store records it in a kind's history. */
export type ChangeEvent =
  | { type: 'created'; resource: Resource; bookmark: string }
  | { type: 'updated'; resource: Resource; old: Resource; bookmark: string }
  | { type: 'destroyed'; resource: Resource; bookmark: string };

/** A subscriber reading a collection's history at its own position. */
export interface Watcher {
  /** Events of the ring this watcher has seen: the next one it reads is `ring[position % capacity]`. */
  position: number;
  readonly id: string | undefined;
  readonly query: ResourceQuery | undefined;
  /** Announce the position after each delivered batch. */
  readonly bookmarks: boolean;
  readonly subscriber: Subscriber<WatchEvent | WatchBookmarkEvent>;
}

/** One namespace+type: its items, a ring of recent events, and the watchers reading that ring. */
export class Collection {
  readonly items = new Map<string, Resource>();
  /** Grows with the events written (filled in order, so it stays packed) up to `capacity`, then wraps. */
  readonly ring: ChangeEvent[] = [];
  /** Events ever written to this kind; also the sequence a bookmark of "now" names. */
  head = 0;
  readonly watchers = new Set<Watcher>();
  flushScheduled = false;
  readonly kind: ResourceKind;

  constructor(
    kind: ResourceKind,
    readonly capacity: number,
    readonly bookmarkPrefix: string,
  ) {
    this.kind = Object.freeze({ namespace: kind.namespace, type: kind.type });
  }

  bookmark(sequence: number): string {
    return `${this.bookmarkPrefix}${sequence}`;
  }

  /** The bookmark of the event appended next (built by the caller, so each event is one object). */
  nextBookmark(): string {
    return this.bookmark(this.head + 1);
  }

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
    const start = watcher.position;
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
    // Filtered-out events advance the position too: the bookmark keeps a quiet watcher's resume point fresh.
    if (watcher.bookmarks && watcher.position > start && !watcher.subscriber.closed) {
      watcher.subscriber.next({ type: 'bookmark', kind: this.kind, bookmark: this.bookmark(watcher.position) });
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
  if (nowMatches) return { type: 'created', resource: event.resource, bookmark: event.bookmark };
  if (usedToMatch) return { type: 'destroyed', resource: event.resource, bookmark: event.bookmark };
  return undefined;
}
