import type { ApiClient, ResourceOptions } from '../api/client.js';
import { HttpError } from '../api/http-errors.js';
import type { ResourceWatchLine } from '../api/watch-stream.js';
import { hasCode, type Resource } from '../runtime/index.js';

/** How a resuming watch waits between reconnects, and where it says what happened. */
export interface ResumeOptions {
  readonly signal?: AbortSignal;
  /** First wait after a lost stream, doubled up to `maxDelayMs` (default 250 ms → 5 s). */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** One line for the operator (stderr): the stream was lost, resumed, or re-listed. */
  readonly notice: (message: string) => void;
}

/**
 * A kind watch that outlives its stream: it follows the agent's bookmarks, and when the stream drops
 * (agent restarted, connection reset, agent shutting down) it reconnects with backoff and resumes after
 * the last bookmark, so nothing is missed or shown twice. When the agent cannot honour the bookmark (it
 * restarted, or the history moved on: 410 KP_ERR_BOOKMARK_EXPIRED) it lists again and yields only the
 * difference from what it had already yielded, as created/updated/destroyed. The consumer sees one
 * bootstrap, ever. Opening the very first stream is not retried: an agent that is not there at all is
 * the caller's error to report.
 */
export async function* resumingWatch(
  client: ApiClient,
  type: string,
  scope: ResourceOptions & { id?: string },
  options: ResumeOptions,
): AsyncGenerator<ResourceWatchLine> {
  const { signal, notice } = options;
  const initialDelayMs = options.initialDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  // What the consumer has been shown, by id: the base of the difference after a re-list.
  const shown = new Map<string, Resource>();
  let bookmark: string | undefined;
  let bootstrapped = false;
  let delayMs = initialDelayMs;
  for (;;) {
    // After a lost bookmark the fresh bootstrap is collected here, then only its difference is yielded.
    let relisted: Map<string, Resource> | undefined = bootstrapped && bookmark === undefined ? new Map() : undefined;
    try {
      const lines = client.watch(type, {
        ...scope,
        bookmarks: true,
        ...(bookmark !== undefined ? { resume: bookmark } : {}),
        ...(signal ? { signal } : {}),
      });
      for await (const line of lines) {
        delayMs = initialDelayMs; // the stream works again
        if (line.event === 'bookmark') {
          bookmark = line.bookmark;
          continue;
        }
        if (line.event === 'bootstrapped') {
          if (relisted) {
            yield* difference(shown, relisted);
            relisted = undefined;
          } else if (!bootstrapped) {
            bootstrapped = true;
            yield line;
          }
          continue;
        }
        if (relisted) {
          relisted.set(line.resource.metadata.id, line.resource);
          continue;
        }
        if (line.event === 'destroyed') shown.delete(line.resource.metadata.id);
        else shown.set(line.resource.metadata.id, line.resource);
        yield line;
      }
      if (signal?.aborted) return;
      notice('the watch stream ended; reconnecting');
    } catch (err) {
      if (signal?.aborted) return;
      if (!bootstrapped || !retryable(err)) throw err;
      if (hasCode(err, 'KP_ERR_BOOKMARK_EXPIRED')) {
        notice('the agent cannot resume this watch (it restarted, or too much changed); listing again');
        bookmark = undefined;
        continue;
      }
      notice(`lost the watch (${err instanceof Error ? err.message : String(err)}); reconnecting`);
    }
    if (!(await pause(delayMs, signal))) return;
    delayMs = Math.min(maxDelayMs, delayMs * 2);
  }
}

/** Refusals that another attempt cannot change (a bad type or request) end the watch; the rest are retried. */
function retryable(err: unknown): boolean {
  if (hasCode(err, 'KP_ERR_BOOKMARK_EXPIRED')) return true;
  return !(err instanceof HttpError && err.status >= 400 && err.status < 500);
}

/** What changed between what was shown and a fresh list, in the events that tell it; `shown` becomes `fresh`. */
function* difference(shown: Map<string, Resource>, fresh: ReadonlyMap<string, Resource>): Generator<ResourceWatchLine> {
  for (const [id, old] of [...shown]) {
    if (fresh.has(id)) continue;
    shown.delete(id);
    yield { event: 'destroyed', resource: old };
  }
  for (const [id, now] of fresh) {
    const old = shown.get(id);
    shown.set(id, now);
    if (!old) yield { event: 'created', resource: now };
    // A restarted agent counts versions from 1 again: compare what the resource says, not its version.
    else if (content(old) !== content(now)) yield { event: 'updated', resource: now };
  }
}

function content(res: Resource): string {
  return JSON.stringify([res.spec, res.metadata.labels, res.metadata.phase, res.metadata.finalizers]);
}

/** Waits `ms`, or less when `signal` aborts; false when aborted. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
