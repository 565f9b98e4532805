/**
 * The load generator (a forked worker), the same for every contender: bulk streams both ways, ping-pong round
 * trips, connect-exchange-close loops, idle connections, and a steady stream of new TLS requests for
 * the failover scenarios. It reads with a reused buffer so its own cost stays low and constant.
 */
import { request } from 'node:https';
import { connect, type Socket } from 'node:net';
import { serveOps } from './lib/ipc.js';
import { nowMs, percentile } from './lib/stats.js';

/** Where the load goes. */
export interface Target {
  host: string;
  port: number;
}

/** One request of the failover stream: when it started and ended (shared ms clock), and who answered. */
export interface StreamEvent {
  start: number;
  end: number;
  ok: boolean;
  name?: string;
  error?: string;
}

/** Operations of the load generator. */
export type GeneratorOps = {
  bulk: { args: Target & { connections: number; warmupMs: number; durationMs: number }; result: { bytesPerSec: number } };
  upload: { args: Target & { connections: number; warmupMs: number; durationMs: number }; result: { bytesPerSec: number } };
  rtt: { args: Target & { messages: number; warmup: number; size: number }; result: { p50Us: number; p99Us: number } };
  cps: { args: Target & { concurrency: number; warmupMs: number; durationMs: number }; result: { perSec: number; errors: number } };
  idleOpen: { args: Target & { count: number }; result: { opened: number } };
  idleClose: { args: Record<string, never>; result: { closed: number } };
  streamStart: { args: Target & { intervalMs: number; timeoutMs: number; servername: string }; result: Record<string, never> };
  streamStop: { args: Record<string, never>; result: { events: StreamEvent[] } };
};

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function opened(target: Target, options: { noDelay?: boolean } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...target, noDelay: options.noDelay ?? true });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function bulk({ connections, warmupMs, durationMs, ...target }: GeneratorOps['bulk']['args']): Promise<{ bytesPerSec: number }> {
  let counting = false;
  let bytes = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({
            ...target,
            onread: {
              buffer: READ_BUFFER, // the bytes are only counted, so every connection may share it
              callback: (n: number) => {
                if (counting) bytes += n;
                return true;
              },
            },
          });
          socket.once('connect', () => {
            socket.removeListener('error', reject);
            socket.on('error', () => undefined);
            socket.write('D');
            resolve(socket);
          });
          socket.once('error', reject);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  counting = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  counting = false;
  const seconds = (performance.now() - start) / 1000;
  for (const s of sockets) s.destroy();
  return { bytesPerSec: bytes / seconds };
}

const UPLOAD_BLOCK = Buffer.alloc(256 * 1024, 'kubeprism-upload ');
UPLOAD_BLOCK[0] = 0x55; // U: the upstream sinks the connection and acknowledges at the end

/** One uploading connection: its socket, and what the sink had at the start of the measured window. */
interface Uploader {
  socket: Socket;
  /** Bytes the kernel had taken when the window opened (all of them reach the sink). */
  startFlushed: number;
  /** The sink's count of what it received, once it acknowledged the end. */
  acknowledged: Promise<number>;
}

/** Push `UPLOAD_BLOCK`s as fast as the connection takes them, until ended. */
function startUploader(target: Target): Promise<Uploader> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...target, noDelay: true });
    let answer = Buffer.alloc(0);
    const acknowledged = new Promise<number>((ack, fail) => {
      socket.on('data', (chunk: Buffer) => (answer = Buffer.concat([answer, chunk])));
      socket.once('end', () =>
        answer.length >= 8 ? ack(Number(answer.readBigUInt64BE(0))) : fail(new Error('upload: no acknowledgement')),
      );
      socket.once('close', () => fail(new Error('upload: closed before the acknowledgement')));
    });
    acknowledged.catch(() => undefined);
    const pump = (): void => {
      while (!socket.writableEnded && socket.write(UPLOAD_BLOCK));
    };
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => undefined);
      socket.on('drain', pump);
      pump();
      resolve({ socket, startFlushed: 0, acknowledged });
    });
    socket.once('error', reject);
  });
}

/**
 * Client → upstream throughput: every connection pushes blocks; after the warm-up the window opens at the
 * bytes each has flushed; at its end each connection ends and the sink answers how many bytes it got. The
 * window closes at the last acknowledgement, so every byte counted has reached the upstream.
 */
