import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { formatAddress, isLoopbackIp } from '../util/address.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { describeError, ListenError, NotLoopbackError } from './errors.js';

/** Where to listen: a loopback host and port, plus [::1] on the same port when `ipv6`. */
export interface ListenTarget {
  host: string;
  port: number;
  ipv6: boolean;
}

/** The listener as reported in the status. */
export interface ListenerState {
  /** Addresses bound right now (the actual port when 0 was asked for). */
  addresses: Array<{ host: string; port: number }>;
  /** The main address (`host`) is bound and accepting. */
  listening: boolean;
  /** Why some address is not bound (naming address:port and the cause), absent when all are. */
  error?: string;
}

/** Options of a {@link Listener}. */
export interface ListenerOptions {
  logger: Logger;
  /** Every accepted socket (paused: the proxy resumes it once an upstream is connected). */
  onConnection: (socket: Socket) => void;
  /** Called after every change of {@link ListenerState} (not on retries that change nothing). */
  onStateChange: () => void;
  clock?: Clock;
  /** Retry backoff for a failed bind: doubles from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
}

interface Slot {
  host: string;
  /** Requested port; for the [::1] follower of a port-0 main address, the main one's actual port. */
  port: number;
  follower: boolean;
  server?: Server;
  boundPort?: number;
  error?: string;
  retry?: TimerHandle;
  backoffMs: number;
}

/**
 * The loopback listening sockets. A bind failure (EADDRINUSE, EACCES…) never throws: it is reported in
 * the state, logged, and retried with exponential backoff. `listen()` with a new target moves the
 * listener; accepted connections are not touched by moving or closing it.
 */
export class Listener {
  private slots: Slot[] = [];
  private target: ListenTarget | undefined;
  private reported = '';
  private readonly clock: Clock;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly options: ListenerOptions) {
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
  }

  /** Listen on `target`; a no-op when it is already the target, a move otherwise. */
  listen(target: ListenTarget): void {
    if (!isLoopbackIp(target.host)) throw new NotLoopbackError(target.host);
    const t = this.target;
    if (t && t.host === target.host && t.port === target.port && t.ipv6 === target.ipv6) return;
    this.teardown();
    this.target = { ...target };
    this.slots = [{ host: target.host, port: target.port, follower: false, backoffMs: this.backoff.initialMs }];
    if (target.ipv6 && target.host !== '::1') {
      this.slots.push({ host: '::1', port: target.port, follower: target.port === 0, backoffMs: this.backoff.initialMs });
    }
    for (const slot of this.slots) if (!slot.follower) this.bind(slot);
    this.changed();
  }

  /** Current addresses, listening flag and error. */
  state(): ListenerState {
    const main = this.slots[0];
    const state: ListenerState = {
      addresses: this.slots.filter((s) => s.boundPort !== undefined).map((s) => ({ host: s.host, port: s.boundPort as number })),
      listening: main?.boundPort !== undefined,
    };
    const error = this.slots.find((s) => s.error !== undefined)?.error;
    if (error !== undefined) state.error = error;
    return state;
  }

  /** Stop accepting at once (existing connections are the proxy's business). */
  close(): void {
    this.teardown();
    this.target = undefined;
    this.changed();
  }

  /** Tell the owner, but only when the reported state really changed (a retry that fails again is no news). */
  private changed(): void {
    const state = JSON.stringify(this.state());
    if (state === this.reported) return;
    this.reported = state;
    this.options.onStateChange();
  }

  private bind(slot: Slot): void {
    const { logger } = this.options;
    // No TCP keepalive on accepted sockets: the client is on this host, and when it dies its kernel
    // closes the connection for it (a probe could only find a dead peer after the whole host died, and
    // this process with it). Four setsockopt calls per connection saved; the upstream side keeps it.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, this.options.onConnection);
    slot.server = server;
    const address = formatAddress(slot.host, slot.port);
    const onBindError = (err: Error): void => {
      if (slot.server !== server) return; // superseded by a move or close
      slot.server = undefined;
      server.close();
      const error = new ListenError(address, `cannot listen on ${address}: ${describeError(err)}`, { cause: err });
      slot.error = error.message;
      logger.error({ err: error, address, retryInMs: slot.backoffMs }, 'listen failed; retrying');
      this.changed();
      slot.retry = this.clock.setTimeout(() => {
        slot.retry = undefined;
        if (this.slots.includes(slot)) this.bind(slot);
      }, slot.backoffMs);
      slot.backoffMs = Math.min(slot.backoffMs * 2, this.backoff.maxMs);
    };
    server.once('error', onBindError);
    // A deep accept queue: at boot every component on the node connects at once (the kernel caps it at somaxconn).
    server.listen({ host: slot.host, port: slot.port, exclusive: true, backlog: 4096 }, () => {
      if (slot.server !== server) return;
      server.removeListener('error', onBindError);
      server.on('error', (err) => logger.error({ err, address }, 'listener error'));
      slot.boundPort = (server.address() as AddressInfo).port;
      slot.error = undefined;
      slot.backoffMs = this.backoff.initialMs;
      logger.info({ address: formatAddress(slot.host, slot.boundPort) }, 'listening');
      for (const follower of this.slots) {
        if (follower.follower && follower.server === undefined && follower.retry === undefined) {
          follower.port = slot.boundPort;
          this.bind(follower);
        }
      }
      this.changed();
    });
  }

  private teardown(): void {
    for (const slot of this.slots) {
      if (slot.retry !== undefined) this.clock.clearTimeout(slot.retry);
      slot.retry = undefined;
      const server = slot.server;
      slot.server = undefined;
      slot.boundPort = undefined;
      // close() stops accepting at once; its callback would wait for every accepted connection, so it is not awaited.
      server?.close();
    }
    this.slots = [];
  }
}
