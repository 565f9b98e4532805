import type { OnReadOpts, Socket } from 'node:net';
import { SMALL_READ_BYTES, type ReadBufferPool } from './read-buffers.js';

/** Who is told when an upstream sends its first byte (the connection, which then stops keeping a replay). */
export interface AnswerListener {
  upstreamAnswered(): void;
}

/**
 * The upstream → client direction of one connection (responses, watches: nearly all the bytes). The
 * upstream socket reads into a pooled buffer (`onread`) and each chunk is written to the client as it is:
 * no allocation and no stream machinery per chunk. When the client's kernel buffer cannot take a chunk
 * whole, the rest is queued pointing into the buffer, so reading stops until that write completes: that
 * is the backpressure (a slow client holds at most one chunk here), and the buffer is never overwritten
 * while referenced. The same reader serves each upstream the connection dials in turn.
 */
export class UpstreamReader {
  /** What each upstream socket is given as `onread` (one object per connection, not per dial). */
  readonly onread: OnReadOpts;
  /** Where upstream reads land (pooled); undefined before a dial and after `release`. */
  private readBuffer: Buffer | undefined;
  /** Bytes of the last read: a full buffer asks for a larger one. */
  private lastRead = 0;
  /** Reads stopped until the client takes the last chunk (still pointing into readBuffer). */
  private waitingForClient = false;
  private upstream: Socket | undefined;
  /** Whether the current upstream's first byte has been reported (or need not be). */
  private answered = true;

  constructor(
    private readonly client: Socket,
    private readonly pool: ReadBufferPool,
    private readonly listener: AnswerListener,
  ) {
    this.onread = { buffer: this.next, callback: this.read };
  }

  /** Read `upstream` (dialed with {@link onread}) from now on; `reportAnswer`: tell the listener its first byte. */
  attach(upstream: Socket, reportAnswer: boolean): void {
    this.upstream = upstream;
    this.answered = !reportAnswer;
  }

  /** Give the read buffer back: its upstream socket is gone (no read goes into it, no write from it is pending). */
  release(): void {
    if (this.readBuffer !== undefined) this.pool.give(this.readBuffer);
    this.readBuffer = undefined;
    this.upstream = undefined;
    this.waitingForClient = false;
  }

  /** Called when the socket is set up and after every read: the buffer for the next read. */
  private readonly next = (): Buffer => {
    const current = this.readBuffer;
    if (current === undefined) return (this.readBuffer = this.pool.take(false));
    if (this.waitingForClient) return current; // still referenced; no read happens before that write completes
    const small = current.length === SMALL_READ_BYTES;
    if (small ? this.lastRead === current.length : this.lastRead <= SMALL_READ_BYTES) {
      // Streaming through a small buffer: grow. Trickling through a large one: shrink, give it back.
      this.pool.give(current);
      this.readBuffer = this.pool.take(small);
    }
    return this.readBuffer as Buffer;
  };

  /** One read: the first one is the answer; each is written to the client as it is. */
  private readonly read = (bytes: number, buffer: Buffer): boolean => {
    if (!this.answered) {
      this.answered = true;
      this.listener.upstreamAnswered();
    }
    this.lastRead = bytes;
    const client = this.client;
    if (client.destroyed) return false;
    client.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), this.written);
    if (client.writableLength === 0) return true;
    this.waitingForClient = true;
    return false; // stops reading (readStop) until the chunk is written
  };

  // The write callback, not 'drain': a chunk smaller than the high-water mark that stays queued gets no
  // 'drain'. For writes done at once it finds nothing to do.
  private readonly written = (): void => {
    if (!this.waitingForClient || this.client.writableLength > 0) return;
    this.waitingForClient = false; // the read buffer is free again
    this.upstream?.resume();
  };
}
