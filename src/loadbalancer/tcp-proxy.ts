import { connect, type Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { formatAddress } from '../util/address.js';
import { ConnectionBook, NONE } from './connection-book.js';
import {
  dropReplay,
  findStalled,
  flushed,
  newConnection,
  relayClient,
  relayUpstream,
  releaseReadBuffer,
  upstreamReader,
  type Connection,
} from './connection.js';
import { describeError, NoUpstreamsError } from './errors.js';
import { findUnanswered, keepForReplay, replayTo, startsTlsHandshake } from './replay.js';
import type { ProxyUpstream, TcpProxyOptions, UpstreamPicker } from './proxy-types.js';

/**
 * The TCP pass-through: for each client, dial candidates in the picker's order until one connects, then
 * relay both ways with backpressure (a slow reader pauses its writer) and half-close forwarded (see
 * `relayClient`). Until the upstream's first byte, the client's bytes are kept (`replay.ts`): an
 * upstream silent for `firstByteTimeoutMs` after the client spoke, or that resets or closes a TLS
 * handshake without a byte, is treated like a failed dial and the connection moves to the next
 * candidate, replayed. The client has seen nothing from the upstream, so nothing happened there that it
 * knows of: for TLS, no ServerHello means no request reached a server
 * (TLS 1.3 early data aside, which Go's TLS, the API server's, never accepts).
 * No timer per connection or chunk: one sweep finds stalls, another expired dials and silent upstreams.
 */
export class TcpProxy<U extends ProxyUpstream> extends ConnectionBook<U> {
  /** Connections refused because the limit was reached. */
  refused = 0;
  /** Client connections given up because no upstream could be reached. */
  failed = 0;
  /** Connections closed because the upstream stopped taking data. */
  stalled = 0;
  /** Connections moved to another upstream before their first answer (silent, closed, down or removed). */
  retried = 0;
  private readonly dialing = new Set<Connection<U>>();
  /** Connections whose client spoke and whose upstream has not answered yet (pruned by the sweep). */
  private readonly unanswered = new Set<Connection<U>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    picker: UpstreamPicker<U>,
    private options: TcpProxyOptions,
    logger: Logger,
  ) {
    super(picker, logger);
  }

  /**
   * Change limits and timeouts; they apply to new dials and the next sweeps. A running sweep is restarted
   * only when its period changes: the balancer is reconfigured on every controller round, and restarting
   * each time would starve a sweep whose period is longer than the gap between rounds.
   */
  setOptions(options: TcpProxyOptions): void {
    const prev = this.options;
    this.options = { ...options };
    if (this.sweepTimer && stallSweepPeriod(options) !== stallSweepPeriod(prev)) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      this.armSweep();
    }
    if (this.deadlineTimer && deadlineSweepPeriod(options) !== deadlineSweepPeriod(prev)) {
      clearInterval(this.deadlineTimer);
      this.deadlineTimer = undefined;
      this.armDeadlineSweep();
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
    const conn = newConnection<U>(client, this.options.firstByteTimeoutMs > 0);
    this.connections.add(conn);
    client.on('error', (err) => this.onSocketError(conn, err));
    client.on('close', (hadError) => this.onClose(conn, client, hadError));
    relayClient(conn, this.keep);
    this.dial(conn);
  }

  /**
   * Close every established connection whose upstream matches. Those the upstream has not answered yet
   * are moved to another upstream instead, as long as one is left.
   */
  closeConnections(match: (upstream: U) => boolean, reason: string): void {
    for (const [upstream, group] of this.groups) {
      if (!match(upstream)) continue;
      let n = 0;
      let moved = 0;
      for (const c of group) {
        if (c.closing) continue; // already going: its sockets close asynchronously
        if (c.replay !== undefined && this.retry(c)) moved++;
        else {
          this.destroy(c);
          n++;
        }
      }
      if (n + moved > 0)
        this.logger.info({ upstream: formatAddress(upstream.host, upstream.port), connections: n, moved, reason }, 'closing connections');
    }
  }

  /** A client chunk while the upstream has not answered: kept, and the first one starts the wait. */
  private readonly keep = (conn: Connection<U>, chunk: Buffer): void => {
    if (!keepForReplay(conn, chunk)) return;
    conn.answerDeadline = performance.now() + this.options.firstByteTimeoutMs;
    this.unanswered.add(conn);
    this.armDeadlineSweep();
  };

  /** Dial `target` (by default the picker's next candidate) for `conn`, replaying what its client sent. */
  private dial(conn: Connection<U>, target = this.picker.acquire(conn.tried ?? NONE)): void {
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
    this.armDeadlineSweep();
    upstream.once('connect', () => this.onUpstreamConnect(conn, upstream, target));
    upstream.once('error', (err) => this.onDialFailed(conn, upstream, err));
    replayTo(conn, upstream);
  }

  /**
   * Move a connection whose upstream has not answered to the next candidate (those tried excluded), as
   * if its dial had failed: the old upstream socket is dropped (the client is not touched) and the new
   * one gets the client's bytes replayed. False, and nothing changed, when no candidate is left.
   */
  private retry(conn: Connection<U>): boolean {
    const old = conn.upstream as Socket;
    // Torn down on purpose, or the client gone (its close may still be on its way): not moved. An
    // upstream socket destroyed by its own failure is what a move is for.
    if (conn.closing || conn.client.destroyed || conn.clientClosed || conn.upstreamClosed) return false;
    const from = conn.target as U;
    const tried = (conn.tried ??= new Set());
    tried.add(from);
    const next = this.picker.acquire(tried);
    if (next === undefined) return false;
    this.retried++;
    this.detach(conn, old, from);
    for (const event of ['close', 'error', 'end', 'drain']) old.removeAllListeners(event);
    old.on('error', ignore);
    old.destroy();
    releaseReadBuffer(conn, this.buffers);
    conn.established = false;
    this.dial(conn, next);
    return true;
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
    this.join(conn, target);
    upstream.on('error', (err) => {
      if (!this.movedAfterUnansweredClose(conn, upstream, describeError(err))) this.onSocketError(conn, err);
    });
    upstream.on('close', (hadError) => this.onClose(conn, upstream, hadError));
    conn.mark = flushed(upstream);
    // After a retry the replayed bytes went out just now: the new upstream's silence counts from here.
    if (conn.replayBytes > 0) conn.answerDeadline = performance.now() + this.options.firstByteTimeoutMs;
    relayUpstream(conn, upstream, this.movedOnEnd);
    this.armSweep();
  }

  /** An end without a byte, after the client spoke and before it ended (then an end is a fair answer). */
  private readonly movedOnEnd = (conn: Connection<U>, upstream: Socket): boolean =>
    !conn.replayEnded && this.movedAfterUnansweredClose(conn, upstream, 'closed');

  /**
   * The upstream reset or closed a TLS handshake before its first byte: the client has seen nothing of
   * it, so the connection moves to the next candidate, replayed, as after a silence. The upstream is not
   * marked down for one connection (a server may shed load this way); its checks judge it.
   */
  private movedAfterUnansweredClose(conn: Connection<U>, upstream: Socket, reason: string): boolean {
    if (!startsTlsHandshake(conn) || conn.upstream !== upstream || conn.closing) return false;
    const from = conn.target as U;
    if (!this.retry(conn)) return false;
    from.stats.dialFailures++;
    this.logger.warn(
      { upstream: formatAddress(from.host, from.port), reason },
      'upstream closed before answering; retrying on the next one',
    );
    return true;
  }

  private onSocketError(conn: Connection<U>, err: Error): void {
    this.logger.debug({ err: describeError(err) }, 'proxied connection error');
    this.destroy(conn);
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
      this.unanswered.delete(conn);
      this.finish(conn);
      return;
    }
    const other = (isClient ? conn.upstream : conn.client) as Socket;
    if (hadError || side.errored) other.destroy();
    else if (!other.writableEnded) other.end(); // ending twice would only build an error object
    if (!conn.clientClosed || !conn.upstreamClosed) return;
    this.unanswered.delete(conn);
    this.finish(conn);
  }

  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), stallSweepPeriod(this.options));
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
      this.logger.warn(
        {
          upstream: formatAddress(up.remoteAddress ?? '?', up.remotePort ?? 0),
          queuedBytes: up.writableLength,
          stalledMs: Math.round(stalledMs),
        },
        'upstream stalled; closing',
      );
      this.destroy(conn);
    }
  }

  /** The sweep of deadlines: dials that take too long, upstreams silent too long after their client spoke. */
  private armDeadlineSweep(): void {
    if (this.deadlineTimer) return;
    this.deadlineTimer = setInterval(() => this.sweepDeadlines(), deadlineSweepPeriod(this.options));
    this.deadlineTimer.unref();
  }

  private sweepDeadlines(): void {
    if (this.dialing.size === 0 && this.unanswered.size === 0) {
      clearInterval(this.deadlineTimer);
      this.deadlineTimer = undefined;
      return;
    }
    const now = performance.now();
    for (const conn of [...this.dialing]) {
      if (now >= conn.dialDeadline && conn.upstream)
        this.onDialFailed(conn, conn.upstream, new Error(`timed out after ${this.options.dialTimeoutMs} ms`));
    }
    const timeoutMs = this.options.firstByteTimeoutMs;
    const blamed = new Set<U>(); // one sweep's silent connections to an upstream are one observation of it
    for (const conn of findUnanswered(this.unanswered, now, timeoutMs)) {
      if (conn.closing || !conn.established) continue; // moved or closed meanwhile (marking an upstream down closes its connections)
      const silent = conn.target as U;
      const address = formatAddress(silent.host, silent.port);
      if (!this.retry(conn)) {
        // No other upstream left: stay and wait for this one, as without the retry.
        dropReplay(conn);
        this.unanswered.delete(conn);
        continue;
      }
      silent.stats.dialFailures++;
      this.logger.warn({ upstream: address, timeoutMs }, 'no answer from the upstream; retrying on the next one');
      if (blamed.has(silent)) continue;
      blamed.add(silent);
      // After the move: marking it down may close its other connections, and this one has left.
      this.picker.down(silent, `no answer within ${timeoutMs} ms`, true);
    }
  }
}

function ignore(): void {}

/** How often stalls are looked for: a quarter of the stall timeout, 50 ms to 5 s. */
function stallSweepPeriod(options: TcpProxyOptions): number {
  return Math.min(5_000, Math.max(50, Math.floor(options.stallTimeoutMs / 4)));
}

/** How often dial and first-byte deadlines are looked at: a quarter of the shorter one, 10 to 250 ms. */
function deadlineSweepPeriod({ dialTimeoutMs, firstByteTimeoutMs }: TcpProxyOptions): number {
  const shortest = firstByteTimeoutMs > 0 ? Math.min(dialTimeoutMs, firstByteTimeoutMs) : dialTimeoutMs;
  return Math.max(10, Math.min(250, Math.floor(shortest / 4)));
}
