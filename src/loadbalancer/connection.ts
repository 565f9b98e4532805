import type { Socket } from 'node:net';
import { SMALL_READ_BYTES, type ReadBufferPool } from './read-buffers.js';

/** One proxied client connection and its upstream socket (while dialing, then established). */
export interface Connection<U> {
  client: Socket;
  upstream: Socket | undefined;
  target: U | undefined;
  tried: Set<U> | undefined;
  established: boolean;
  /** Set once the client socket closed (while dialing, that ends the connection). */
  clientClosed: boolean;
  upstreamClosed: boolean;
  finished: boolean;
  /** Being torn down on purpose (down upstream, stall, drain): not to be counted again. */
  closing: boolean;
  /** When the dial in progress counts as failed (performance.now() time). */
  dialDeadline: number;
  /** Stall detection: flushed-byte mark seen at the last sweep, and since when it has not moved. */
  mark: number;
  stalledSince: number;
  /** Where upstream reads land (pooled); undefined before the dial and after the end. */
  readBuffer: Buffer | undefined;
  /** Bytes of the last upstream read: a full buffer asks for a larger one. */
  lastRead: number;
  /** Upstream reads stopped until the client takes the last chunk (still pointing into readBuffer). */
  waitingForClient: boolean;
  /**
   * What the client has sent while its upstream has answered nothing (see `replay.ts`); undefined once
   * the upstream answered or ended, past the replay limit, or with the retry disabled: then never retried.
   */
  replay: Buffer[] | undefined;
  /** Bytes in `replay`. */
  replayBytes: number;
  /** The client half-closed before the upstream answered: a replay ends the new upstream too. */
  replayEnded: boolean;
  /** When the upstream's silence after the client spoke counts as a failure (performance.now() time). */
  answerDeadline: number;
}

/** A fresh connection record for an accepted client socket; `retry` keeps the client's bytes for a replay. */
export function newConnection<U>(client: Socket, retry: boolean): Connection<U> {
  return {
    client,
    upstream: undefined,
    target: undefined,
    tried: undefined,
    established: false,
    clientClosed: false,
    upstreamClosed: false,
    finished: false,
    closing: false,
    dialDeadline: 0,
    mark: 0,
    stalledSince: 0,
    readBuffer: undefined,
    lastRead: 0,
    waitingForClient: false,
    replay: retry ? [] : undefined,
    replayBytes: 0,
    replayEnded: false,
    answerDeadline: 0,
  };
}

/**
 * The upstream → client direction (responses, watches: nearly all the bytes). The upstream socket reads
 * into a pooled buffer (`onread`) and each chunk is written to the client as it is: no allocation and
 * no stream machinery per chunk. When the client's kernel buffer cannot take a chunk whole, the rest is
 * queued pointing into the buffer, so reading stops until that write completes: that is the backpressure
 * (a slow client holds at most one chunk here), and the buffer is never overwritten while referenced.
 */
export function upstreamReader<U>(
  conn: Connection<U>,
  pool: ReadBufferPool,
): { buffer: () => Buffer; callback: (bytes: number, buffer: Buffer) => boolean } {
  // The write callback, not 'drain': a chunk smaller than the high-water mark that stays queued
  // gets no 'drain'. One function per connection; for writes done at once it finds nothing to do.
  const written = (): void => {
    if (!conn.waitingForClient || conn.client.writableLength > 0) return;
    conn.waitingForClient = false; // the read buffer is free again
    conn.upstream?.resume();
  };
  return {
    // Called when the socket is set up and after every read: the buffer for the next read.
    buffer: () => {
      const current = conn.readBuffer;
      if (current === undefined) return (conn.readBuffer = pool.take(false));
      if (conn.waitingForClient) return current; // still referenced; no read happens before that write completes
      const small = current.length === SMALL_READ_BYTES;
      if (small ? conn.lastRead === current.length : conn.lastRead <= SMALL_READ_BYTES) {
        // Streaming through a small buffer: grow. Trickling through a large one: shrink, give it back.
        pool.give(current);
        conn.readBuffer = pool.take(small);
      }
      return conn.readBuffer as Buffer;
    },
    callback: (bytes, buffer) => {
      if (conn.replay !== undefined) dropReplay(conn); // the upstream answered: the client now depends on it
      conn.lastRead = bytes;
      const client = conn.client;
      if (client.destroyed) return false;
      client.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), written);
      if (client.writableLength === 0) return true;
      conn.waitingForClient = true;
      return false; // stops reading (readStop) until the chunk is written
    },
  };
}
/**
 * The client → upstream direction, set up once per client: each chunk is written to the current upstream
 * as it comes (kept for a replay while the upstream has not answered), and the client is paused while
 * that upstream's buffer is over its high-water mark. The client's end goes to the current upstream.
 * The client stays paused (as accepted) until the first upstream connects (`relayUpstream`).
 */
