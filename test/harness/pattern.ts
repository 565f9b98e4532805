import { randomBytes } from 'node:crypto';

/** Bytes per pattern chunk. */
export const PATTERN_CHUNK = 64 * 1024;
/** Bytes of the per-chunk stamp at the start of every chunk. */
const STAMP = 16;

/** One random block shared by every chunk; never mutated, so it can be written without copying. */
const base = randomBytes(PATTERN_CHUNK);
const body = base.subarray(STAMP);

/** The stamp of chunk `index` of stream `stream`: what makes chunks of different streams and positions differ. */
function stamp(stream: number, index: number): Buffer {
  const s = Buffer.allocUnsafe(STAMP);
  s.writeUInt32BE(0x6b707269, 0); // "kpri"
  s.writeUInt32BE(stream >>> 0, 4);
  s.writeUInt32BE(index >>> 0, 8);
  s.writeUInt32BE((stream * 31 + index) >>> 0, 12);
  return s;
}

/**
 * Chunk `index` of stream `stream`: a 16-byte stamp (stream id, chunk index) followed by a shared random
 * block, so bytes from another connection, another direction or another position never compare equal.
 * Deterministic: sender and receiver derive the same bytes independently.
 */
export function patternChunk(stream: number, index: number): Buffer {
  return Buffer.concat([stamp(stream, index), body]);
}

/**
 * Checks a received stream against the pattern byte for byte (stronger than a checksum, and as cheap as
 * memcmp), whatever the sizes of the pieces it arrives in.
 */
export class PatternVerifier {
  /** Bytes checked so far. */
  received = 0;
  /** First mismatch, if any: where and what. */
  error: string | undefined;
  private stampIndex = -1;
  private stampBytes: Buffer = Buffer.alloc(0);

  constructor(
    readonly stream: number,
    readonly total: number,
  ) {}

  /** True once `total` bytes arrived and all matched. */
  get complete(): boolean {
    return this.error === undefined && this.received === this.total;
  }

  /** Check the next piece of the stream. */
  push(piece: Buffer): void {
    let offset = 0;
    while (offset < piece.length && this.error === undefined) {
      if (this.received >= this.total) {
        this.error = `stream ${this.stream}: ${piece.length - offset} bytes beyond the expected ${this.total}`;
        return;
      }
      const index = Math.floor(this.received / PATTERN_CHUNK);
      const within = this.received % PATTERN_CHUNK;
      let expected: Buffer;
      let from: number;
      let end: number;
      if (within < STAMP) {
        if (index !== this.stampIndex) {
          this.stampIndex = index;
          this.stampBytes = stamp(this.stream, index);
        }
        [expected, from, end] = [this.stampBytes, within, STAMP];
      } else {
        [expected, from, end] = [base, within, PATTERN_CHUNK];
      }
      const n = Math.min(piece.length - offset, end - from, this.total - this.received);
      if (piece.compare(expected, from, from + n, offset, offset + n) !== 0) {
        this.error = `stream ${this.stream}: mismatch in bytes ${this.received}..${this.received + n}`;
        return;
      }
      offset += n;
      this.received += n;
    }
  }
}

/**
 * Write `total` pattern bytes of `stream` to `out`, honouring backpressure; resolves when all are
 * queued. Each chunk goes out as its stamp plus the shared block (no copy of the 64 KiB).
 */
export async function writePattern(out: NodeJS.WritableStream, stream: number, total: number): Promise<void> {
  for (let index = 0, sent = 0; sent < total; index++) {
    const n = Math.min(PATTERN_CHUNK, total - sent);
    sent += n;
    const head = stamp(stream, index);
    let ok: boolean;
    if (n <= STAMP) ok = out.write(head.subarray(0, n));
    else {
      out.write(head);
      ok = out.write(n === PATTERN_CHUNK ? body : body.subarray(0, n - STAMP));
    }
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          out.removeListener('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          out.removeListener('drain', onDrain);
          reject(new Error(`stream ${stream}: closed after ${sent} of ${total} bytes`));
        };
        out.once('drain', onDrain);
        out.once('close', onClose);
      });
    }
  }
}
