import type { Clock } from './clock.js';
import type { ProxiedConnection } from './proxied-connection.js';
import type { ProxyUpstream, TcpProxyOptions } from './proxy-types.js';
import type { ReadBufferPool } from './read-buffers.js';

/**
 * Where a proxied connection is in its life:
 * - `dialing`: an upstream socket is connecting (the first, or the next after a failure or a move);
 * - `awaiting`: connected, the upstream has sent nothing yet, and the client's bytes are kept for a replay
 *   (so the connection can still move to another upstream);
 * - `relaying`: bytes flow both ways, nothing is kept, the connection stays on its upstream;
 * - `closing`: one side closed or the connection was torn down; waiting for the other socket to close;
 * - `done`: both sockets closed, accounted for and forgotten.
 */
export type ConnectionState = 'dialing' | 'awaiting' | 'relaying' | 'closing' | 'done';

/** How a `ProxiedConnection.tearDown` ended: moved to another upstream, closed, or already closing. */
export type TearDownOutcome = 'moved' | 'closed' | 'closing';

/** What every connection of one proxy shares and reports to (one object per proxy, not per connection). */
export interface ConnectionHost<U extends ProxyUpstream> {
  readonly clock: Clock;
  readonly buffers: ReadBufferPool;
  /** The proxy's limits and timeouts now (they may change between two dials). */
  options(): TcpProxyOptions;
  /** The next candidate upstream, skipping `tried`. */
  pick(tried: ReadonlySet<U>): U | undefined;
  /** The connection counts against `upstream` from its dial until it leaves (the one count there is). */
  join(conn: ProxiedConnection<U>, upstream: U): void;
  leave(conn: ProxiedConnection<U>, upstream: U): void;
  /** The connection has a deadline (dial, first answer) for the deadline sweep. */
  watchDeadline(conn: ProxiedConnection<U>): void;
  /** The connection is connected: the stall sweep has something to look at. */
  connected(conn: ProxiedConnection<U>): void;
  /** A dial failed (error or deadline): count it, tell the policy. */
  dialFailed(upstream: U, err: Error): void;
  /** The connection left `from` before its first answer for another upstream. */
  moved(from: U): void;
  /** `from` reset or ended a TLS handshake without a byte, and the connection moved. */
  closedUnanswered(from: U, reason: string): void;
  /** No upstream could be reached for the connection (`tried` of them tried). */
  gaveUp(tried: number): void;
  /** A socket error ended the connection. */
  socketError(err: Error): void;
  /** The connection is done: forget it. */
  finished(conn: ProxiedConnection<U>): void;
  /**
   * A bug surfaced in the connection (an illegal transition in `state` on `event`, or anything else it
   * threw): make it loud (logged with the stack, counted) and forget the connection, already torn down.
   */
  failed(conn: ProxiedConnection<U>, err: unknown, state: ConnectionState, event: string): void;
}
