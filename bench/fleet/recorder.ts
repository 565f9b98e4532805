/**
 * The per-100-ms recorder of the fleet simulator's API servers: counters (handshakes, requests) and one
 * gauge (open client connections) per server, on a bucket grid that starts at the recorder's start.
 * Pure: times come in as arguments, so it is tested without sockets or clocks.
 */

/** Width of one bucket (ms). */
export const BUCKET_MS = 100;

/** What is counted per bucket. */
export type Counter = 'handshakes' | 'clientHandshakes' | 'requests';

/** The series of one server, one entry per complete bucket. */
export interface ServerSeries {
  /** Open client connections at the end of each bucket. */
  open: number[];
  /** TLS handshakes completed in the bucket (clients and health checks). */
  handshakes: number[];
  /** Of those, the fleet clients' (told apart by their SNI). */
  clientHandshakes: number[];
  /** Client requests (not `/readyz`) answered in the bucket. */
  requests: number[];
}

/** Every server's series by name. */
export type FleetSeries = Record<string, ServerSeries>;

const COUNTERS: readonly Counter[] = ['handshakes', 'clientHandshakes', 'requests'];

/**
 * Buckets `[start + k·width, start + (k+1)·width)`. A counter event lands in the bucket of its time; the
 * gauge of a bucket is its value after every change made before the bucket ended. Only complete
 * buckets are reported, so every series has the same length.
 */
export class BucketRecorder {
  private readonly series = new Map<string, ServerSeries>();
  private readonly gauge = new Map<string, number>();
  /** Buckets whose gauge value is written (all buckets before this index are complete). */
  private filled = 0;

  constructor(
    readonly names: readonly string[],
    readonly startMs: number,
    readonly bucketMs = BUCKET_MS,
  ) {
    for (const name of names) {
      this.series.set(name, { open: [], handshakes: [], clientHandshakes: [], requests: [] });
      this.gauge.set(name, 0);
    }
  }

  /** Count one `counter` event of `server` at `atMs` (events before the start land in bucket 0). */
  count(server: string, counter: Counter, atMs: number): void {
    const s = this.get(server);
    this.advance(atMs);
    const b = this.bucketOf(atMs);
    const values = s[counter];
    while (values.length <= b) values.push(0);
    values[b] = (values[b] as number) + 1;
  }

  /** Change the open-connection gauge of `server` by `delta` at `atMs`. */
  open(server: string, delta: number, atMs: number): void {
    this.get(server);
    this.advance(atMs);
    this.gauge.set(server, Math.max(0, (this.gauge.get(server) ?? 0) + delta));
  }

  /** The gauge now. */
  current(server: string): number {
    return this.gauge.get(server) ?? 0;
  }

  /** Close every bucket that ended by `atMs` (their gauge is the current value). */
  advance(atMs: number): void {
    const complete = Math.floor((atMs - this.startMs) / this.bucketMs);
    for (; this.filled < complete; this.filled++) {
      for (const [name, s] of this.series) s.open[this.filled] = this.gauge.get(name) ?? 0;
    }
  }

  /** Every server's complete buckets up to `atMs` (copies, all of the same length). */
  snapshot(atMs: number): FleetSeries {
    this.advance(atMs);
    const n = this.filled;
    const out: FleetSeries = {};
    for (const [name, s] of this.series) {
      const copy: ServerSeries = { open: s.open.slice(0, n), handshakes: [], clientHandshakes: [], requests: [] };
      for (const c of COUNTERS) copy[c] = Array.from({ length: n }, (_, i) => s[c][i] ?? 0);
      out[name] = copy;
    }
    return out;
  }

  private bucketOf(atMs: number): number {
    return Math.max(0, Math.floor((atMs - this.startMs) / this.bucketMs));
  }

  private get(server: string): ServerSeries {
    const s = this.series.get(server);
    if (!s) throw new Error(`recorder: unknown server ${server} (known: ${this.names.join(', ')})`);
    return s;
  }
}
