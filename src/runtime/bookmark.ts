import { createHash, randomBytes } from 'node:crypto';
import { BookmarkExpiredError } from './errors.js';
import { kindKey, type ResourceKind } from './resource.js';

/**
 * Bookmarks of the in-memory store: `kp1.<store instance>.<kind tag>.<sequence>`, where the sequence
 * counts the kind's events (a watcher holding bookmark N has seen events 1..N). The instance is random
 * per store, so a bookmark from before a restart is refused instead of silently pointing elsewhere; the
 * kind tag (a hash of namespace/type) refuses one kind's bookmark for another. Callers treat the string
 * as opaque; it is URL-safe as it stands.
 */
export class BookmarkCodec {
  readonly #instance = randomBytes(8).toString('hex');

  /** The constant part of every bookmark of `kind` (the sequence is appended). */
  prefix(kind: ResourceKind): string {
    return `kp1.${this.#instance}.${kindTag(kind)}.`;
  }

  /**
   * The sequence a bookmark names, checked against the kind and the history still held (events
   * `head - capacity + 1 .. head`); BookmarkExpiredError when it cannot be honoured.
   */
  resume(bookmark: string, kind: ResourceKind, head: number, capacity: number): number {
    const parts = bookmark.split('.');
    const [version, instance, tag, sequence] = parts;
    const where = `watch of ${kindKey(kind)}`;
    if (parts.length !== 4 || version !== 'kp1' || sequence === undefined || !/^\d{1,15}$/.test(sequence)) {
      throw new BookmarkExpiredError(`${where}: "${bookmark.slice(0, 80)}" is not a bookmark of this store; list again`);
    }
    if (instance !== this.#instance) {
      throw new BookmarkExpiredError(`${where}: the bookmark comes from another store instance (restarted since?); list again`);
    }
    if (tag !== kindTag(kind)) throw new BookmarkExpiredError(`${where}: the bookmark belongs to another kind; list again`);
    const seq = Number(sequence);
    if (seq > head) throw new BookmarkExpiredError(`${where}: the bookmark is ahead of the history (${seq} > ${head}); list again`);
    if (head - seq > capacity) {
      throw new BookmarkExpiredError(
        `${where}: the bookmark fell out of the history (${head - seq} events since, the history holds ${capacity}); list again`,
      );
    }
    return seq;
  }
}

function kindTag(kind: ResourceKind): string {
  return createHash('sha256').update(kindKey(kind)).digest('hex').slice(0, 12);
}
