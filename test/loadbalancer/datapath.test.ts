import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testCertificate } from '../harness/certs.js';
import { FakeClock } from '../harness/fake-clock.js';
import { tlsConnectTo } from '../harness/fake-apiserver.js';
import { PatternVerifier, writePattern } from '../harness/pattern.js';
import { connectTo } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitFor, waitForEvent, waitForSnapshot } from '../harness/wait.js';
import { allHealthy, lbPort, startApi, startLb, startTcp } from './fixtures.js';

// The proxy's data path against plain TCP servers on 127.0.0.2; `tcp` checks keep the setup cheap.

/** A client through the balancer, destroyed when the test ends. */
async function client(port: number): Promise<Socket> {
  const s = await connectTo('127.0.0.1', port);
  s.on('error', () => undefined);
  onTestFinished(() => void s.destroy());
  return s;
}

/** Collect everything `socket` sends until it ends. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
    socket.resume();
  });
}

describe('data path', () => {
  it('passes TLS through untouched: the client sees the upstream certificate', async () => {
    const api = await startApi('a', 2);
    const lb = startLb();
    lb.setUpstreams([api.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const tls = await tlsConnectTo('127.0.0.1', port);
    onTestFinished(() => void tls.destroy());
    const seen = tls.getPeerX509Certificate()?.fingerprint256;
    expect(seen).toBe(new X509Certificate((await testCertificate()).cert).fingerprint256);
  });

  it('forwards a half-close from the client: the upstream still answers after the FIN', async () => {
    const echo = await startTcp('echo', 2); // greets, echoes, ends after the client ends
    const lb = startLb({ healthCheck: { mode: 'tcp' } });
    lb.setUpstreams([echo.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const c = await client(port);
    const all = readAll(c);
    c.end('hello after which I write no more\n');
    expect(await all).toBe('echo\nhello after which I write no more\n');
  });

  it('forwards a half-close from the upstream: the client can still send after the FIN', async () => {
    let received: string | undefined;
    const closer = await startTcp('closer', 2, {
      handler: (socket) => {
        socket.end('bye\n'); // the upstream closes its sending side at once…
        // …and keeps listening (health-check connections say nothing, or reset).
        readAll(socket).then(
          (text) => void (text && (received = text)),
          () => undefined,
        );
      },
    });
    const lb = startLb({ healthCheck: { mode: 'tcp' } });
    lb.setUpstreams([closer.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const c = await client(port);
    expect(await readAll(c)).toBe('bye\n'); // the upstream's FIN reached the client
    c.end('late words\n'); // and the client's side was still open
    expect(await waitFor(() => received, { description: 'the words to reach the upstream', pollMs: 5 })).toBe('late words\n');
  });

  it.each(['upstream → slow client', 'client → slow upstream'] as const)(
    'backpressure %s: bounded buffers, then every byte arrives',
    async (direction) => {
      const TOTAL = 64 * 1024 * 1024;
      const downstream = direction === 'upstream → slow client';
      let serverSocket: Socket | undefined;
      const server = await startTcp('bulk', 2, {
        handler: (socket) => {
          // Health checks connect too: the test's connection is the one that says hello first.
          socket.once('readable', () => {
            if (socket.read(1)?.toString() !== 'H') return;
            serverSocket = socket;
            if (downstream) void writePattern(socket, 1, TOTAL).catch(() => undefined);
            // else: not read any further until the test says so
          });
        },
      });
      const lb = startLb({ healthCheck: { mode: 'tcp' } });
      lb.setUpstreams([server.endpoint]);
      const port = await lbPort(lb);
      await allHealthy(lb, 1);
      const c = await client(port); // never read until resumed below
      c.write('H');
      const writer = downstream ? () => serverSocket : () => c;
      if (!downstream) void writePattern(c, 1, TOTAL).catch(() => undefined);
      await waitFor(() => serverSocket, { description: 'the upstream connection', pollMs: 5 });
      // The writer is held back once the kernel buffers and the proxy's small stream buffers are full:
      // the bytes it has handed over stop growing, and the proxy holds a bounded amount.
      let last = -1;
      let stable = 0;
      let maxBuffered = 0;
      await waitFor(
        () => {
          maxBuffered = Math.max(maxBuffered, lb.snapshot().connections.bufferedBytes);
          const w = writer() as Socket;
          const handed = w.bytesWritten - w.writableLength;
          stable = handed === last && w.writableLength > 0 ? stable + 1 : 0;
          last = handed;
          return stable >= 10;
        },
        { description: 'the writer to be held back', pollMs: 20, timeoutMs: 10_000 },
      );
      console.info(
        `${direction}: writer held back after ${(last / 2 ** 20).toFixed(1)} MiB of 64; proxy buffered at most ${(maxBuffered / 1024).toFixed(0)} KiB`,
      );
      expect(last).toBeLessThan(TOTAL / 2); // nothing buffers the whole stream
      expect(maxBuffered).toBeLessThan(1024 * 1024); // the proxy's own buffers stay small
      const verifier = new PatternVerifier(1, TOTAL);
      const reader = downstream ? c : (serverSocket as Socket);
      reader.on('data', (d: Buffer) => verifier.push(d));
      reader.resume();
      await waitFor(() => verifier.complete || verifier.error, { description: 'all 64 MiB to arrive', pollMs: 20, timeoutMs: 20_000 });
      expect(verifier.error).toBeUndefined();
    },
  );

  it('closes a connection whose upstream stops taking data once the stall timeout has passed (stall detection)', async () => {
    const sink = await startTcp('sink', 2, { handler: () => undefined }); // accepts, never reads
    const clock = new FakeClock(); // real sockets, fake time: the stall timeout passes when the test says
    const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 60_000 }, stallTimeoutMs: 1_000 }, { clock });
    lb.setUpstreams([sink.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const c = await client(port);
    const closed = waitForEvent(c, 'close', 'the stalled connection to be closed');
    void writePattern(c, 1, 64 * 1024 * 1024).catch(() => undefined);
    // Backed up at the proxy: the kernel buffers toward the sink are full, nothing moves any more.
    await waitForSnapshot(lb, (x) => x.connections.bufferedBytes >= 16 * 1024, 'the writes to back up');
    // Sweeps every 250 ms: the first one notes the queued data, and it has been stuck 750 ms by 1 s.
    await clock.advance(1_000);
    expect(lb.snapshot().connections).toMatchObject({ active: 1, stalled: 0 });
    await clock.advance(250);
    expect(lb.snapshot().connections.stalled).toBe(1); // closed by that sweep
    await closed;
    await waitForSnapshot(lb, (x) => x.connections.active === 0, 'the connection to be gone');
  });

  it('refuses connections over the limit at once and counts them', async () => {
    const echo = await startTcp('echo', 2);
    const lb = startLb({ healthCheck: { mode: 'tcp' }, maxConnections: 3 });
    lb.setUpstreams([echo.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const held = [await client(port), await client(port), await client(port)];
    for (const h of held) expect(await readLine(h)).toBe('echo');
    const over = await client(port);
    expect(await readAll(over)).toBe(''); // closed without a byte
    expect(lb.snapshot().connections).toMatchObject({ active: 3, refused: 1 });
    (held[0] as Socket).destroy();
    await waitForSnapshot(lb, (s) => s.connections.active === 2, 'a slot to free up');
    expect(await readLine(await client(port))).toBe('echo');
  });
});
