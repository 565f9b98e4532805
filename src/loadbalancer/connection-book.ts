import type { Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { flushed, releaseReadBuffer, type Connection } from './connection.js';
import type { ProxyUpstream, UpstreamPicker } from './proxy-types.js';
import { ReadBufferPool } from './read-buffers.js';

/** No upstreams: what a connection that has tried none yet excludes. */
export const NONE: ReadonlySet<never> = new Set();

/**
 * The proxy's books: every client connection, the established ones grouped by upstream, what they count
 * (connections, bytes, buffered bytes), the accounting when a connection leaves an upstream, and drain.
 * The data path itself (dials, relay, retries, sweeps) is `TcpProxy`, built on this.
 */
export abstract class ConnectionBook<U extends ProxyUpstream> {
  protected readonly connections = new Set<Connection<U>>();
  protected readonly groups = new Map<U, Set<Connection<U>>>();
  protected readonly buffers = new ReadBufferPool();
  private emptyWaiters: Array<() => void> = [];

  protected constructor(
    protected readonly picker: UpstreamPicker<U>,
    protected readonly logger: Logger,
  ) {}

  /** Number of client connections (dialing or established). */
  size(): number {
    return this.connections.size;
  }

  /** Established connections to `upstream`. */
  activeConnections(upstream: U): number {
    return this.groups.get(upstream)?.size ?? 0;
  }

  /** Bytes moved so far by the live connections to `upstream` (closed ones are in its stats). */
  liveBytes(upstream: U): { bytesIn: number; bytesOut: number } {
    let bytesIn = 0;
    let bytesOut = 0;
    for (const c of this.groups.get(upstream) ?? NONE) {
      bytesIn += c.upstream?.bytesRead ?? 0;
      bytesOut += flushed(c.upstream);
    }
    return { bytesIn, bytesOut };
  }

  /** Bytes held in the proxy's own stream buffers right now (bounded by the high-water marks). */
  bufferedBytes(): number {
    let total = 0;
    for (const c of this.connections) {
      total += c.client.writableLength + c.client.readableLength;
      if (c.upstream) total += c.upstream.writableLength + c.upstream.readableLength;
    }
    return total;
  }

  /** Let connections finish for up to `timeoutMs`, then destroy the rest; resolves when none is left. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.connections.size > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.emptyWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.connections.size === 0) return;
    this.logger.info({ connections: this.connections.size }, 'drain timeout: destroying remaining connections');
    const gone = new Promise<void>((resolve) => this.emptyWaiters.push(resolve));
    for (const c of [...this.connections]) this.destroy(c);
    await gone;
  }

  /** Take a connection down on purpose (both sides at once). */
  protected destroy(conn: Connection<U>): void {
    conn.closing = true;
    conn.client.destroy();
    conn.upstream?.destroy();
  }

  /** Count a connection established to `target`. */
  protected join(conn: Connection<U>, target: U): void {
    target.stats.totalConnections++;
    let group = this.groups.get(target);
    if (!group) this.groups.set(target, (group = new Set()));
    group.add(conn);
  }

  /** Account for the established upstream's bytes and give its slot back (the connection ended or moves on). */
  protected detach(conn: Connection<U>, upstream: Socket, target: U): void {
    target.stats.bytesIn += upstream.bytesRead;
    target.stats.bytesOut += flushed(upstream);
    this.picker.release(target);
    const group = this.groups.get(target);
    group?.delete(conn);
    if (group?.size === 0) this.groups.delete(target);
  }

  /** Account for a connection whose sockets are all closed, and forget it. Idempotent. */
  protected finish(conn: Connection<U>): void {
    if (conn.finished) return;
    conn.finished = true;
    const { upstream, target } = conn;
    releaseReadBuffer(conn, this.buffers);
    if (upstream && conn.established && target) this.detach(conn, upstream, target);
    this.connections.delete(conn);
    if (this.connections.size === 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }
}
