import { setTimeout as sleep } from 'node:timers/promises';
import type { MemberSpec } from '../config/index.js';
import { backoffDelay, type BackoffOptions, type Logger } from '../runtime/index.js';
import {
  listEndpointSlices,
  watchEndpointSlices,
  type ApiTarget,
  type ClientLimits,
  type SliceEvent,
  type SliceList,
} from './endpoint-slice-client.js';
import { KUBERNETES_SERVICE, membersFromSlices, SERVICE_NAME_LABEL, type EndpointSlice } from './endpoint-slices.js';
import { DISCOVERY_CODES, DiscoveryError } from './errors.js';

/**
 * Exponential backoff between failed attempts: `initialMs` doubling up to `maxMs`, ± `jitter` of it (so
 * many nodes do not retry in step). The runtime's backoff with the multiplier fixed at 2.
 */
export type RetryBackoff = Omit<BackoffOptions, 'multiplier'>;

/** Everything the watcher needs: where to connect, its bounds and timings, and whom to tell about changes. */
export interface SliceWatcherOptions {
  /** Builds the target afresh (kubeconfig re-read) before each list and watch, so rotated credentials apply. */
  readonly target: () => Promise<ApiTarget>;
  readonly limits: ClientLimits & { readonly maxMembers: number };
  /** The `timeoutSeconds` each watch asks for; the server ends it then, and the watch resumes. */
  readonly watchTimeoutSeconds: number;
  readonly backoff: RetryBackoff;
  /** A watch that ran this long before failing resets the backoff: the failure is a new one. */
  readonly healthyAfterMs: number;
  readonly logger: Logger;
  /** Called after every change of the snapshot (the controller coalesces these into one wake-up). */
  readonly onChange: () => void;
  readonly random?: () => number;
}

/** What the watcher knows right now. */
export interface SliceWatcherSnapshot {
  readonly phase: 'listing' | 'watching' | 'backoff';
  /** The ready API servers in the last known state; undefined until the first list succeeded. */
  readonly members: ReadonlyMap<string, MemberSpec> | undefined;
  readonly resourceVersion?: string;
  readonly lastSyncTime?: Date;
  readonly lastError?: { readonly code: string; readonly message: string; readonly time: Date };
  /** Successful lists after the first. */
  readonly relists: number;
}

function isKubernetesSlice(slice: EndpointSlice): boolean {
  return slice.metadata.labels?.[SERVICE_NAME_LABEL] === KUBERNETES_SERVICE;
}

/**
 * Keeps the `default/kubernetes` EndpointSlices in sync: list, then watch from the list's resourceVersion
 * with bookmarks. A watch the server ends (its timeout) resumes from the last resourceVersion; 410 Gone,
 * an ERROR event, garbage or a dropped stream start over with a fresh list, after a backoff. The last
 * known members survive every failure: only a successful list replaces them.
 */
export class EndpointSliceWatcher {
  readonly #options: SliceWatcherOptions;
  readonly #abort = new AbortController();
  #slices = new Map<string, EndpointSlice>();
  #snapshot: SliceWatcherSnapshot = { phase: 'listing', members: undefined, relists: 0 };
  #lists = 0;
  #loop: Promise<void> | undefined;

  constructor(options: SliceWatcherOptions) {
    this.#options = options;
  }

  /** Starts the list/watch loop (once). */
  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => this.#options.logger.error({ err }, 'discovery loop ended unexpectedly'));
  }

  /** What is known now. */
  snapshot(): SliceWatcherSnapshot {
    return this.#snapshot;
  }

  /** Stops the loop and aborts any request in flight. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  #update(change: Partial<SliceWatcherSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...change };
    this.#options.onChange();
  }

  /** The members of a tentative slice set, refused (nothing committed) when it breaks a bound. */
  #membersOf(slices: Map<string, EndpointSlice>): Map<string, MemberSpec> {
    const { maxSlices, maxMembers } = this.#options.limits;
    if (slices.size > maxSlices) throw new DiscoveryError(DISCOVERY_CODES.limit, `${slices.size} EndpointSlices, more than ${maxSlices}`);
    const { members, skipped } = membersFromSlices(slices.values());
    if (members.size > maxMembers)
      throw new DiscoveryError(DISCOVERY_CODES.limit, `${members.size} API server endpoints, more than ${maxMembers}`);
    if (skipped.length > 0) this.#options.logger.debug({ skipped }, 'endpoints left out');
    return members;
  }

  #replace(list: SliceList): void {
    const slices = new Map(list.items.filter(isKubernetesSlice).map((s) => [s.metadata.name, s]));
    const members = this.#membersOf(slices);
    this.#slices = slices;
    this.#lists++;
    this.#update({ members, resourceVersion: list.resourceVersion, lastSyncTime: new Date(), relists: this.#lists - 1 });
  }

  #apply(event: SliceEvent): void {
    if (event.type !== 'BOOKMARK' && (event.type === 'DELETED' || isKubernetesSlice(event.slice))) {
      const next = new Map(this.#slices);
      if (event.type === 'DELETED') next.delete(event.slice.metadata.name);
      else next.set(event.slice.metadata.name, event.slice);
      const members = this.#membersOf(next);
      this.#slices = next;
      this.#snapshot = { ...this.#snapshot, members };
    }
    const resourceVersion = event.resourceVersion ?? this.#snapshot.resourceVersion;
    this.#update({ ...(resourceVersion !== undefined ? { resourceVersion } : {}), lastSyncTime: new Date() });
  }

  async #run(): Promise<void> {
    const { backoff, limits, logger, watchTimeoutSeconds, healthyAfterMs } = this.#options;
    const signal = this.#abort.signal;
    let failures = 0;
    // The resourceVersion to resume a watch from; undefined means "list first".
    let resume: string | undefined;
    while (!signal.aborted) {
      let watchStarted: number | undefined;
      try {
        const target = await this.#options.target();
        if (resume === undefined) {
          this.#update({ phase: 'listing' });
          const list = await listEndpointSlices(target, limits, signal);
          this.#replace(list);
          logger.info({ resourceVersion: list.resourceVersion, members: this.#snapshot.members?.size }, 'listed EndpointSlices');
          resume = list.resourceVersion;
        }
        watchStarted = Date.now();
        await watchEndpointSlices(
          target,
          resume,
          watchTimeoutSeconds,
          limits,
          (event) => {
            this.#apply(event);
            resume = this.#snapshot.resourceVersion;
          },
          signal,
          () => this.#update({ phase: 'watching' }),
        );
        // The server's timeout ended the watch: normal; resume where it stopped, no re-list.
        failures = 0;
        logger.debug({ resourceVersion: resume }, 'watch ended by the server; resuming');
      } catch (err) {
        if (signal.aborted) break;
        if (watchStarted !== undefined && Date.now() - watchStarted >= healthyAfterMs) failures = 0;
        failures++;
        resume = undefined;
        const error =
          err instanceof DiscoveryError
            ? err
            : new DiscoveryError(DISCOVERY_CODES.unreachable, (err as Error).message ?? String(err), { cause: err });
        // A first 410 is routine (the resourceVersion was compacted away): re-list at once.
        const delay =
          error.code === DISCOVERY_CODES.gone && failures === 1
            ? 0
            : backoffDelay(failures, { ...backoff, multiplier: 2 }, this.#options.random);
        logger.warn({ code: error.code, err: error.message, retryInMs: delay }, 'EndpointSlice sync failed; re-listing after a backoff');
        this.#update({ phase: 'backoff', lastError: { code: error.code, message: error.message, time: new Date() } });
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          break;
        }
      }
    }
  }
}