async function upload({ connections, warmupMs, durationMs, ...target }: GeneratorOps['upload']['args']): Promise<{ bytesPerSec: number }> {
  const uploaders = await Promise.all(Array.from({ length: connections }, () => startUploader(target)));
  try {
    await new Promise((r) => setTimeout(r, warmupMs));
    const start = performance.now();
    for (const u of uploaders) u.startFlushed = u.socket.bytesWritten - u.socket.writableLength;
    await new Promise((r) => setTimeout(r, durationMs));
    for (const u of uploaders) u.socket.end();
    const received = await Promise.all(uploaders.map((u) => u.acknowledged));
    const seconds = (performance.now() - start) / 1000;
    const bytes = received.reduce((sum, n, i) => sum + n - (uploaders[i] as Uploader).startFlushed, 0);
    return { bytesPerSec: bytes / seconds };
  } finally {
    for (const u of uploaders) u.socket.destroy();
  }
}

async function rtt({ messages, warmup, size, ...target }: GeneratorOps['rtt']['args']): Promise<{ p50Us: number; p99Us: number }> {
  const socket = await opened(target);
  const message = Buffer.alloc(size, 'x');
  message[0] = 0x45; // E: echo
  const samples: number[] = [];
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    let sent = 0;
    let started = 0;
    const send = (): void => {
      got = 0;
      sent++;
      started = performance.now();
      socket.write(message);
    };
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got < size) return;
      if (sent > warmup) samples.push((performance.now() - started) * 1000);
      if (sent >= warmup + messages) resolve();
      else send();
    });
    socket.once('error', reject);
    send();
  });
  socket.destroy();
  return { p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) };
}

const EXCHANGE = Buffer.alloc(64, 'e');
EXCHANGE[0] = 0x45;

/** Connect, one 64-byte exchange, close (and wait for the close): true when the answer came back. */
function exchangeOnce(target: Target): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ ...target, noDelay: true });
    let got = 0;
    socket.once('connect', () => socket.write(EXCHANGE));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= EXCHANGE.length) socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => resolve(got >= EXCHANGE.length));
  });
}

async function cps({
  concurrency,
  warmupMs,
  durationMs,
  ...target
}: GeneratorOps['cps']['args']): Promise<{ perSec: number; errors: number }> {
  const warmEnd = performance.now() + warmupMs;
  const end = warmEnd + durationMs;
  let ok = 0;
  let errors = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const good = await exchangeOnce(target);
      if (performance.now() < warmEnd) continue;
      if (good) ok++;
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { perSec: ok / (durationMs / 1000), errors };
}

const idle: Socket[] = [];

async function idleOpen({ count, ...target }: GeneratorOps['idleOpen']['args']): Promise<{ opened: number }> {
  const openOne = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect({ ...target });
      socket.once('connect', () => socket.write('I'));
      socket.once('data', () => {
        socket.removeListener('error', reject);
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  // In batches: a burst of a thousand SYNs would measure the accept queue, not the idle cost.
  for (let i = 0; i < count; i += 100) {
    idle.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, openOne))));
  }
  return { opened: idle.length };
}

function idleClose(): { closed: number } {
  const closed = idle.length;
  for (const s of idle.splice(0)) s.destroy();
  return { closed };
}

let streamTimer: NodeJS.Timeout | undefined;
let streamEvents: StreamEvent[] = [];
let inFlight = new Set<Promise<void>>();

function streamRequest(target: Target, timeoutMs: number, servername: string): Promise<void> {
  const start = nowMs();
  return new Promise((resolve) => {
    let settled = false;
    const done = (event: Omit<StreamEvent, 'start' | 'end'>): void => {
      if (settled) return;
      settled = true;
      streamEvents.push({ start, end: nowMs(), ...event });
      resolve();
    };
    const req = request({ ...target, path: '/version', agent: false, rejectUnauthorized: false, servername, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          done({ ok: res.statusCode === 200, name: (JSON.parse(body) as { name: string }).name });
        } catch {
          done({ ok: false, error: `unreadable answer (${res.statusCode})` });
        }
      });
      res.on('error', (err) => done({ ok: false, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => done({ ok: false, error: err.message }));
    req.end();
  });
}

serveOps<GeneratorOps>({
  bulk,
  upload,
  rtt,
  cps,
  idleOpen,
  idleClose,
  streamStart: ({ intervalMs, timeoutMs, servername, ...target }) => {
    streamEvents = [];
    inFlight = new Set();
    // Open loop: a new connection every interval whatever happens to the previous ones.
    streamTimer = setInterval(() => {
      const p = streamRequest(target, timeoutMs, servername).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }, intervalMs);
    return {};
  },
  streamStop: async () => {
    clearInterval(streamTimer);
    await Promise.all([...inFlight]);
    return { events: streamEvents.sort((a, b) => a.start - b.start) };
  },
});
