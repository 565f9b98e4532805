import { createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { adoptAccepted } from '../../src/loadbalancer/accepted-socket.js';
import { closeServer, connectTo, listen, loopback } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitFor, waitForEvent } from '../harness/wait.js';

// The client side of the data path reads into the proxy's own buffers only if the accepted socket can be
// adopted. These tests pin that it is on the Node that runs them (a Node upgrade that changes how
// servers build accepted sockets fails here, rather than silently falling back to 'data' events).

/** A connected client and the server's end of it, accepted paused unless `flowing`. */
async function acceptedPair(flowing = false): Promise<{ client: Socket; accepted: Socket }> {
  const server = createServer({ pauseOnConnect: !flowing, allowHalfOpen: true });
  const port = await listen(server, loopback(5));
  const arrived = waitForEvent<Socket>(server, 'connection', 'the accepted socket');
  const client = await connectTo(loopback(5), port);
  client.on('error', () => undefined);
  const accepted = await arrived;
  onTestFinished(() => {
    client.destroy();
    accepted.destroy();
    return closeServer(server);
  });
  return { client, accepted };
}

describe('adoptAccepted', () => {
  it('adopts a paused accepted socket: its reads land in the given buffer, writes and half-close still work', async () => {
    const { client, accepted } = await acceptedPair();
    const buffer = Buffer.alloc(8);
    const reads: string[] = [];
    const adopted = adoptAccepted(accepted, {
      buffer,
      callback: (n: number, into: Buffer) => {
        expect(into).toBe(buffer); // our buffer, not one allocated per read
        reads.push(into.toString('latin1', 0, n));
        return true;
      },
    });
    expect(adopted).toBeDefined();
    const socket = adopted as Socket;
    onTestFinished(() => void socket.destroy());
    const ended = waitForEvent(socket, 'end', 'the client end');
    socket.resume(); // paused as accepted, until told
    client.end('hello, adopted socket');
    await ended;
    expect(reads.join('')).toBe('hello, adopted socket');
    expect(reads.length).toBeGreaterThan(1); // an 8-byte buffer: several reads into the same memory
    socket.end('and back\n');
    expect(await readLine(client)).toBe('and back');
    expect(socket.bytesRead).toBe('hello, adopted socket'.length);
  });

  it('leaves a socket that is already flowing alone: the caller reads it through data events', async () => {
    const { client, accepted } = await acceptedPair(true);
    expect(adoptAccepted(accepted, { buffer: Buffer.alloc(8), callback: () => true })).toBeUndefined();
    const got: Buffer[] = [];
    accepted.on('data', (d: Buffer) => got.push(d));
    client.write('still readable');
    await waitFor(() => Buffer.concat(got).toString() === 'still readable', { description: 'the bytes', pollMs: 5 });
  });
});
