/**
 * Splits a byte stream into newline-terminated lines (the watch protocol's framing), holding at most
 * `maxLineBytes` of an unfinished line: a server that never sends a newline cannot grow our memory.
 * Empty lines are skipped; a trailing `\r` is dropped.
 */
export class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;

  /** `tooLong` makes the error thrown for a line over `maxLineBytes` (each caller has its own error type). */
  constructor(
    private readonly maxLineBytes: number,
    private readonly tooLong: (maxLineBytes: number) => Error,
  ) {}

  /** The complete lines this chunk finishes; throws `tooLong(maxLineBytes)` when a line is too long. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.#append(chunk.subarray(start, nl));
      const line = this.#take();
      if (line !== '') lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.#append(chunk.subarray(start));
    return lines;
  }

  /** What is left after the stream ended without a final newline (undefined when nothing is). */
  end(): string | undefined {
    const rest = this.#take();
    return rest === '' ? undefined : rest;
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    this.#size += part.length;
    if (this.#size > this.maxLineBytes) {
      this.#parts = [];
      this.#size = 0;
      throw this.tooLong(this.maxLineBytes);
    }
    this.#parts.push(part);
  }

  #take(): string {
    const text = Buffer.concat(this.#parts, this.#size).toString('utf8');
    this.#parts = [];
    this.#size = 0;
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  }
}
