import { connect, type Socket } from 'node:net';
import { adoptAccepted } from './accepted-socket.js';
import type { ConnectionHost, ConnectionState, TearDownOutcome } from './connection-host.js';
import { describeError, IllegalTransitionError } from './errors.js';
import type { ProxyUpstream } from './proxy-types.js';
import { Pump, type ChunkWatcher } from './pump.js';
import { Replay } from './replay.js';

/** Every transition there is; anything else is an {@link IllegalTransitionError}. */
const NEXT: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  // dialing → dialing: the dial failed or the connection moved; → closing: no upstream left (or torn
  // down); → done: the client left while dialing (no upstream socket to wait for).
  dialing: ['dialing', 'awaiting', 'relaying', 'closing', 'done'],
  awaiting: ['relaying', 'dialing', 'closing'],
  relaying: ['closing'],
  closing: ['done'],
  done: [],
};

/** No upstreams: what a connection that has tried none yet excludes. */
const NONE: ReadonlySet<never> = new Set();

/**
 * One proxied client connection as an explicit state machine ({@link ConnectionState}): it owns its
 * client socket, its current upstream socket, one {@link Pump} per direction and its replay buffer, and
 * has one method per event. Socket events arrive through handlers bound once per connection (no closure
 * per chunk or per dial), and the per-chunk work is one check in each direction.
 *
 * Both directions read into pooled buffers and write each chunk as it comes, reading stopped while a
 * chunk is queued (backpressure both ways). Until the upstream answers, the client's chunks are also kept
 * (copied when they sit in a pump buffer) for a replay elsewhere; after the answer nothing is kept.
 * Ends are forwarded both ways (half-close).
 *
 * An event handler never throws: an illegal transition there is a bug, reported through the host (logged
 * with the stack, state and event, and counted) and this connection alone is torn down. The methods the
 * proxy calls throw it, and the proxy does the same with it.
 */
export class ProxiedConnection<U extends ProxyUpstream> implements ChunkWatcher {
  /** Where the connection is (see {@link ConnectionState}). */
  state: ConnectionState = 'dialing';
  /** The client socket (reading into the pump's buffers when Node allows, see `adoptAccepted`). */
  readonly client: Socket;
  /** The upstream dialed or connected to; undefined before the first dial and once given up. */
  target: U | undefined;
  /** When the dial in progress counts as failed (clock time). */
  dialDeadline = Infinity;
  /** When the upstream's silence after the client spoke counts as a failure (clock time). */
  answerDeadline = Infinity;
  private upstream: Socket | undefined;
  private tried: Set<U> | undefined;
  private clientClosed = false;
  private upstreamClosed = false;
  /** Torn down on purpose (down, stall, drain, socket error): not to be counted again. */
  private tornDown = false;
  /** Torn down after a bug ({@link failed}): later events are ignored. */
  private aborted = false;
  /** Stall detection: flushed-byte mark seen at the last sweep, and since when it has not moved. */
  private mark = 0;
  private stalledSince = 0;
  /**
   * What the client has sent while its upstream has answered nothing; undefined once the upstream
   * answered or ended, past the replay limit, or with the retry disabled: then never moved again.
   */
  private replay: Replay | undefined;
  /** Client → upstream, and upstream → client. */
  private readonly toUpstream: Pump;
  private readonly toClient: Pump;

  constructor(
    accepted: Socket,
    private readonly host: ConnectionHost<U>,
    keepForReplay: boolean,
  ) {
    if (keepForReplay) this.replay = new Replay();
    this.toUpstream = new Pump(host.buffers, this);
    this.toClient = new Pump(host.buffers, this);
    const adopted = adoptAccepted(accepted, this.toUpstream.onread);
    const client = (this.client = adopted ?? accepted);
    if (adopted === undefined) client.on('data', this.onClientData);
    this.toUpstream.source = client;
    this.toUpstream.watching = keepForReplay;
    this.toClient.sink = client;
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    client.once('end', this.onClientEnd);
  }

