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
 * A port that was free a moment ago on `host`, for tests that must bind the same fixed port twice
 * (port taken then freed, restart on the same address). Prefer port 0 everywhere else.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  const port = await listen(server, host, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
