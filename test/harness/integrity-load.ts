import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import { PatternVerifier, writePattern } from './pattern.js';
import { connectTo } from './ports.js';

function shell(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim();
}

/** The soft open-files limit, raised to the hard limit when it is too low for `needed` (prlimit, same user). */
function fileLimit(needed: number): number {
  const read = (flag: string): number => {
    const v = shell(`ulimit ${flag}`);
    return v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  let soft = read('-n');
  if (soft < needed) {
    const hard = read('-Hn');
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${Math.min(hard, needed)}:${hard}`]);
      soft = read('-n'); // a child inherits our (new) limit
    } catch {
      // no prlimit: the caller scales down to what there is
    }
  }
  return soft;
}

/**
 * How many connections of `fdsEach` descriptors this process can hold besides `spare` ones, at most
 * `wanted`; the open-files limit is raised first when it can be. A shortfall is annotated on the test.
 */
export function connectionBudget(
  ctx: { annotate: (message: string) => unknown },
  wanted: number,
  fdsEach: number,
  spare = 512,
): { n: number; limit: number } {
  const limit = fileLimit(wanted * fdsEach + spare);
  const n = Math.min(wanted, Math.floor((limit - spare) / fdsEach));
  if (n < wanted) {
    const reason = `open-files limit ${limit} allows ${n} connections in one process (${fdsEach} descriptors each), not ${wanted}`;
    console.warn(reason);
    void ctx.annotate(reason);
  }
  return { n, limit };
}

/**
 * Both ends of a concurrent transfer checked byte for byte: `n` clients each say their id (4 bytes),
 * wait until all `n` are open at the upstream, then both sides stream `size` bytes of pattern at once
 * and verify what they receive. The upstream ends its side once it has sent its bytes and received the
 * client's, so a client's end means its connection is done. Connections without an id (health checks)
 * are left alone.
 */
export class IntegrityLoad {
  /** Connections that reached the upstream and said their id. */
  hello = 0;
  readonly upstreamChecks: PatternVerifier[] = [];
  readonly #allOpen: Promise<void>;
  #release: () => void = () => undefined;

  constructor(
    readonly n: number,
    readonly size: number,
  ) {
    this.#allOpen = new Promise<void>((resolve) => (this.#release = resolve));
  }

  /** The upstream's connection handler. */
  readonly handler = (socket: Socket): void => {
    socket.on('error', () => undefined);
    socket.once('readable', () => {
      const header = socket.read(4) as Buffer | null;
      if (!header) return; // a health check: connects and leaves
      const id = header.readUInt32BE(0);
      const verifier = new PatternVerifier(2 * id, this.size);
      this.upstreamChecks.push(verifier);
      socket.on('data', (d: Buffer) => verifier.push(d));
      const received = new Promise<void>((resolve) => socket.once('end', () => resolve()));
      if (++this.hello === this.n) this.#release();
      void this.#allOpen
        .then(async () => {
          socket.resume();
          await writePattern(socket, 2 * id + 1, this.size);
          await received;
          socket.end();
        })
        .catch(() => undefined);
    });
  };

  /** Opens the `n` clients to `port` (destroyed when the test ends); resolves with what each received. */
  run(port: number): Promise<PatternVerifier[]> {
    const clients: Socket[] = [];
    onTestFinished(() => clients.forEach((c) => c.destroy()));
    return Promise.all(
      Array.from({ length: this.n }, async (_, id) => {
        const c = await connectTo('127.0.0.1', port);
        clients.push(c);
        c.on('error', () => undefined);
        const header = Buffer.alloc(4);
        header.writeUInt32BE(id, 0);
        c.write(header);
        const verifier = new PatternVerifier(2 * id + 1, this.size);
        const ended = new Promise<void>((resolve, reject) => {
          c.on('data', (d: Buffer) => verifier.push(d));
          c.once('end', () => resolve());
          c.once('close', () => reject(new Error(`connection ${id} closed before its end`)));
        });
        c.pause();
        await this.#allOpen;
        c.resume();
        await writePattern(c, 2 * id, this.size);
        c.end();
        await ended;
        return verifier;
      }),
    );
  }

  /** What went wrong at either end, one line per incomplete or corrupted stream (empty: all intact). */
  failures(received: readonly PatternVerifier[]): string[] {
    const describe = (side: string) => (v: PatternVerifier) => `${side}: ${v.error ?? `${v.received} of ${this.size}`}`;
    return [
      ...received.filter((v) => !v.complete).map(describe('client')),
      ...this.upstreamChecks.filter((v) => !v.complete).map(describe('upstream')),
    ];
  }
}
