/** Size of the read buffer of a connection that carries little (requests, watch events, idle). */
export const SMALL_READ_BYTES = 1024;
/** Size of the read buffer of a connection that fills its buffer (bulk responses): one read per 64 KiB. */
export const LARGE_READ_BYTES = 64 * 1024;

/**
 * Recycled read buffers for upstream sockets (`onread`): the data path allocates nothing per chunk.
 * A connection holds one buffer, small while it carries little and large while it streams, so an idle
 * connection holds 1 KiB rather than 64. Free lists are bounded: a burst that ends gives memory back.
 */
export class ReadBufferPool {
  private readonly small: Buffer[] = [];
  private readonly large: Buffer[] = [];

  constructor(
    private readonly maxSmall = 512,
    private readonly maxLarge = 32,
  ) {}

  /** A buffer of {@link SMALL_READ_BYTES} or {@link LARGE_READ_BYTES}. */
  take(large: boolean): Buffer {
    const list = large ? this.large : this.small;
    // allocUnsafeSlow: a standalone allocation, not a slice that would pin a shared pool slab.
    return list.pop() ?? Buffer.allocUnsafeSlow(large ? LARGE_READ_BYTES : SMALL_READ_BYTES);
  }

  /** Return a buffer nothing refers to any more (no read into it, no write from it pending). */
  give(buffer: Buffer): void {
    const large = buffer.length === LARGE_READ_BYTES;
    const list = large ? this.large : this.small;
    if (list.length < (large ? this.maxLarge : this.maxSmall)) list.push(buffer);
  }
}
