/**
 * Benchmark upstream (a forked worker): a plain TCP server whose first byte of each connection picks
 * the mode — `D` streams data until the client leaves (download throughput), `U` reads everything and
 * answers the byte count (8 bytes, big-endian) when the client ends (upload throughput), `E` echoes
 * everything (round trips, connection rate), `I` answers one byte then holds the connection idle (memory
 * per connection).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { serveOps } from './lib/ipc.js';

/** Operations of the upstream worker. */
export type UpstreamOps = {
  start: { args: { host: string }; result: { port: number } };
  stop: { args: Record<string, never>; result: { connections: number } };
};

const BLOCK = Buffer.alloc(256 * 1024, 'kubeprism-bench ');
let server: Server | undefined;
let connections = 0;

function stream(socket: Socket): void {
  const pump = (): void => {
    while (!socket.destroyed && socket.write(BLOCK));
  };
  socket.on('drain', pump);
  socket.pause(); // nothing more is read from a streaming client
  pump();
}

/** Count what the client uploads (the first chunk included), and answer the count at its end. */
function sink(socket: Socket, first: Buffer): void {
  let received = first.length;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.once('end', () => {
    const answer = Buffer.alloc(8);
    answer.writeBigUInt64BE(BigInt(received));
    socket.end(answer);
  });
}

function onConnection(socket: Socket): void {
  connections++;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.once('data', (first: Buffer) => {
    const mode = first[0];
    // Half-open is allowed for the upload sink's answer; every other mode ends with its client.
    if (mode !== 0x55 /* U */) socket.once('end', () => socket.end());
    if (mode === 0x44 /* D */) return stream(socket);
    if (mode === 0x55 /* U */) return sink(socket, first);
    if (mode === 0x49 /* I */) {
      socket.write('i');
      return;
    }
    // Echo: the first chunk, then everything after it.
    socket.write(first);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
}

serveOps<UpstreamOps>({
  // A fresh port each time: connections closed in earlier runs leave TIME_WAIT entries on the old
  // address, and tens of thousands of them make every connect() toward it search for a free port.
  start: ({ host }) =>
    new Promise((resolve, reject) => {
      server?.close();
      server = createServer({ noDelay: true, allowHalfOpen: true }, onConnection);
      server.once('error', reject);
      server.listen({ host, port: 0, backlog: 4096 }, () => resolve({ port: (server?.address() as AddressInfo).port }));
    }),
  stop: () =>
    new Promise((resolve) => {
      if (!server) return resolve({ connections });
      server.close(() => resolve({ connections }));
    }),
});
