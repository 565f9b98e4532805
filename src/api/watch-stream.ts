import type { ServerResponse } from 'node:http';
import type { Subscription } from 'rxjs';
import {
  type ErrorCode,
  type Logger,
  type Resource,
  type ResourceKind,
  type ResourceQuery,
  type State,
  type WatchBookmarkEvent,
  type WatchEvent,
} from '../runtime/index.js';
import { API_CODES, describeError } from './http-errors.js';
import { sendJson } from './resources.js';

/** A line about a resource, or the end of the bootstrap (naming the kind it bootstrapped). */
export type ResourceWatchLine =
  | { readonly event: 'created' | 'updated' | 'destroyed'; readonly resource: Resource }
  | { readonly event: 'bootstrapped'; readonly namespace: string; readonly type: string };

/**
 * One line of a watch stream (NDJSON). `bookmark` lines come only with `bookmarks=1`: after the
 * bootstrap and after each batch of live events; resuming from one gets everything after it exactly once.
 */
export type WatchLine = ResourceWatchLine | { readonly event: 'bookmark'; readonly bookmark: string };

/** What a watch stream needs: where to read, what to show, and its bounds. */
export interface WatchStreamOptions {
  readonly state: State;
  readonly kind: ResourceKind;
  readonly query?: ResourceQuery;
  /** Send `bookmark` lines. */
  readonly bookmarks?: boolean;
  /** Resume after this bookmark instead of bootstrapping; one that cannot be honoured answers 410. */
  readonly resume?: string;
  /** Turns a stored resource into what may be shown (redaction). */
  readonly present: (res: Resource) => Resource;
  /** Bytes the response may hold unsent before the client counts as not reading. */
  readonly maxBufferedBytes: number;
  /** How long a stream that was cut off may take to flush its last line before the socket is destroyed. */
  readonly lingerMs: number;
  readonly logger: Logger;
}

/**
 * Streams a kind's events as NDJSON: the current items, `bootstrapped`, then live changes (or, resuming,
 * the changes after the bookmark, then live ones). A client that stops reading gets an error line and
 * the end of the stream instead of an ever-growing buffer. When the store reports that the watch overran
 * its history, a bootstrapped stream re-watches and sends only the difference, so the client never sees a
 * second bootstrap; a resumed stream, which does not know what the client holds, ends with an error line
 * (the client resumes from its last bookmark, or lists again on 410). Returns a function that ends the
 * stream (agent shutdown).
 */
export function streamWatch(res: ServerResponse, options: WatchStreamOptions): (code: ErrorCode, message: string) => void {
  const { state, kind, logger } = options;
  const resuming = options.resume !== undefined;
  // What the client has been told exists, by id: the base for diffs after a re-watch (not kept when resuming).
  const sent = new Map<string, Resource>();
  let subscription: Subscription | undefined;
  let bootstrapped = false;
  let started = false;
  let ended = false;
  let linger: NodeJS.Timeout | undefined;

  const start = (): void => {
    if (started) return;
    started = true;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
  };
  // A resumed stream answers only once the store accepted the bookmark (its first event), so a bookmark
  // that cannot be honoured gets a 410 before any line.
  if (!resuming) start();

  const stop = (): void => {
    ended = true;
    subscription?.unsubscribe();
    subscription = undefined;
  };
  const end = (code: ErrorCode, message: string): void => {
    if (ended) return;
    stop();
    start();
    res.end(`${JSON.stringify({ error: { code, message } })}\n`);
    // A client that reads nothing would hold the socket and its buffer forever.
    linger = setTimeout(() => res.destroy(), options.lingerMs);
    linger.unref();
  };
  res.once('close', () => {
    clearTimeout(linger);
    stop();
  });

  const write = (line: WatchLine): void => {
    if (ended) return;
    res.write(`${JSON.stringify(line)}\n`);
    if (res.writableLength > options.maxBufferedBytes) {
      logger.warn(
        { kind: `${kind.namespace}/${kind.type}`, buffered: res.writableLength },
        'watch client is not reading; ending its stream',
      );
      end(API_CODES.slowConsumer, `the client read too slowly (over ${options.maxBufferedBytes} bytes unsent); watch again`);
    }
  };
  const send = (event: 'created' | 'updated' | 'destroyed', resource: Resource): void => {
    if (!resuming) {
      if (event === 'destroyed') sent.delete(resource.metadata.id);
      else sent.set(resource.metadata.id, resource);
    }
    write({ event, resource: options.present(resource) });
  };
  const bookmark = (value: string | undefined): void => {
    if (options.bookmarks && value !== undefined) write({ event: 'bookmark', bookmark: value });
  };
  const failed = (err: unknown): void => {
    if (!started && !ended) {
      // Nothing sent yet: a plain error answer (410 for a bookmark that cannot be honoured).
      ended = true;
      const { status, code, message } = describeError(err);
      if (status >= 500) logger.error({ err }, 'watch failed');
      sendJson(res, status, { error: { code, message } });
      return;
    }
    logger.error({ err }, 'watch failed');
    end(API_CODES.internal, 'the watch failed; see the agent log');
  };

  const subscribe = (): void => {
    // The first watch passes its bootstrap straight through. After an overrun, the fresh bootstrap is
    // collected and only its difference from what the client already holds is sent.
    const rewatch = bootstrapped;
    const fresh = new Map<string, Resource>();
    let live = false;
    const startAt = resuming ? { startFromBookmark: options.resume } : { bootstrap: true };
    subscription = state.watchKind(kind, { ...options.query, ...startAt, bookmarks: true }).subscribe({
      next: (event: WatchEvent | WatchBookmarkEvent) => {
        if (ended) return;
        switch (event.type) {
          case 'errored':
            if (resuming) {
              end(event.error.code, 'the watch fell behind the history; resume from the last bookmark or list again');
              return;
            }
            logger.warn({ err: event.error }, 'watch overran the history; watching again');
            subscription?.unsubscribe();
            queueMicrotask(() => {
              if (!ended) subscribe();
            });
            return;
          case 'bookmark':
            // A resumed stream's first event is its starting point, which the client already holds.
            if (!started) start();
            else bookmark(event.bookmark);
            return;
          case 'bootstrapped':
            live = true;
            if (!rewatch) {
              bootstrapped = true;
              write({ event: 'bootstrapped', namespace: event.kind.namespace, type: event.kind.type });
              bookmark(event.bookmark);
              return;
            }
            for (const [id, old] of [...sent]) if (!fresh.has(id)) send('destroyed', old);
            for (const [id, now] of fresh) {
              const old = sent.get(id);
              if (!old) send('created', now);
              else if (old.metadata.version !== now.metadata.version || old.metadata.phase !== now.metadata.phase) send('updated', now);
            }
            bookmark(event.bookmark);
            return;
          default:
            if (rewatch && !live) fresh.set(event.resource.metadata.id, event.resource);
            else send(event.type, event.resource);
        }
      },
      error: failed,
    });
  };
  subscribe();
  return end;
}