  /** Dial the first candidate. The client stays paused (as accepted) until an upstream connects. */
  start(): void {
    this.dial(this.host.pick(NONE));
  }

  /**
   * Event: the dial in progress failed (a socket error, or the deadline sweep found it too slow). The
   * upstream is told, and the next candidate is dialed; with none left the client is closed.
   */
  dialFailed(err: Error): void {
    const target = this.target as U;
    this.enter('dialing', 'dial failed');
    this.abandonDial();
    (this.tried ??= new Set()).add(target);
    this.host.dialFailed(target, err);
    // After the report: marking the upstream down may tear down others, and this one has left it.
    this.dial(this.host.pick(this.tried));
  }

  /**
   * Event: the upstream stayed silent past {@link answerDeadline} after the client spoke. The connection
   * moves to the next candidate, replayed (true); with none left it stays and stops keeping bytes (false).
   */
  answerTimedOut(): boolean {
    if (this.state !== 'awaiting') throw new IllegalTransitionError(this.state, 'upstream silent past the deadline');
    if (this.move()) return true;
    this.stopKeeping('no other upstream left');
    return false;
  }

  /** Event: the first-byte retry was turned off while the connection waited: it stops keeping bytes. */
  retryDisabled(): void {
    this.stopKeeping('retry disabled');
  }

  /**
   * Event: torn down on purpose. `rehome` (its upstream went down or was removed): a connection that has
   * no answer yet moves to another upstream when one is left. Otherwise (stall, drain, no candidate) both
   * sockets are destroyed; a connection already closing has whatever is left of it destroyed.
   */
  tearDown(rehome: boolean): TearDownOutcome {
    switch (this.state) {
      case 'dialing':
      case 'awaiting':
        if (rehome && this.move()) return 'moved';
        this.destroy('torn down');
        return 'closed';
      case 'relaying':
        this.destroy('torn down');
        return 'closed';
      case 'closing': {
        const already = this.tornDown;
        this.destroy('torn down');
        return already ? 'closing' : 'closed';
      }
      case 'done':
        throw new IllegalTransitionError(this.state, 'torn down');
    }
  }

  /**
   * A bug surfaced while handling `event` (an illegal transition, or anything else thrown): reported to
   * the host, and the connection torn down outside the state machine (both sockets destroyed, its
   * upstream left, forgotten). It never throws: it is what runs when something already went wrong.
   */
  failed(err: unknown, event: string): void {
    if (this.aborted) return; // a late event of a connection already failed (its sockets are going)
    this.aborted = true;
    const state = this.state;
    this.state = 'done';
    this.tornDown = true;
    const { client, upstream, target } = this;
    for (const socket of [client, upstream]) {
      if (socket === undefined) continue;
      socket.on('error', ignore);
      socket.destroy();
    }
    // The sockets are destroyed: no read goes into the pump buffers and no write from them is pending.
    this.toUpstream.release();
    this.toClient.release();
    if (target !== undefined) this.host.leave(this, target);
    this.host.failed(this, err, state, event);
  }

  /**
   * Stall check, run by the stall sweep: how long the upstream has had data queued without a completed
   * write (0 when it is not stalled). Node has no TCP_USER_TIMEOUT: a peer that stops acknowledging leaves
   * our writes queued forever, and keepalive never probes a connection with data in flight. Only the
   * upstream is judged: the client is local, and a client that pauses reading is its own business.
   */
  stalledFor(now: number): number {
    const up = this.upstream;
    if (up === undefined || this.tornDown || this.state === 'dialing' || this.state === 'done') return 0;
    if (up.writableLength === 0) {
      this.stalledSince = 0;
      return 0;
    }
    const mark = flushed(up);
    if (mark !== this.mark || this.stalledSince === 0) {
      this.mark = mark;
      this.stalledSince = now;
      return 0;
    }
    return now - this.stalledSince;
  }

  /** Bytes received from the current upstream so far. */
  bytesFromUpstream(): number {
    return this.upstream?.bytesRead ?? 0;
  }

