import type { ServerResponse } from 'node:http';
import type { Subscription } from 'rxjs';
import type { Logger, Resource, ResourceKind, ResourceQuery, State, WatchEvent } from '../runtime/index.js';
import { API_CODES } from './http-errors.js';

/** One line of a watch stream (`{"event", "resource"}`; `bootstrapped` carries no resource). */
export type WatchLine =
  { readonly event: 'created' | 'updated' | 'destroyed'; readonly resource: Resource } | { readonly event: 'bootstrapped' };

/** What a watch stream needs: where to read, what to show, and its bounds. */
export interface WatchStreamOptions {
  readonly state: State;
  readonly kind: ResourceKind;
  readonly query?: ResourceQuery;
  /** Turns a stored resource into what may be shown (redaction). */
  readonly present: (res: Resource) => Resource;
  /** Bytes the response may hold unsent before the client counts as not reading. */
  readonly maxBufferedBytes: number;
  /** How long a stream that was cut off may take to flush its last line before the socket is destroyed. */
  readonly lingerMs: number;
  readonly logger: Logger;
}

/**
 * Streams a kind's events as NDJSON: the current items, `bootstrapped`, then live changes. A client that
 * stops reading gets an error line and the end of the stream instead of an ever-growing buffer. When the
 * store reports the watch overran its history, the stream re-watches and sends only the difference, so
 * the client never sees a second bootstrap. Returns a function that ends the stream (agent shutdown).
 */
export function streamWatch(res: ServerResponse, options: WatchStreamOptions): (code: string, message: string) => void {
  const { state, kind, logger } = options;
  // What the client has been told exists, by id: the base for diffs after a re-watch.
  const sent = new Map<string, Resource>();
  let subscription: Subscription | undefined;
  let bootstrapped = false;
  let ended = false;
  let linger: NodeJS.Timeout | undefined;

  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();

  const stop = (): void => {
    ended = true;
    subscription?.unsubscribe();
    subscription = undefined;
  };
  const end = (code: string, message: string): void => {
    if (ended) return;
    stop();
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
    if (event === 'destroyed') sent.delete(resource.metadata.id);
    else sent.set(resource.metadata.id, resource);
    write({ event, resource: options.present(resource) });
  };

  const subscribe = (): void => {
    // The first watch passes its bootstrap straight through. After an overrun, the fresh bootstrap is
    // collected and only its difference from what the client already holds is sent.
    const rewatch = bootstrapped;
    const fresh = new Map<string, Resource>();
    let live = false;
    subscription = state.watchKind(kind, { ...options.query, bootstrap: true }).subscribe({
      next: (event: WatchEvent) => {
        if (ended) return;
        switch (event.type) {
          case 'errored':
            logger.warn({ err: event.error }, 'watch overran the history; watching again');
            subscription?.unsubscribe();
            queueMicrotask(() => {
              if (!ended) subscribe();
            });
            return;
          case 'bootstrapped':
            live = true;
            if (!rewatch) {
              bootstrapped = true;
              write({ event: 'bootstrapped' });
              return;
            }
            for (const [id, old] of [...sent]) if (!fresh.has(id)) send('destroyed', old);
            for (const [id, now] of fresh) {
              const old = sent.get(id);
              if (!old) send('created', now);
              else if (old.metadata.version !== now.metadata.version || old.metadata.phase !== now.metadata.phase) send('updated', now);
            }
            return;
          default:
            if (rewatch && !live) fresh.set(event.resource.metadata.id, event.resource);
            else send(event.type, event.resource);
        }
      },
      error: (err: unknown) => {
        logger.error({ err }, 'watch failed');
        end(API_CODES.internal, 'the watch failed; see the agent log');
      },
    });
  };
  subscribe();
  return end;
}
