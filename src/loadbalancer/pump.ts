import type { OnReadOpts, Socket } from 'node:net';
import { SHARED_READ_BYTES, type ReadBufferPool } from './read-buffers.js';

/** Who sees a pump's chunks while it watches them (the connection: a replay to keep, a first answer). */
export interface ChunkWatcher {
  /** A chunk about to be written; `owned`: nothing else refers to its memory (it may be kept as it is). */
  chunkArrived(pump: Pump, chunk: Buffer, owned: boolean): void;
}

/**
 * One direction of a proxied connection: its source socket reads into pump buffers (`onread`) and each
 * chunk is written to the sink as it comes, with no stream machinery and no allocation per chunk beyond
 * small copies (see {@link ReadBufferPool}). When the sink's kernel buffer cannot take a chunk whole,
 * reading stops until that write completes: that is the backpressure (a slow sink holds at most one
 * chunk here), and a large buffer is never read into while a write from it is pending.
 *
 * A source that cannot be read into our buffers (see `adoptAccepted`) feeds the pump through
 * {@link push} from its 'data' events instead, and is paused when that returns false.
 */
export class Pump {
  /** What the source socket is given as `onread` (one object per pump, kept across sockets). */
  readonly onread: OnReadOpts;
  /** The socket reading into this pump (resumed when a queued chunk is written). */
  source: Socket | undefined;
  /** Where chunks go; undefined: nowhere (the source is then stopped). */
  sink: Socket | undefined;
  /** Whether the watcher sees each chunk first (one check per chunk when it does not). */
  watching = false;
  /** This pump's own large buffer while its source streams; undefined: it reads into the shared one. */
  private own: Buffer | undefined;
  private lastRead = 0;
  /** A chunk is queued at the sink: reading stopped until it is written. */
  private waiting = false;

  constructor(
    private readonly pool: ReadBufferPool,
    private readonly watcher: ChunkWatcher,
  ) {
    this.onread = { buffer: this.next, callback: this.read };
  }

  /**
   * A chunk from the source: shown to the watcher, written to the sink. False when the source must stop
   * until the chunk is written (it is queued), or because there is no sink.
   */
  push(chunk: Buffer, owned: boolean): boolean {
    if (this.watching) this.watcher.chunkArrived(this, chunk, owned);
    const sink = this.sink;
    if (sink === undefined || sink.destroyed) return false;
    sink.write(chunk, this.written);
    if (sink.writableLength === 0) return true;
    this.waiting = true;
    return false;
  }

  /**
   * The sink changed (an upstream dropped for another): a chunk queued at the old one is gone with it
   * (its socket destroyed, so nothing reads the buffer any more), and nothing is waited for.
   */
  resetSink(sink: Socket | undefined): void {
    this.sink = sink;
    this.waiting = false;
  }

  /** Give the large buffer back: the source is gone and no write from it is pending (both sockets closed). */
  release(): void {
    if (this.own !== undefined && !this.waiting) this.pool.give(this.own);
    this.own = undefined;
    this.source = undefined;
    this.sink = undefined;
    this.waiting = false;
  }

  /** Called when a socket is set up and after every read: the buffer for the next read. */
  private readonly next = (): Buffer => {
    const own = this.own;
    if (own === undefined) {
      // Quiet until a read fills the shared buffer: then it streams, and gets a large buffer.
      if (this.lastRead < SHARED_READ_BYTES) return this.pool.shared;
      return (this.own = this.pool.take());
    }
    // A small read through the large buffer: quiet again (unless a write from it is pending).
    if (this.lastRead > SHARED_READ_BYTES || this.waiting) return own;
    this.pool.give(own);
    this.own = undefined;
    return this.pool.shared;
  };

  /** One read: copied out of the shared buffer (the next socket's read overwrites it), or written as it is. */
  private readonly read = (bytes: number, buffer: Buffer): boolean => {
    this.lastRead = bytes;
    if (buffer !== this.own) {
      const copy = Buffer.allocUnsafe(bytes);
      buffer.copy(copy, 0, 0, bytes);
      return this.push(copy, true);
    }
    return this.push(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), false);
  };

  // The write callback, not 'drain': a chunk smaller than the high-water mark that stays queued gets no
  // 'drain'. For writes done at once it finds nothing to do.
  private readonly written = (): void => {
    if (!this.waiting || (this.sink !== undefined && this.sink.writableLength > 0)) return;
    this.waiting = false; // the large buffer is free again
    this.source?.resume();
  };
}