  /** Bytes the kernel has taken for the current upstream so far. */
  bytesToUpstream(): number {
    return flushed(this.upstream);
  }

  /**
   * A number that grows whenever a byte arrives from either side (the sockets' own counters, nothing
   * counted per chunk): a sweep that sees it unchanged knows the connection was quiet in between.
   */
  activity(): number {
    return this.client.bytesRead + (this.upstream?.bytesRead ?? 0);
  }

  /** Bytes held in this connection's stream buffers right now. */
  bufferedBytes(): number {
    const { client, upstream } = this;
    let total = client.writableLength + client.readableLength;
    if (upstream) total += upstream.writableLength + upstream.readableLength;
    return total;
  }

  /** Bytes queued toward the upstream, for logs. */
  upstreamQueued(): number {
    return this.upstream?.writableLength ?? 0;
  }

  /**
   * A chunk seen while watched: from the client, kept for a replay while the upstream has not answered
   * (the first one starts the wait); from the upstream, its first one is the answer.
   */
  chunkArrived(pump: Pump, chunk: Buffer, owned: boolean): void {
    try {
      if (pump === this.toClient) {
        pump.watching = false;
        if (this.state === 'awaiting') this.stopKeeping('first upstream byte');
        // Relaying already: the kept bytes went over the limit while it dialed, or it ended first.
      } else if (this.replay !== undefined) {
        this.keep(this.replay, chunk, owned);
      } else {
        pump.watching = false;
      }
    } catch (err) {
      this.failed(err, pump === this.toClient ? 'upstream data' : 'client data');
    }
  }

  private keep(replay: Replay, chunk: Buffer, owned: boolean): void {
    const kept = replay.keep(chunk, owned);
    if (kept === 'over') {
      this.stopKeeping('replay limit passed'); // not TLS (a ClientHello is far smaller): no retry rather than more memory
    } else if (kept === 'first') {
      this.answerDeadline = this.host.clock.now() + this.host.options().firstByteTimeoutMs;
      this.host.watchDeadline(this);
    }
  }

  private enter(next: ConnectionState, event: string): void {
    if (!NEXT[this.state].includes(next)) throw new IllegalTransitionError(this.state, event);
    this.state = next;
  }

