// The classes alone: rxjs's index loads all of its ~230 modules (about 6 MiB of the agent's memory).
import { Subscription } from 'rxjs/internal/Subscription';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type {
  Controller,
  ControllerContext,
  ControllerInput,
  ControllerOutput,
  ControllerReader,
  ControllerWriter,
  QueueStats,
} from './controller.js';
import type { WatchEvent } from './core.js';
import { KubeprismError, ValidationError } from './errors.js';
import type { Logger } from './logger.js';
import { SkipReconcile } from './reconcile-controller.js';
import { kindKey, pointerKey, type Resource, type ResourceKind, type ResourcePointer, type TypedKind } from './resource.js';
import { ItemContext } from './queue-item-context.js';
import { WorkQueue } from './work-queue.js';

/**
 * Thrown by a queue reconcile to have its item reconciled again after `afterMs` (COSI's RequeueError).
 * Without a cause it is not a failure; with one, it counts and logs as a failure, but waits `afterMs`
 * instead of the item's backoff.
 */
export class RequeueError extends KubeprismError {
  constructor(
    readonly afterMs: number,
    cause?: unknown,
  ) {
    super('KP_REQUEUE', cause instanceof Error ? cause.message : `requeue in ${afterMs} ms`, cause === undefined ? {} : { cause });
  }
}

/** Ends this item's reconcile and has it run again after `afterMs` (see {@link RequeueError}). */
export function requeue(afterMs: number, cause?: unknown): never {
  throw new RequeueError(afterMs, cause);
}

/** What one item's reconcile gets: reads and writes of the controller, scoped to this item. */
export interface QueueItemContext extends ControllerReader, ControllerWriter {
  readonly name: string;
  readonly logger: Logger;
  /** Aborted when the engine stops. */
  readonly signal: AbortSignal;
  /** The primary resource this reconcile is for. */
  readonly item: ResourcePointer;
}

/** A secondary input and how its changes map to primary items. */
export interface MappedInput {
  readonly kind: ResourceKind;
  /**
   * The primary items a change of `res` concerns (for a destroyed one, its last state). Failing counts
   * as a failure and is retried with backoff, as a reconcile.
   */
  map(ctx: ControllerReader, res: Resource): Promise<readonly ResourcePointer[]> | readonly ResourcePointer[];
}

/** Declaration of a queue-based controller (COSI's QController). */
export interface QueueControllerSpec<S> {
  readonly name: string;
  /** Every resource of this kind is an item, reconciled on its own. */
  readonly primary: TypedKind<S>;
  readonly mapped?: readonly MappedInput[];
  readonly outputs: readonly ControllerOutput[];
  /**
   * Reconciles one item; `res` is its current state, undefined once it is gone. The outputs it writes
   * belong to the item: after a successful reconcile, the item's outputs it did not write are torn down
   * and destroyed (an item that is gone writes none). Throw `requeue(ms)` to come back later, `skip()`
   * to wait for the next change, anything else to be retried with exponential backoff per item.
   */
  reconcile(ctx: QueueItemContext, item: ResourcePointer<S>, res: Resource<S> | undefined): Promise<void>;
  /** Items reconciled at the same time (default 1, as COSI). */
  readonly concurrency?: number;
  /** Per-item retry backoff after failures (default about 0.5 s growing to 60 s). */
  readonly backoff?: BackoffOptions;
}

type Job =
  | { readonly job: 'reconcile'; readonly ptr: ResourcePointer }
  | { readonly job: 'map'; readonly res: Resource; readonly mapper: MappedInput };

/**
 * Builds a queue-based controller: per-item reconcile with requeue and per-item exponential backoff,
 * primary and mapped inputs, per-item output cleanup. It is a Controller like any other: the engine
 * supervises it (a crash of its loop restarts it with backoff), draws its graph edges, writes its
 * ControllerStatuses and counts its reads, writes and wake-ups; its queue counters come on top.
 */
