/**
 * One fleet client: a long-lived TLS connection carrying small HTTP/1.1 requests (keep-alive), with the
 * retry manners of Go's net/http that client-go inherits. A request that fails on a reused connection
 * before any response byte (the connection was closed or reset: a balancer closing a quiet connection,
 * a killed server) is retried once on a new connection and does not count as failed; a request that
 * fails otherwise, or again, or times out, counts as failed. A broken connection is re-established by
 * the next request.
 */
import { connect, type TLSSocket } from 'node:tls';
import { nowMs } from '../lib/stats.js';

/** Where and how a client talks. */
export interface ClientOptions {
  host: string;
  port: number;
  /** SNI (the API servers tell fleet clients from health checks by it). */
  servername: string;
  /** Bound on one request, retry included. */
  timeoutMs: number;
  path?: string;
}

/** Why an attempt failed. */
export type FailureReason = 'connect' | 'closed' | 'timeout' | 'bad-response';

/** One failed attempt, as the retry rule sees it. */
export interface AttemptFailure {
  reason: FailureReason;
  /** The connection had carried an earlier request (Go: `pconn.isReused()`). */
  reused: boolean;
  /** Some byte of the response had arrived. */
  responseStarted: boolean;
}

/**
 * Go's rule (`persistConn.shouldRetryRequest` for an idempotent GET): only the first attempt, only on a
 * reused connection, only when it was closed before any response byte. A fresh connection that fails
 * (dial, handshake, or the first request on it) is an error to the caller; so is a timeout.
 */
export function shouldRetry(failure: AttemptFailure, attempt: number): boolean {
  return attempt === 1 && failure.reused && !failure.responseStarted && failure.reason === 'closed';
}

/** Counters shared by the clients of a process. */
export interface ClientCounters {
  requests: number;
  ok: number;
  failed: number;
  /** Requests retried on a new connection under {@link shouldRetry} (each one still counted once). */
  retried: number;
  /** Failed requests: when (shared wall clock) and why (bounded list). */
  failures: Array<{ atMs: number; reason: FailureReason }>;
}

/** Fresh counters. */
export function newCounters(): ClientCounters {
  return { requests: 0, ok: 0, failed: 0, retried: 0, failures: [] };
}

const MAX_FAILURES_KEPT = 10_000;

/** A client holding at most one connection at a time. */
export class FleetClient {
  private conn: Connection | undefined;
  private closed = false;
  private readonly head: string;

  constructor(
    private readonly options: ClientOptions,
    private readonly counters: ClientCounters,
  ) {
    this.head = `GET ${options.path ?? '/api/v1/namespaces/default/pods?limit=500'} HTTP/1.1\r\nhost: kubernetes\r\nuser-agent: kubeprism-fleet-sim\r\naccept: application/json\r\n\r\n`;
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.conn?.alive ?? false;
  }

  /** One request; resolves true when it succeeded (counted either way). */
  async request(): Promise<boolean> {
    if (this.closed) return false;
    this.counters.requests++;
    const deadline = performance.now() + this.options.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const failure = await this.attempt(deadline);
      if (failure === undefined) {
        this.counters.ok++;
        return true;
      }
      if (!this.closed && shouldRetry(failure, attempt)) {
        this.counters.retried++;
        continue;
      }
      this.counters.failed++;
      if (this.counters.failures.length < MAX_FAILURES_KEPT) this.counters.failures.push({ atMs: nowMs(), reason: failure.reason });
      return false;
    }
  }

  /** Close the connection; later requests do nothing. */
  close(): void {
    this.closed = true;
    this.conn?.socket.destroy();
    this.conn = undefined;
  }

  private async attempt(deadline: number): Promise<AttemptFailure | undefined> {
    let conn = this.conn;
    if (!conn?.alive) {
      this.conn = undefined;
      const dialed = await dial(this.options, deadline);
      if (!(dialed instanceof Connection)) return dialed;
      if (this.closed) {
        dialed.socket.destroy();
        return { reason: 'closed', reused: false, responseStarted: false };
      }
      conn = this.conn = dialed;
    }
    const failure = await conn.exchange(this.head, deadline);
    if (failure !== undefined || !conn.alive) {
      conn.socket.destroy();
      if (this.conn === conn) this.conn = undefined;
    }
    return failure;
  }
}

/** Dial a TLS connection before `deadline` (performance.now() ms). */
function dial(options: ClientOptions, deadline: number): Promise<Connection | AttemptFailure> {
  return new Promise((resolve) => {
    const socket = connect({ host: options.host, port: options.port, servername: options.servername, rejectUnauthorized: false });
    const finish = (result: Connection | AttemptFailure): void => {
      clearTimeout(timer);
      socket.removeListener('secureConnect', onReady);
      socket.removeListener('close', onClose);
      if (!(result instanceof Connection)) socket.destroy();
      resolve(result);
    };
    const onReady = (): void => finish(new Connection(socket));
    const onClose = (): void => finish({ reason: 'connect', reused: false, responseStarted: false });
    const timer = setTimeout(
      () => finish({ reason: 'timeout', reused: false, responseStarted: false }),
      Math.max(0, deadline - performance.now()),
    );
    socket.on('error', () => undefined); // 'close' follows every error
    socket.once('secureConnect', onReady);
    socket.once('close', onClose);
  });
}

/** An open TLS connection: one request at a time, responses framed by content-length. */
class Connection {
  alive = true;
  /** Requests completed on it. */
  served = 0;
  private pending: ((failure: AttemptFailure | undefined) => void) | undefined;
  private responseStarted = false;
  private buffer = '';

  constructor(readonly socket: TLSSocket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.once('close', () => {
      this.alive = false;
      this.settle({ reason: 'closed', reused: this.served > 0, responseStarted: this.responseStarted });
    });
    // A server that ends its side is closing the connection: no request can be answered on it.
    socket.once('end', () => {
      this.alive = false;
      socket.destroy();
    });
  }

  /** Send `head` and wait for the whole response; undefined when it arrived complete with a 2xx. */
  exchange(head: string, deadline: number): Promise<AttemptFailure | undefined> {
    return new Promise((resolve) => {
      const reused = this.served > 0;
      const timer = setTimeout(
        () => this.settle({ reason: 'timeout', reused, responseStarted: this.responseStarted }),
        Math.max(0, deadline - performance.now()),
      );
      this.responseStarted = false;
      this.buffer = '';
      this.pending = (failure) => {
        clearTimeout(timer);
        resolve(failure);
      };
      if (!this.alive) return this.settle({ reason: 'closed', reused, responseStarted: false });
      this.socket.write(head);
    });
  }

  private onData(chunk: string): void {
    if (!this.pending) return; // nothing asked: a server speaking out of turn is ignored
    this.responseStarted = true;
    this.buffer += chunk;
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const status = Number(this.buffer.slice(9, 12));
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(this.buffer.slice(0, end + 2))?.[1] ?? NaN);
    if (!Number.isFinite(length)) return this.settle({ reason: 'bad-response', reused: this.served > 0, responseStarted: true });
    if (this.buffer.length - (end + 4) < length) return;
    if (/\r\nconnection:\s*close/i.test(this.buffer.slice(0, end + 2))) this.alive = false;
    this.served++;
    this.settle(status >= 200 && status < 300 ? undefined : { reason: 'bad-response', reused: this.served > 1, responseStarted: true });
  }

  private settle(failure: AttemptFailure | undefined): void {
    const pending = this.pending;
    this.pending = undefined;
    this.buffer = '';
    pending?.(failure);
  }
}
