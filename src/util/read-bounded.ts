import type { Readable } from 'node:stream';

/**
 * Reads a whole stream (a response body) into memory, at most `maxBytes`: past that the stream is
 * destroyed with `tooLarge(maxBytes)`, which the promise rejects with, so a peer cannot grow our memory.
 */
export function readBounded(stream: Readable, maxBytes: number, tooLarge: (maxBytes: number) => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) stream.destroy(tooLarge(maxBytes));
      else parts.push(chunk);
    });
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}
