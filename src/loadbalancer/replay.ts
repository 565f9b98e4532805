import type { Socket } from 'node:net';

/**
 * Most client bytes kept for a replay. A TLS ClientHello is a few hundred bytes to ~2 KiB (post-quantum
 * key shares included), and a TLS client sends nothing more before the server answers; a client that
 * sends more than this unanswered is not speaking TLS, and gets no retry rather than more memory.
 */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

/** TLS record type of a handshake (a ClientHello starts with it). */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * What a client has sent while its upstream has answered nothing, so that the connection can move to
 * another upstream and replay it there. A chunk nothing else refers to (a copy out of the shared read
 * buffer, a 'data' chunk) is kept as it is; one that sits in a connection's own read buffer is copied,
 * since the next read overwrites it. Only before the answer: after it, nothing is kept or copied.
 */
export class Replay {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  /** The client half-closed before the upstream answered: a replay ends the new upstream too. */
  ended = false;

  /**
   * Keep a chunk (`owned`: nothing else refers to its memory, else it is copied): `first` for the first one (its arrival starts the wait for an answer), `kept` for the
   * next, `over` past {@link REPLAY_LIMIT_BYTES} (then nothing more can be replayed: forget this one).
   */
  keep(chunk: Buffer, owned: boolean): 'first' | 'kept' | 'over' {
    const kept = this.bytes + chunk.length;
    if (kept > REPLAY_LIMIT_BYTES) return 'over';
    this.chunks.push(owned ? chunk : Buffer.from(chunk));
    this.bytes = kept;
    return kept === chunk.length ? 'first' : 'kept';
  }

  /** Whether the client has spoken. */
  get empty(): boolean {
    return this.bytes === 0;
  }

  /**
   * Whether the kept bytes start a TLS handshake: a server that closes such a connection without a byte
   * has not seen a request. A client speaking anything else gets the close as it is (a plain-text request
   * may have been acted on, and a client that is not speaking TLS to a TLS server would only be turned
   * away by every upstream in turn).
   */
  startsTlsHandshake(): boolean {
    return this.chunks[0]?.[0] === TLS_HANDSHAKE_RECORD;
  }

  /** Write it all, and the end if the client half-closed, to a new upstream (queued while it connects). */
  writeTo(upstream: Socket): void {
    for (const chunk of this.chunks) upstream.write(chunk);
    if (this.ended) upstream.end();
  }
}