  /** Dial `target` (the state is `dialing`), replaying what the client sent; none: give the client up. */
  private dial(target: U | undefined): void {
    if (target === undefined) {
      this.host.gaveUp(this.tried?.size ?? 0);
      this.destroy('no upstream left');
      return;
    }
    const { keepAliveMs = 10_000, dialTimeoutMs } = this.host.options();
    const upstream = connect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: keepAliveMs,
      onread: this.toClient.onread,
    });
    this.upstream = upstream;
    this.toClient.source = upstream;
    this.toClient.watching = this.replay !== undefined;
    this.toUpstream.resetSink(upstream);
    this.target = target;
    this.host.join(this, target);
    // No timer per dial: one sweep fails the dials past their deadline.
    this.dialDeadline = this.host.clock.now() + dialTimeoutMs;
    this.host.watchDeadline(this);
    upstream.once('connect', this.onUpstreamConnect);
    upstream.once('error', this.onDialError);
    // Queued while it connects, ahead of anything the client sends next.
    this.replay?.writeTo(upstream);
  }

  /** Drop the dial in progress (failed, timed out, moved, or the client left): the upstream is left. */
  private abandonDial(): void {
    const upstream = this.upstream as Socket;
    const target = this.target as U;
    upstream.removeListener('connect', this.onUpstreamConnect);
    upstream.removeListener('error', this.onDialError);
    this.forget(upstream);
    this.host.leave(this, target);
  }

  /**
   * Move to the next candidate (those tried excluded) before any answer, as if the dial had failed: the
   * old upstream socket is dropped (the client is not touched) and the new one gets the client's bytes
   * replayed. False, and nothing changed, when the client is gone or no candidate is left.
   */
  private move(): boolean {
    // The client's close may still be on its way: not moved.
    if (this.clientClosed || this.client.destroyed) return false;
    const from = this.target as U;
    const tried = (this.tried ??= new Set());
    tried.add(from);
    const next = this.host.pick(tried);
    if (next === undefined) return false;
    if (this.state === 'dialing') this.abandonDial();
    else this.dropUpstream();
    this.enter('dialing', 'moved');
    this.host.moved(from);
    this.dial(next);
    return true;
  }

  /** Leave a connected upstream without touching the client: its bytes are accounted, its socket dropped. */
  private dropUpstream(): void {
    const upstream = this.upstream as Socket;
    this.leaveConnected(upstream, this.target as U);
    upstream.removeListener('error', this.onUpstreamError);
    upstream.removeListener('close', this.onUpstreamClose);
    upstream.removeListener('end', this.onUpstreamEnd);
    this.forget(upstream);
  }

  /**
   * Destroy an upstream socket that nothing more is expected from. Its close is synchronous (the fd is
   * closed now), so the client's chunk it may have had queued is cancelled and that buffer is free.
   */
  private forget(upstream: Socket): void {
    upstream.on('error', ignore);
    upstream.destroy();
    this.upstream = undefined;
    this.target = undefined;
    this.toUpstream.resetSink(undefined);
  }

  /** Account a connected upstream's bytes to it and leave it (the connection ended or moves on). */
  private leaveConnected(upstream: Socket, target: U): void {
    target.stats.bytesIn += upstream.bytesRead;
    target.stats.bytesOut += flushed(upstream);
    this.host.leave(this, target);
  }

  /** Forget the kept client bytes: the connection is never moved again (awaiting → relaying). */
  private stopKeeping(event: string): void {
    this.replay = undefined;
    this.toUpstream.watching = false;
    if (this.state === 'awaiting') this.enter('relaying', event);
  }

  /**
   * Destroy both sockets (the connection ends once their closes arrive). While dialing, the dial is
   * dropped first; its socket's close is not waited for.
   */
  private destroy(event: string): void {
    if (this.state === 'dialing' && this.upstream !== undefined) this.abandonDial();
    if (this.state !== 'closing') this.enter('closing', event);
    this.tornDown = true;
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** The upstream reset or ended a TLS handshake before its first byte: moved, as after a silence. */
  private movedAfterUnansweredClose(reason: string): boolean {
    if (this.replay?.startsTlsHandshake() !== true) return false;
    const from = this.target as U;
    if (!this.move()) return false;
    this.host.closedUnanswered(from, reason);
    return true;
  }

  /** The client or upstream closed while the connection relayed: the other side follows. */
  private closeOther(other: Socket, event: string, hadError: boolean): void {
    this.enter('closing', event);
    // An error (reset, stall, destroy) takes the other side down at once; a clean close only ends it, so
    // bytes it still holds are flushed first (destroying it here would cut the tail of the last response).
    if (hadError) other.destroy();
    else if (!other.writableEnded) other.end(); // ending twice would only build an error object
  }

  /** Both sockets are closed: account, give the buffers back, and be forgotten. */
  private finish(): void {
    this.enter('done', 'finished');
    this.toUpstream.release();
    this.toClient.release();
    const { upstream, target } = this;
    if (upstream !== undefined && target !== undefined) this.leaveConnected(upstream, target);
    this.host.finished(this);
  }

  /** The dial connected. The client is resumed (accepted paused) and the relay starts. */
  private upstreamConnected(): void {
    const upstream = this.upstream as Socket;
    upstream.removeListener('error', this.onDialError);
    this.enter(this.replay !== undefined ? 'awaiting' : 'relaying', 'dial connected');
    (this.target as U).stats.totalConnections++;
    upstream.on('error', this.onUpstreamError);
    upstream.on('close', this.onUpstreamClose);
    upstream.once('end', this.onUpstreamEnd);
    this.mark = flushed(upstream);
    this.stalledSince = 0;
    // After a move the replayed bytes went out just now: the new upstream's silence counts from here.
    if (this.replay?.empty === false) this.answerDeadline = this.host.clock.now() + this.host.options().firstByteTimeoutMs;
    this.host.connected(this);
    this.client.resume();
  }

  /** An upstream end: forwarded (half-close), unless it came before any byte to a TLS handshake. */
  private upstreamEnded(): void {
    if (this.state === 'awaiting') {
      // After the client ended, an end is a fair answer.
      if (this.replay?.ended === false && this.movedAfterUnansweredClose('closed')) return;
      this.stopKeeping('upstream ended'); // an end is an answer the client will see
    }
    this.client.end();
  }

  private upstreamErrored(err: Error): void {
    if (this.state === 'awaiting' && this.movedAfterUnansweredClose(describeError(err))) return;
    this.host.socketError(err);
    this.destroy('upstream error');
  }

  /** The client socket closed. */
  private clientClosedEvent(hadError: boolean): void {
    this.clientClosed = true;
    switch (this.state) {
      case 'dialing': // the client left while we were dialing: not the upstream's fault
        this.abandonDial();
        this.finish();
        return;
      case 'awaiting':
      case 'relaying':
        this.closeOther(this.upstream as Socket, 'client closed', hadError || this.client.errored !== null);
        return;
      case 'closing':
        if (this.upstream === undefined || this.upstreamClosed) this.finish();
        return;
      case 'done':
        throw new IllegalTransitionError(this.state, 'client closed');
    }
  }

  /** The (connected) upstream socket closed. */
  private upstreamClosedEvent(hadError: boolean): void {
    this.upstreamClosed = true;
    switch (this.state) {
      case 'awaiting':
      case 'relaying':
        this.closeOther(this.client, 'upstream closed', hadError || (this.upstream as Socket).errored !== null);
        return;
      case 'closing':
        if (this.clientClosed) this.finish();
        return;
      case 'dialing':
      case 'done':
        throw new IllegalTransitionError(this.state, 'upstream closed');
    }
  }

  // The socket handlers: bound once per connection, each the one place its event enters, none throws.

  private readonly onDialError = (err: Error): void => {
    try {
      this.dialFailed(err);
    } catch (e) {
      this.failed(e, 'dial error');
    }
  };

  private readonly onUpstreamConnect = (): void => {
    try {
      this.upstreamConnected();
    } catch (e) {
      this.failed(e, 'dial connected');
    }
  };

  /** A client chunk from a 'data' event (a client Node would not let us read into our buffers). */
  private readonly onClientData = (chunk: Buffer): void => {
    if (!this.toUpstream.push(chunk, true)) this.client.pause();
  };

  private readonly onClientEnd = (): void => {
    if (this.replay !== undefined) this.replay.ended = true;
    this.upstream?.end();
  };

  private readonly onUpstreamEnd = (): void => {
    try {
      this.upstreamEnded();
    } catch (e) {
      this.failed(e, 'upstream ended');
    }
  };

  private readonly onClientError = (err: Error): void => {
    try {
      this.host.socketError(err);
      this.destroy('client error');
    } catch (e) {
      this.failed(e, 'client error');
    }
  };

  private readonly onUpstreamError = (err: Error): void => {
    try {
      this.upstreamErrored(err);
    } catch (e) {
      this.failed(e, 'upstream error');
    }
  };

  private readonly onClientClose = (hadError: boolean): void => {
    try {
      this.clientClosedEvent(hadError);
    } catch (e) {
      this.failed(e, 'client closed');
    }
  };

  private readonly onUpstreamClose = (hadError: boolean): void => {
    try {
      this.upstreamClosedEvent(hadError);
    } catch (e) {
      this.failed(e, 'upstream closed');
    }
  };
}

/** Bytes the kernel has taken from this socket (bytesWritten counts queued data too). */
export function flushed(socket: Socket | undefined): number {
  return socket ? socket.bytesWritten - socket.writableLength : 0;
}

function ignore(): void {}