export function relayClient<U>(conn: Connection<U>, keep: (conn: Connection<U>, chunk: Buffer) => void): void {
  const { client } = conn;
  client.on('data', (chunk: Buffer) => {
    // After the upstream's first byte this is the only extra work: one check.
    if (conn.replay !== undefined) keep(conn, chunk);
    if (conn.upstream?.write(chunk) === false) client.pause();
  });
  client.once('end', () => {
    if (conn.replay !== undefined) conn.replayEnded = true;
    conn.upstream?.end();
  });
}

/**
 * Relay between the client and a newly connected upstream (the first, or the next one after a retry).
 * Upstream → client goes through {@link upstreamReader}; the upstream's end is forwarded (half-close),
 * unless `movedOnEnd` took the connection elsewhere (an end before any byte).
 */
export function relayUpstream<U>(
  conn: Connection<U>,
  upstream: Socket,
  movedOnEnd: (conn: Connection<U>, upstream: Socket) => boolean,
): void {
  const { client } = conn;
  upstream.on('drain', () => client.resume());
  upstream.once('end', () => {
    if (conn.replay !== undefined && movedOnEnd(conn, upstream)) return;
    if (conn.replay !== undefined) dropReplay(conn); // an end is an answer the client will see
    client.end();
  });
  client.resume(); // accepted paused: nothing was read before an upstream was there
}

/** Forget the kept client bytes: the connection is never retried again. */
export function dropReplay<U>(conn: Connection<U>): void {
  conn.replay = undefined;
  conn.replayBytes = 0;
}

/**
 * Node has no TCP_USER_TIMEOUT: a peer that stops acknowledging leaves our writes queued forever and
 * keepalive never probes a connection with data in flight. Yields the connections whose upstream has had
 * data queued without a completed write for `limitMs` (marks are updated as it goes). Only the upstream
 * side is judged: the client is local, and a client that pauses reading is its own business.
 */
export function* findStalled<U>(
  groups: Iterable<Set<Connection<U>>>,
  now: number,
  limitMs: number,
): Generator<{ conn: Connection<U>; stalledMs: number }> {
  for (const group of groups) {
    for (const c of group) {
      const up = c.upstream as Socket;
      if (c.closing) continue;
      if (up.writableLength === 0) {
        c.stalledSince = 0;
        continue;
      }
      const mark = flushed(up);
      if (mark !== c.mark || c.stalledSince === 0) {
        c.mark = mark;
        c.stalledSince = now;
      } else if (now - c.stalledSince >= limitMs) {
        yield { conn: c, stalledMs: now - c.stalledSince };
      }
    }
  }
}

/** Give the connection's read buffer back (its sockets are closed: nothing reads into it or writes from it). */
export function releaseReadBuffer<U>(conn: Connection<U>, pool: ReadBufferPool): void {
  if (conn.readBuffer !== undefined) pool.give(conn.readBuffer);
  conn.readBuffer = undefined;
}

/** Bytes the kernel has taken from this socket (bytesWritten counts queued data too). */
export function flushed(socket: Socket | undefined): number {
  return socket ? socket.bytesWritten - socket.writableLength : 0;
}
