import { connect, type Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { formatAddress } from './address.js';
import { findStalled, flushed, newConnection, releaseReadBuffer, startRelay, upstreamReader, type Connection } from './connection.js';
import { describeError, NoUpstreamsError } from './errors.js';
import { ReadBufferPool } from './read-buffers.js';
import type { ProxyUpstream, TcpProxyOptions, UpstreamPicker } from './proxy-types.js';

export type { ProxyUpstream, TcpProxyOptions, UpstreamPicker, UpstreamStats } from './proxy-types.js';

const NONE: ReadonlySet<never> = new Set();

/**
 * The TCP pass-through: for each client, dial candidates in the picker's order until one answers, then
 * relay both ways with backpressure (a slow reader pauses its writer) and half-close forwarded (see
 * `startRelay`). No timer per connection or chunk: one sweep finds stalls, another expired dials.
 */
export class TcpProxy<U extends ProxyUpstream> {
  /** Connections refused because the limit was reached. */
  refused = 0;
  /** Client connections given up because no upstream could be reached. */
  failed = 0;
  /** Connections closed because the upstream stopped taking data. */
  stalled = 0;
  private readonly connections = new Set<Connection<U>>();
  private readonly groups = new Map<U, Set<Connection<U>>>();
  private readonly dialing = new Set<Connection<U>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private dialTimer: NodeJS.Timeout | undefined;
  private emptyWaiters: Array<() => void> = [];
  private readonly buffers = new ReadBufferPool();

  constructor(
    private readonly picker: UpstreamPicker<U>,
    private options: TcpProxyOptions,
    private readonly logger: Logger,
  ) {}

  /** Change limits and timeouts; they apply to new dials and the next sweeps. */
  setOptions(options: TcpProxyOptions): void {
    this.options = { ...options };
    if (this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      this.armSweep();
    }
    if (this.dialTimer) {
      clearInterval(this.dialTimer);
      this.dialTimer = undefined;
      this.armDialSweep();
    }
  }

  /** Take an accepted (paused) client socket. */
  handle(client: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.refused++;
      client.on('error', ignore);
      client.destroy();
      if (this.refused === 1 || this.refused % 1000 === 0) {
        this.logger.warn({ limit: this.options.maxConnections, refused: this.refused }, 'connection limit reached; refusing');
      }
      return;
    }
    const conn = newConnection<U>(client);
    this.connections.add(conn);
    client.on('error', (err) => this.onSocketError(conn, err));
    client.on('close', (hadError) => this.onClose(conn, client, hadError));
    this.dial(conn);
  }

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

  /** Close every established connection whose upstream matches; returns how many. */
  closeConnections(match: (upstream: U) => boolean, reason: string): number {
    let closed = 0;
    for (const [upstream, group] of this.groups) {
      if (!match(upstream)) continue;
      let n = 0;
      for (const c of group) {
        if (c.closing) continue; // already going: its sockets close asynchronously
        this.destroy(c);
        n++;
      }
      if (n > 0) this.logger.info({ upstream: formatAddress(upstream.host, upstream.port), connections: n, reason }, 'closing connections');
      closed += n;
    }
    return closed;
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

  private dial(conn: Connection<U>): void {
    const target = this.picker.acquire(conn.tried ?? NONE);
    if (target === undefined) {
      this.failed++;
      const err = new NoUpstreamsError(`no upstream reachable (${conn.tried?.size ?? 0} tried)`);
      this.logger.warn({ err }, 'client connection failed');
      this.destroy(conn);
      return;
    }
    const { keepAliveMs = 10_000, dialTimeoutMs } = this.options;
    const upstream = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: keepAliveMs,
      onread: upstreamReader(conn, this.buffers),
    });
    conn.upstream = upstream;
    conn.target = target;
    // No timer per dial: one sweep fails the dials past their deadline.
    conn.dialDeadline = performance.now() + dialTimeoutMs;
    this.dialing.add(conn);
    this.armDialSweep();
    upstream.once('connect', () => this.onUpstreamConnect(conn, upstream, target));
    upstream.once('error', (err) => this.onDialFailed(conn, upstream, err));
  }

  /** Drop the dial in progress (failed, timed out, or the client left) and give its upstream slot back. */
  private abandonDial(conn: Connection<U>): void {
    const { upstream, target } = conn;
    this.dialing.delete(conn);
    if (!upstream || !target) return;
    upstream.removeAllListeners('connect');
    upstream.removeAllListeners('error');
    upstream.on('error', ignore);
    upstream.destroy();
    conn.upstream = undefined;
    conn.target = undefined;
    releaseReadBuffer(conn, this.buffers);
    this.picker.release(target);
  }

  private onDialFailed(conn: Connection<U>, upstream: Socket, err: Error): void {
    const target = conn.target;
    if (conn.upstream !== upstream || target === undefined) return; // a dial already given up
    this.abandonDial(conn);
    target.stats.dialFailures++;
    const address = formatAddress(target.host, target.port);
    this.logger.warn({ upstream: address, err: describeError(err) }, 'dial failed; trying the next upstream');
    this.picker.down(target, `dial ${address}: ${describeError(err)}`);
    (conn.tried ??= new Set()).add(target);
    this.dial(conn);
  }

  private onUpstreamConnect(conn: Connection<U>, upstream: Socket, target: U): void {
    this.dialing.delete(conn);
    upstream.removeAllListeners('error');
    conn.established = true;
    target.stats.totalConnections++;
    let group = this.groups.get(target);
    if (!group) this.groups.set(target, (group = new Set()));
    group.add(conn);
    upstream.on('error', (err) => this.onSocketError(conn, err));
    upstream.on('close', (hadError) => this.onClose(conn, upstream, hadError));
    conn.mark = flushed(upstream);
    startRelay(conn, upstream);
    this.armSweep();
  }

  private onSocketError(conn: Connection<U>, err: Error): void {
    this.logger.debug({ err: describeError(err) }, 'proxied connection error');
    this.destroy(conn);
  }

  private destroy(conn: Connection<U>): void {
    conn.closing = true;
    conn.client.destroy();
    conn.upstream?.destroy();
  }

  /**
   * One side closed. An error (reset, stall, destroy) takes the other side down at once; a clean close
   * only ends it, so bytes it still holds are flushed first (destroying it here would cut the tail of
   * the last response). The connection is done when both sides are closed.
   */
  private onClose(conn: Connection<U>, side: Socket, hadError: boolean): void {
    const isClient = side === conn.client;
    if (isClient) conn.clientClosed = true;
    else conn.upstreamClosed = true;
    if (!conn.established) {
      this.abandonDial(conn); // the client left while we were dialing: not the upstream's fault
      this.finish(conn);
      return;
    }
    const other = (isClient ? conn.upstream : conn.client) as Socket;
    if (hadError || side.errored) other.destroy();
    else if (!other.writableEnded) other.end(); // ending twice would only build an error object
    if (conn.clientClosed && conn.upstreamClosed) this.finish(conn);
  }

  /** Account for a connection whose sockets are all closed, and forget it. Idempotent. */
  private finish(conn: Connection<U>): void {
    if (conn.finished) return;
    conn.finished = true;
    const { upstream, target } = conn;
    releaseReadBuffer(conn, this.buffers);
    if (upstream && conn.established && target) {
      target.stats.bytesIn += upstream.bytesRead;
      target.stats.bytesOut += flushed(upstream);
      this.picker.release(target);
      const group = this.groups.get(target);
      group?.delete(conn);
      if (group?.size === 0) this.groups.delete(target);
    }
    this.connections.delete(conn);
    if (this.connections.size === 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  private armSweep(): void {
    if (this.sweepTimer) return;
    const period = Math.min(5_000, Math.max(50, Math.floor(this.options.stallTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), period);
    this.sweepTimer.unref();
  }

  /** Stall checks on established connections (see {@link findStalled}); the timer stops when none is left. */
  private sweep(): void {
    if (this.groups.size === 0) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      return;
    }
    for (const { conn, stalledMs } of findStalled(this.groups.values(), performance.now(), this.options.stallTimeoutMs)) {
      const up = conn.upstream as Socket;
      this.stalled++;
      this.logger.warn({ upstream: formatAddress(up.remoteAddress ?? '?', up.remotePort ?? 0), queuedBytes: up.writableLength, stalledMs: Math.round(stalledMs) }, 'upstream stalled; closing');
      this.destroy(conn);
    }
  }

  private armDialSweep(): void {
    if (this.dialTimer) return;
    const period = Math.max(10, Math.min(250, Math.floor(this.options.dialTimeoutMs / 4)));
    this.dialTimer = setInterval(() => {
      if (this.dialing.size === 0) {
        clearInterval(this.dialTimer);
        this.dialTimer = undefined;
        return;
      }
      const now = performance.now();
      for (const conn of [...this.dialing]) {
        if (now >= conn.dialDeadline && conn.upstream) this.onDialFailed(conn, conn.upstream, new Error(`timed out after ${this.options.dialTimeoutMs} ms`));
      }
    }, period);
    this.dialTimer.unref();
  }
}

function ignore(): void {}
