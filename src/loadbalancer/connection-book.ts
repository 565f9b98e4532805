/**
 * The proxy's register of connections: every one, and those counted against each upstream. A connection
 * counts against an upstream from the moment it dials it until it leaves it (dial failed, moved, done):
 * the one count of active connections, read by the picker (so a burst of dials spreads) and reported as
 * each upstream's `activeConnections`.
 */
export class ConnectionBook<U, C> {
  private readonly all = new Set<C>();
  private readonly byUpstream = new Map<U, Set<C>>();
  private emptyWaiters: Array<() => void> = [];

  /** Number of connections (any state but done). */
  get size(): number {
    return this.all.size;
  }

  /** Connections counted against `upstream` (dialing it or connected to it). */
  count(upstream: U): number {
    return this.byUpstream.get(upstream)?.size ?? 0;
  }

  /** The connections counted against `upstream` (live: copy before changing them). */
  of(upstream: U): ReadonlySet<C> | undefined {
    return this.byUpstream.get(upstream);
  }

  /** Every upstream with connections counted against it, and those connections (live). */
  groups(): IterableIterator<[U, Set<C>]> {
    return this.byUpstream.entries();
  }

  /** Whether any connection counts against some upstream. */
  anyCounted(): boolean {
    return this.byUpstream.size > 0;
  }

  /** Every connection (live: copy before changing them). */
  connections(): ReadonlySet<C> {
    return this.all;
  }

  add(conn: C): void {
    this.all.add(conn);
  }

  /** Forget a finished connection; resolves the `whenEmpty` waiters when it was the last. */
  remove(conn: C): void {
    this.all.delete(conn);
    if (this.all.size > 0 || this.emptyWaiters.length === 0) return;
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of waiters) w();
  }

  join(conn: C, upstream: U): void {
    let group = this.byUpstream.get(upstream);
    if (!group) this.byUpstream.set(upstream, (group = new Set()));
    group.add(conn);
  }

  leave(conn: C, upstream: U): void {
    const group = this.byUpstream.get(upstream);
    group?.delete(conn);
    if (group?.size === 0) this.byUpstream.delete(upstream);
  }

  /** Call `fn` once no connection is left (at once when none is). */
  whenEmpty(fn: () => void): void {
    if (this.all.size === 0) fn();
    else this.emptyWaiters.push(fn);
  }
}