export function queueController<S>(spec: QueueControllerSpec<S>): Controller {
  const concurrency = spec.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError(`queue controller ${spec.name}: concurrency must be a positive integer`, [
      { path: 'concurrency', message: 'must be a positive integer' },
    ]);
  }
  const primaryKey = kindKey(spec.primary);
  const inputs: ControllerInput[] = [
    { namespace: spec.primary.namespace, type: spec.primary.type, kind: 'primary' },
    ...(spec.mapped ?? []).map((m): ControllerInput => ({ namespace: m.kind.namespace, type: m.kind.type, kind: 'mapped' })),
  ];
  const stats = { processed: 0, failures: 0, requeues: 0, mapped: 0 };
  // Kept across restarts of the loop: which outputs each item wrote, who wrote each output last, the
  // failures of each item (its backoff), and outputs left tearing down because someone holds them.
  const itemOutputs = new Map<string, Map<string, ResourcePointer>>();
  const outputOwner = new Map<string, string>();
  const failures = new Map<string, number>();
  const held = new Map<string, ResourcePointer>();
  let queue: WorkQueue<Job> | undefined;

  async function destroyStale(ctx: ControllerContext, itemKey: string, stale: Iterable<[string, ResourcePointer]>): Promise<void> {
    for (const [key, ptr] of stale) {
      if (outputOwner.get(key) !== itemKey) continue; // another item wrote it since: it is theirs now
      outputOwner.delete(key);
      if (!(await ctx.teardownAndDestroyIfReady(ptr))) held.set(key, ptr);
    }
  }

  async function retryHeld(ctx: ControllerContext): Promise<void> {
    for (const [key, ptr] of [...held]) {
      if (outputOwner.has(key) || (await ctx.teardownAndDestroyIfReady(ptr))) held.delete(key);
    }
  }

  function failed(ctx: ControllerContext, key: string, err: unknown, afterMs?: number): number {
    stats.failures++;
    const count = (failures.get(key) ?? 0) + 1;
    failures.set(key, count);
    const delayMs = afterMs ?? backoffDelay(count, spec.backoff ?? DEFAULT_BACKOFF);
    ctx.logger.error({ err, item: key, failures: count, delayMs }, 'queue item failed; retrying after backoff');
    return delayMs;
  }

  async function reconcileItem(ctx: ControllerContext, key: string, ptr: ResourcePointer): Promise<number | undefined> {
    const written = new Map<string, ResourcePointer>();
    const itemCtx = new ItemContext(ctx, ptr, ({ namespace, type, id }) => {
      const out = pointerKey({ namespace, type, id });
      written.set(out, { namespace, type, id });
      outputOwner.set(out, key);
    });
    const previous = itemOutputs.get(key) ?? new Map<string, ResourcePointer>();
    const keepWritten = (): void => {
      const merged = new Map([...previous, ...written]);
      if (merged.size > 0) itemOutputs.set(key, merged);
    };
    stats.processed++;
    try {
      await spec.reconcile(itemCtx, ptr as ResourcePointer<S>, await ctx.find(ptr as ResourcePointer<S>));
    } catch (err) {
      keepWritten();
      if (err instanceof SkipReconcile) {
        ctx.logger.debug({ item: key, reason: err.message }, 'skipping the item until its next change');
        return undefined;
      }
      if (err instanceof RequeueError) {
        stats.requeues++;
        if (err.cause === undefined) return err.afterMs;
        return failed(ctx, key, err.cause, err.afterMs);
      }
      if (ctx.signal.aborted) return undefined;
      return failed(ctx, key, err);
    }
    failures.delete(key);
    if (written.size > 0) itemOutputs.set(key, written);
    else itemOutputs.delete(key);
    await destroyStale(
      ctx,
      key,
      [...previous].filter(([out]) => !written.has(out)),
    );
    return undefined;
  }

  async function mapItem(ctx: ControllerContext, key: string, job: Extract<Job, { job: 'map' }>): Promise<number | undefined> {
    try {
      const items = await job.mapper.map(ctx, job.res);
      const foreign = items.find((p) => kindKey(p) !== primaryKey);
      if (foreign !== undefined) throw new ValidationError(`mapped to ${pointerKey(foreign)}, not an item of ${primaryKey}`, []);
      stats.mapped++;
      failures.delete(key);
      for (const p of items) queue?.put(`reconcile:${pointerKey(p)}`, { job: 'reconcile', ptr: p });
      return undefined;
    } catch (err) {
      if (ctx.signal.aborted) return undefined;
      return failed(ctx, key, err);
    }
  }

  async function drain(ctx: ControllerContext, work: WorkQueue<Job>): Promise<void> {
    const running = new Set<Promise<void>>();
    for (;;) {
      for (
        let next = running.size < concurrency ? work.take() : undefined;
        next;
        next = running.size < concurrency ? work.take() : undefined
      ) {
        const [key, job] = next;
        const run = (job.job === 'reconcile' ? reconcileItem(ctx, key, job.ptr) : mapItem(ctx, key, job)).then((afterMs) =>
          work.release(key, job, afterMs),
        );
        const tracked: Promise<void> = run.finally(() => running.delete(tracked));
        running.add(tracked);
      }
      if (running.size === 0) return;
      await Promise.race(running);
    }
  }

  return {
    name: spec.name,
    inputs: () => inputs,
    outputs: () => spec.outputs,
    queueStats: (): QueueStats => ({ ...stats, queued: queue?.length ?? 0 }),
    async run(ctx) {
      const work = new WorkQueue<Job>(() => ctx.trigger());
      queue = work;
      const subscriptions = new Subscription();
      const putItem = (ptr: ResourcePointer): void => work.put(`reconcile:${pointerKey(ptr)}`, { job: 'reconcile', ptr });
      // Items the controller knows from before (a restart): one that vanished meanwhile gets its outputs cleaned.
      const requeueKnown = (): void => {
        for (const key of itemOutputs.keys()) {
          const ptr = pointerFromKey(key);
          if (ptr) putItem(ptr);
        }
      };
      // A watch that fails (not an overrun: the store itself) crashes the loop, for the engine to restart it.
      let broken: Error | undefined;
      const watch = (kind: ResourceKind, bootstrap: boolean, onEvent: (res: Resource) => void): void => {
        const subscription = ctx.watchKind(kind, { bootstrap }).subscribe({
          error: (err: unknown) => {
            broken ??= err instanceof Error ? err : new Error(String(err));
            ctx.trigger();
          },
          next: (event: WatchEvent) => {
            if (event.type === 'errored') {
              // Events were lost: watch again, and look at every item again (a primary watch re-bootstraps).
              ctx.logger.warn({ kind: kindKey(kind), err: event.error }, 'queue input watch overran; watching again');
              subscriptions.remove(subscription);
              queueMicrotask(() => {
                if (ctx.signal.aborted) return;
                watch(kind, bootstrap, onEvent);
                requeueKnown();
                if (kindKey(kind) !== primaryKey) {
                  ctx.list(spec.primary).then(
                    (items) => items.forEach((res) => putItem(res.metadata)),
                    (err: unknown) => ctx.logger.warn({ err }, 'cannot list the primary items again'),
                  );
                }
              });
              return;
            }
            if (event.type !== 'bootstrapped') onEvent(event.resource);
          },
        });
        subscriptions.add(subscription);
      };
      try {
        watch(spec.primary, true, (res) => putItem(res.metadata));
        for (const mapper of spec.mapped ?? []) {
          watch(mapper.kind, false, (res) => work.put(`map:${pointerKey(res.metadata)}`, { job: 'map', res, mapper }));
        }
        requeueKnown();
        while (await ctx.nextEvent()) {
          if (broken !== undefined) throw broken;
          await retryHeld(ctx);
          await drain(ctx, work);
        }
      } finally {
        subscriptions.unsubscribe();
        work.close();
      }
    },
  };
}

/** `reconcile:<namespace>/<type>/<id>` back to a pointer (ids may hold "/": namespace and type cannot). */
function pointerFromKey(key: string): ResourcePointer | undefined {
  const match = /^reconcile:([^/]+)\/([^/]+)\/(.+)$/s.exec(key);
  if (!match || match[1] === undefined || match[2] === undefined || match[3] === undefined) return undefined;
  return { namespace: match[1], type: match[2], id: match[3] };
}
