import { watch } from 'node:fs';
import { Observable as ObservableCtor, type Observable } from 'rxjs';
import type { Resource, ResourcePointer, State, TypedKind } from '../../src/runtime/index.js';

/** Default deadline for eventual assertions: generous, since it only matters when a test fails. */
export const EVENTUALLY_TIMEOUT_MS = 10_000;

/**
 * Re-runs `check` every time `changes` emits (and once at the start) until it stops throwing; after the
 * deadline, fails with the last assertion error (vitest's readable diff). Never polls, never sleeps.
 */
export async function eventually<T>(
  changes: Observable<unknown>,
  check: () => Promise<T> | T,
  timeoutMs = EVENTUALLY_TIMEOUT_MS,
): Promise<T> {
  let lastError: unknown = new Error('never checked');
  let running = false;
  let again = false;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      subscription.unsubscribe();
      fn();
    };
    const attempt = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      do {
        again = false;
        try {
          const value = await check();
          finish(() => resolve(value));
          return;
        } catch (err) {
          lastError = err;
        }
      } while (again && !settled);
      running = false;
    };
    const timer = setTimeout(() => {
      finish(() => {
        const err = lastError instanceof Error ? lastError : new Error(String(lastError));
        err.message = `not satisfied within ${timeoutMs} ms: ${err.message}`;
        reject(err);
      });
    }, timeoutMs);
    const subscription = changes.subscribe({ next: () => void attempt() });
    void attempt();
  });
}

/** Waits until the resource (undefined when absent) passes `check`, re-checked on each of its events. */
export function eventuallyResource<S, T>(
  state: State,
  ptr: ResourcePointer<S>,
  check: (res: Resource<S> | undefined) => T,
  timeoutMs?: number,
): Promise<T> {
  return eventually(state.watch(ptr), async () => check(await state.find(ptr)), timeoutMs);
}

/** Waits until the list of a kind passes `check`, re-checked on each event of the kind. */
export function eventuallyList<S, T>(
  state: State,
  kind: TypedKind<S>,
  check: (items: Array<Resource<S>>) => T,
  timeoutMs?: number,
): Promise<T> {
  return eventually(state.watchKind(kind), async () => check(await state.list(kind)), timeoutMs);
}

/** Emits whenever something under `dir` changes (recursive inotify watch): a change stream for files. */
export function fileChanges(dir: string): Observable<unknown> {
  return new ObservableCtor<unknown>((subscriber) => {
    const watcher = watch(dir, { recursive: true, persistent: false }, () => subscriber.next(undefined));
    watcher.on('error', (err) => subscriber.error(err));
    return () => watcher.close();
  });
}
