import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/** The n-th loopback address, `127.0.0.n` (Linux routes all of 127/8 to lo: distinct hosts for free). */
export function loopback(n: number): string {
  return `127.0.0.${n}`;
}

/**
 * Listen on `host:port` (0 = ephemeral) and resolve with the bound port; rejects on EADDRINUSE etc.
 * The accept backlog is large so bursts of hundreds of connects are not dropped (and retried a second later).
 */
export function listen(server: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, backlog: 4096 }, () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Close a server (stop accepting); resolves once the listening socket is released. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * A port that was free a moment ago on `host` (ephemeral, then closed). Racy: anything on the machine
 * may take it before it is bound again, so tests use {@link fixedPort} or {@link refusingPort}; this is
 * left for the benchmarks, which run alone.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  const port = await listen(server, host, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A random loopback address of the test's own, `127.a.b.c` with a ≥ 1 (`127.0.0.n` is {@link loopback}'s,
 * shared by every test): for servers bound on a known port more than once (restarted, moved back, or
 * told a port from {@link fixedPort}). Nothing else on the machine binds it, so no collision.
 */
export function randomLoopback(): string {
  const octet = (min: number): number => min + Math.floor(Math.random() * (255 - min));
  return `127.${octet(1)}.${octet(0)}.${octet(1)}`;
}

/** First port of the kernel's ephemeral range (port-0 binds and outgoing connections take theirs there). */
const EPHEMERAL_LOW = ((): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768; // not Linux: the IANA range starts at 49152, so this is below it too
  }
})();

/** Ports handed out by {@link fixedPort} in this process, per host: never the same one twice. */
const handedOut = new Map<string, Set<number>>();

/**
 * A port for a test that must name it before binding it (a child process told where to listen, a port
 * taken then freed, a listener moved back): a random one below the kernel's ephemeral range, bindable on
 * `host` right now. Below that range nothing gets it by chance (port-0 listeners and outgoing
 * connections take theirs from the range: what made "bind port 0, close, bind again later" racy), so only
 * a test that picks the same number on the same host could take it: give it a {@link randomLoopback}
 * host where the host is free to choose (KubePrism's listener is always on 127.0.0.1). Everywhere else:
 * port 0.
 */
export async function fixedPort(host = '127.0.0.1'): Promise<number> {
  const used = handedOut.get(host) ?? new Set<number>();
  handedOut.set(host, used);
  for (let attempt = 0; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (EPHEMERAL_LOW - 10_000));
    if (used.has(port)) continue;
    used.add(port); // at once: calls running side by side never hand out the same one
    const server = createServer();
    try {
      await listen(server, host, port);
      return port;
    } catch (err) {
      used.delete(port);
      if (attempt >= 50 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    } finally {
      await closeServer(server);
    }
  }
}

/** A port held by the test with nothing listening: see {@link refusingPort}. */
export interface RefusingPort {
  readonly port: number;
  /** Let the port go (the test is over). */
  release(): void;
}

/**
 * One port, on each of `hosts`, where nothing listens (a connect is refused at once) and that the test
 * holds: for addresses that must be unreachable, like fake cluster members (a well-known port such as
 * 6443 may be anybody's). The port is bound (`port`, by default port 0 on the first host and the same
 * number on the others), one connection to it is accepted and kept, and the listener closes: while that
 * connection lives the kernel gives the port to no port-0 bind on those hosts.
 */
export async function refusingPort(hosts: readonly string[], wanted = 0): Promise<RefusingPort> {
  for (let attempt = 0; ; attempt++) {
    const held: Socket[] = [];
    const release = (): void => held.forEach((s) => s.destroy());
    try {
      let port = wanted;
      for (const host of hosts) {
        const server = createServer();
        port = await listen(server, host, port);
        const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
        held.push(await connectTo(host, port), await accepted);
        server.close(); // stops listening now; the kept connection stays
        for (const s of held) s.on('error', () => undefined);
      }
      return { port, release };
    } catch (err) {
      release();
      if (wanted !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

/** Hold `host:port` with a bare listener (to make it "taken"); close the returned server to free it. */
export async function occupyPort(host: string, port: number): Promise<Server> {
  const server = createServer((s) => s.destroy());
  await listen(server, host, port);
  return server;
}

/** True when this machine can bind [::1] (containers often have IPv6 disabled). */
export async function ipv6LoopbackAvailable(): Promise<boolean> {
  const server = createServer();
  try {
    await listen(server, '::1', 0);
    return true;
  } catch {
    return false;
  } finally {
    await closeServer(server);
  }
}

/** Connect to `host:port` and resolve once connected (allowHalfOpen so tests can half-close). */
export function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A listener that accepts nothing: see {@link unacceptingListener}. */
export interface UnacceptingListener {
  readonly host: string;
  readonly port: number;
  /** Stop it (its queued connections are reset). */
  close(): Promise<void>;
}

/**
 * A listener on `host` (ephemeral port) that never accepts, with a backlog of 1: the kernel completes
 * two handshakes into its accept queue, and after that a connect to it hangs unanswered (the SYN is
 * dropped) — a dial that never completes, on loopback. It lives in a worker thread whose event loop is
 * blocked, so nothing ever accepts. The test fills the queue itself (`connectTo`) as it needs.
 */
export async function unacceptingListener(host: string): Promise<UnacceptingListener> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ host: workerData.host, port: 0, backlog: 1, exclusive: true }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData.stop, 0, 0); // blocked: the accept callback never runs
       server.close();
       parentPort.close();
     });`,
    { eval: true, workerData: { host, stop } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    host,
    port,
    async close() {
      Atomics.store(stop, 0, 1);
      Atomics.notify(stop, 0);
      await worker.terminate();
    },
  };
}
