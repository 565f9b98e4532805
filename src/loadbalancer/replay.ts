import type { Socket } from 'node:net';
import { dropReplay, type Connection } from './connection.js';

/**
 * Most client bytes kept for a replay. A TLS ClientHello is a few hundred bytes to ~2 KiB (post-quantum
 * key shares included), and a TLS client sends nothing more before the server answers; a client that
 * sends more than this unanswered is not speaking TLS, and gets no retry rather than more memory.
 */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

/**
 * Keep a client chunk for a replay (the connection must still keep them). Returns true for the first
 * one kept, whose arrival starts the wait for the upstream's answer; past the limit the copy is dropped
 * and the connection will not be retried.
 */
export function keepForReplay<U>(conn: Connection<U>, chunk: Buffer): boolean {
  const kept = conn.replayBytes + chunk.length;
  if (kept > REPLAY_LIMIT_BYTES) {
    dropReplay(conn);
    return false;
  }
  // No copy: a socket without `onread` hands each read its own buffer, and nothing writes into it.
  (conn.replay as Buffer[]).push(chunk);
  conn.replayBytes = kept;
  return kept === chunk.length;
}

/** TLS record type of a handshake (a ClientHello starts with it). */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Whether the client's kept bytes start a TLS handshake: a server that closes such a connection
 * without a byte has not seen a request. A client speaking anything else gets the close as it is (a
 * plain-text request may have been acted on, and a client that is not speaking TLS to a TLS server
 * would only be turned away by every upstream in turn).
 */
export function startsTlsHandshake<U>(conn: Connection<U>): boolean {
  return conn.replay?.[0]?.[0] === TLS_HANDSHAKE_RECORD;
}

/**
 * Write what the client has sent so far, and its end if it half-closed, to a new upstream (queued while
 * it connects), ahead of anything the client sends next. Nothing for a first dial: nothing was read yet.
 */
export function replayTo<U>(conn: Connection<U>, upstream: Socket): void {
  const kept = conn.replay;
  if (kept === undefined) return;
  for (const chunk of kept) upstream.write(chunk);
  if (conn.replayEnded) upstream.end();
}

/**
 * The connections of `waiting` whose upstream has been silent past its deadline since the client spoke
 * (`timeoutMs` 0: none, and nothing is kept any more). Connections that no longer wait (answered, over
 * the limit, closing) are forgotten as it goes; those still dialing their next upstream are skipped.
 */
export function findUnanswered<U>(waiting: Set<Connection<U>>, now: number, timeoutMs: number): Array<Connection<U>> {
  const expired: Array<Connection<U>> = [];
  for (const conn of waiting) {
    if (conn.replay === undefined || conn.closing || conn.finished || timeoutMs === 0) {
      dropReplay(conn);
      waiting.delete(conn);
    } else if (conn.established && now >= conn.answerDeadline) {
      expired.push(conn);
    }
  }
  return expired;
}
