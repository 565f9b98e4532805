import type { Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { formatAddress } from '../util/address.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { ConnectionBook } from './connection-book.js';
import { describeError, NoUpstreamsError, TimeoutError } from './errors.js';
import type { ConnectionHost } from './connection-host.js';
import { ProxiedConnection } from './proxied-connection.js';
import type { ProxyUpstream, TcpProxyOptions, UpstreamPicker } from './proxy-types.js';
import { ReadBufferPool } from './read-buffers.js';

/**
 * The TCP pass-through: each accepted client becomes a {@link ProxiedConnection}, which dials candidates
 * in the picker's order until one connects, then relays both ways with backpressure and half-close
 * forwarded. Until the upstream's first byte, the client's bytes are kept: an upstream silent for
 * `firstByteTimeoutMs` after the client spoke, or that resets or closes a TLS handshake without a byte, is
 * treated like a failed dial and the connection moves to the next candidate, replayed. The client has
 * seen nothing from the upstream, so nothing happened there that it knows of: for TLS, no ServerHello
 * means no request reached a server (TLS 1.3 early data aside, which Go's TLS, the API server's, never
 * accepts).
 *
 * This class keeps the register (the one count of connections per upstream, see {@link ConnectionBook}),
 * the counters, and the policy's side of each outcome (mark down, log). All time goes through the
 * injected clock, and there is no timer per connection or chunk: one sweep finds stalls, another
 * expired dials and silent upstreams.
 */
export class TcpProxy<U extends ProxyUpstream> {
  /** Connections refused because the limit was reached. */
  refused = 0;
  /** Client connections given up because no upstream could be reached. */
  failed = 0;
  /** Connections closed because the upstream stopped taking data. */
  stalled = 0;
  /** Connections moved to another upstream before their first answer (silent, closed, down or removed). */
  retried = 0;
  /** Connections torn down because of a bug (an illegal transition): each one logged at error with its stack. */
  bugs = 0;
  private readonly book = new ConnectionBook<U, ProxiedConnection<U>>();
  /** Connections with a deadline: dialing, or awaiting an answer after their client spoke (pruned by the sweep). */
  private readonly deadlines = new Set<ProxiedConnection<U>>();
  private readonly host: ConnectionHost<U>;
  private stallTimer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;

  constructor(
    private readonly picker: UpstreamPicker<U>,
    private options: TcpProxyOptions,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.host = this.makeHost(new ReadBufferPool());
  }

  /**
   * Change limits and timeouts; they apply to new dials and the next sweeps. A running sweep keeps its
   * schedule: the balancer is reconfigured on every controller round, and restarting each time would
   * starve a sweep whose period is longer than the gap between rounds. The next tick uses the new period.
   */
  setOptions(options: TcpProxyOptions): void {
    this.options = { ...options };
  }

  /** Take an accepted (paused) client socket; the connection made of it, undefined when refused. */
  handle(client: Socket): ProxiedConnection<U> | undefined {
    if (this.book.size >= this.options.maxConnections) {
      this.refused++;
      client.on('error', ignore);
      client.destroy();
      if (this.refused === 1 || this.refused % 1000 === 0) {
        this.logger.warn({ limit: this.options.maxConnections, refused: this.refused }, 'connection limit reached; refusing');
      }
      return undefined;
    }
    const conn = new ProxiedConnection<U>(client, this.host, this.options.firstByteTimeoutMs > 0);
    this.book.add(conn);
    this.guarded(conn, 'start', () => conn.start());
    return conn;
  }

  /** Number of client connections (dialing, connected or closing). */
  size(): number {
    return this.book.size;
  }

  /** Connections counted against `upstream`: dialing it or connected to it (the picker's count too). */
  connectionsTo(upstream: U): number {
    return this.book.count(upstream);
  }

  /**
   * Tear down every connection counted against a matching upstream: those the upstream has not answered
   * yet (dialing or awaiting) move to another upstream instead, as long as one is left.
   */
  closeConnections(match: (upstream: U) => boolean, reason: string): void {
    // Copies: moving a connection changes the groups.
    for (const [upstream, group] of [...this.book.groups()]) {
      if (!match(upstream)) continue;
      let closed = 0;
      let moved = 0;
      for (const c of [...group]) {
        const outcome = this.guarded(c, 'torn down', () => c.tearDown(true));
        if (outcome === 'moved') moved++;
        else if (outcome === 'closed') closed++;
      }
      if (closed + moved > 0)
        this.logger.info(
          { upstream: formatAddress(upstream.host, upstream.port), connections: closed, moved, reason },
          'closing connections',
        );
    }
  }

  /** Bytes moved so far by the live connections to `upstream` (closed ones are in its stats). */
  liveBytes(upstream: U): { bytesIn: number; bytesOut: number } {
    let bytesIn = 0;
    let bytesOut = 0;
    for (const c of this.book.of(upstream) ?? NONE) {
      bytesIn += c.bytesFromUpstream();
      bytesOut += c.bytesToUpstream();
    }
    return { bytesIn, bytesOut };
  }

  /** Bytes held in the proxy's own stream buffers right now (bounded by the high-water marks). */
  bufferedBytes(): number {
    let total = 0;
    for (const c of this.book.connections()) total += c.bufferedBytes();
    return total;
  }

  /** Let connections finish for up to `timeoutMs` (clock time), then destroy the rest; resolves when none is left. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.book.size > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(resolve, timeoutMs);
        this.book.whenEmpty(() => {
          this.clock.clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.book.size === 0) return;
    this.logger.info({ connections: this.book.size }, 'drain timeout: destroying remaining connections');
    const gone = new Promise<void>((resolve) => this.book.whenEmpty(resolve));
    for (const c of [...this.book.connections()]) this.guarded(c, 'torn down', () => c.tearDown(false));
    await gone;
  }

  /** The proxy's side of its connections' events (one object shared by all of them). */
  private makeHost(buffers: ReadBufferPool): ConnectionHost<U> {
    const { book, picker, logger } = this;
    return {
      clock: this.clock,
      buffers,
      options: () => this.options,
      pick: (tried) => picker.pick(tried),
      join: (conn, upstream) => book.join(conn, upstream),
      leave: (conn, upstream) => book.leave(conn, upstream),
      watchDeadline: (conn) => {
        this.deadlines.add(conn);
        this.armDeadlineSweep();
      },
      connected: () => this.armStallSweep(),
      dialFailed: (upstream, err) => {
        upstream.stats.dialFailures++;
        const address = formatAddress(upstream.host, upstream.port);
        logger.warn({ upstream: address, err: describeError(err) }, 'dial failed; trying the next upstream');
        picker.down(upstream, `dial ${address}: ${describeError(err)}`);
      },
      moved: () => {
        this.retried++;
      },
      // Not marked down for one connection (a server may shed load this way): its checks judge it.
      closedUnanswered: (from, reason) => {
        from.stats.dialFailures++;
        logger.warn(
          { upstream: formatAddress(from.host, from.port), reason },
          'upstream closed before answering; retrying on the next one',
        );
      },
      gaveUp: (tried) => {
        this.failed++;
        logger.warn({ err: new NoUpstreamsError(`no upstream reachable (${tried} tried)`) }, 'client connection failed');
      },
      socketError: (err) => logger.debug({ err: describeError(err) }, 'proxied connection error'),
      finished: (conn) => {
        this.deadlines.delete(conn);
        book.remove(conn);
      },
      failed: (conn, err, state, event) => {
        this.bugs++;
        const upstream = conn.target && formatAddress(conn.target.host, conn.target.port);
        // The error serializer keeps the stack of an unexpected error: this is a bug to report.
        logger.error({ err, state, event, upstream }, 'proxied connection failed on an impossible event (a bug); closed it');
        this.deadlines.delete(conn);
        book.remove(conn);
      },
    };
  }

  /**
   * Run one of the proxy's calls into a connection (a sweep, a teardown). A throw there is a bug, and it
   * must not escape into a timer or a controller: the connection is torn down and the bug reported.
   */
  private guarded<T>(conn: ProxiedConnection<U>, event: string, call: () => T): T | undefined {
    try {
      return call();
    } catch (err) {
      conn.failed(err, event);
      return undefined;
    }
  }

  private armStallSweep(): void {
    if (this.stallTimer !== undefined) return;
    this.stallTimer = this.clock.setTimeout(() => this.sweepStalls(), stallSweepPeriod(this.options));
  }

  /** Stall checks on connected connections (see `stalledFor`); the sweep stops when no connection is left. */
  private sweepStalls(): void {
    this.stallTimer = undefined;
    if (!this.book.anyCounted()) return;
    const now = this.clock.now();
    const limitMs = this.options.stallTimeoutMs;
    for (const [upstream, group] of [...this.book.groups()]) {
      for (const conn of [...group]) {
        const stalledMs = conn.stalledFor(now);
        if (stalledMs < limitMs) continue;
        this.stalled++;
        const address = formatAddress(upstream.host, upstream.port);
        this.logger.warn(
          { upstream: address, queuedBytes: conn.upstreamQueued(), stalledMs: Math.round(stalledMs) },
          'upstream stalled; closing',
        );
        this.guarded(conn, 'torn down', () => conn.tearDown(false));
      }
    }
    this.armStallSweep();
  }

  private armDeadlineSweep(): void {
    if (this.deadlineTimer !== undefined) return;
    this.deadlineTimer = this.clock.setTimeout(() => this.sweepDeadlines(), deadlineSweepPeriod(this.options));
  }

  /** The sweep of deadlines: dials that take too long, upstreams silent too long after their client spoke. */
  private sweepDeadlines(): void {
    this.deadlineTimer = undefined;
    const now = this.clock.now();
    const { dialTimeoutMs, firstByteTimeoutMs } = this.options;
    const blamed = new Set<U>(); // one sweep's silent connections to an upstream are one observation of it
    // A copy: a move or a mark-down changes other connections' states and deadlines as it goes.
    for (const conn of [...this.deadlines]) {
      switch (conn.state) {
        case 'dialing':
          if (now >= conn.dialDeadline) {
            this.guarded(conn, 'dial timed out', () => conn.dialFailed(new TimeoutError(`timed out after ${dialTimeoutMs} ms`)));
          }
          continue;
        case 'awaiting':
          if (firstByteTimeoutMs === 0) {
            this.guarded(conn, 'retry disabled', () => conn.retryDisabled());
            this.deadlines.delete(conn);
          } else if (conn.answerDeadline === Infinity) {
            this.deadlines.delete(conn); // its client has not spoken: watched again when it does
          } else if (now >= conn.answerDeadline) {
            this.answerTimedOut(conn, blamed, firstByteTimeoutMs);
          }
          continue;
        default:
          this.deadlines.delete(conn);
      }
    }
    if (this.deadlines.size > 0) this.armDeadlineSweep();
  }

  private answerTimedOut(conn: ProxiedConnection<U>, blamed: Set<U>, timeoutMs: number): void {
    const silent = conn.target as U;
    const moved = this.guarded(conn, 'upstream silent past the deadline', () => conn.answerTimedOut());
    if (moved === undefined) return; // failed: torn down and reported
    if (!moved) {
      // No other upstream left: it stays and waits for this one, as without the retry.
      this.deadlines.delete(conn);
      return;
    }
    silent.stats.dialFailures++;
    this.logger.warn(
      { upstream: formatAddress(silent.host, silent.port), timeoutMs },
      'no answer from the upstream; retrying on the next one',
    );
    if (blamed.has(silent)) return;
    blamed.add(silent);
    // After the move: marking it down may close its other connections, and this one has left.
    this.picker.down(silent, `no answer within ${timeoutMs} ms`, true);
  }
}

const NONE: ReadonlySet<never> = new Set();

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
