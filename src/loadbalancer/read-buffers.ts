/** Size of the one read buffer every quiet socket of a proxy reads into (each read is copied out of it). */
export const SHARED_READ_BYTES = 4 * 1024;
/** Size of the read buffer of a socket that fills the shared one (a bulk transfer): one read per 64 KiB. */
export const LARGE_READ_BYTES = 64 * 1024;

/**
 * Read buffers for the proxy's sockets (`onread`): the data path allocates nothing per chunk but small
 * copies. A quiet socket (requests, watch events, idle) reads into the one shared buffer and each read
 * is copied out before anything else can read (a copy of under 4 KiB comes from Node's buffer pool), so
 * an idle connection holds no buffer at all. A socket that fills it streams: it gets a large buffer of
 * its own from the pool and its reads are written as they are, no copy. Free large buffers are bounded:
 * a burst that ends gives memory back.
 */
export class ReadBufferPool {
  /** The buffer every quiet socket reads into; never written from (reads are copied out of it at once). */
  readonly shared: Buffer = Buffer.allocUnsafeSlow(SHARED_READ_BYTES);
  private readonly large: Buffer[] = [];

  constructor(private readonly maxLarge = 32) {}

  /** A buffer of {@link LARGE_READ_BYTES}. */
  take(): Buffer {
    // allocUnsafeSlow: a standalone allocation, not a slice that would pin a shared pool slab.
    return this.large.pop() ?? Buffer.allocUnsafeSlow(LARGE_READ_BYTES);
  }

  /** Return a large buffer nothing refers to any more (no read into it, no write from it pending). */
  give(buffer: Buffer): void {
    if (this.large.length < this.maxLarge) this.large.push(buffer);
  }
}
