import type { AddressInfo, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CLIENT_SNI, FleetApiServer } from '../../bench/fleet/api-server.js';
import { FleetClient, newCounters, shouldRetry, type AttemptFailure, type ClientOptions } from '../../bench/fleet/client.js';
import { BucketRecorder } from '../../bench/fleet/recorder.js';
import { testCertificate } from '../harness/certs.js';
import { waitFor } from '../harness/wait.js';

/** What the test server does with the n-th request (0-based) on its c-th connection (0-based). */
type Behaviour = (connection: number, request: number) => 'answer' | 'close' | 'silent';

/** A TLS server answering each request (a head ending in a blank line) as `behaviour` says. */
async function scriptedServer(behaviour: Behaviour): Promise<{ port: number; connections: () => number; dropAll: () => void }> {
  const { key, cert } = await testCertificate();
  let connections = 0;
  const raw = new Set<Socket>();
  const server = createServer({ key, cert }, (socket: TLSSocket) => {
    const c = connections++;
    let n = 0;
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        const what = behaviour(c, n++);
        if (what === 'close') socket.destroy();
        else if (what === 'answer') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  server.on('connection', (s: Socket) => {
    raw.add(s);
    s.on('close', () => raw.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const s of raw) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    dropAll: () => {
      for (const s of raw) s.destroy();
    },
  };
}

function client(port: number, timeoutMs = 5_000): { c: FleetClient; counters: ReturnType<typeof newCounters> } {
  const counters = newCounters();
  const options: ClientOptions = { host: '127.0.0.1', port, servername: CLIENT_SNI, timeoutMs };
  const c = new FleetClient(options, counters);
  onTestFinished(() => c.close());
  return { c, counters };
}

describe("fleet client: Go's retry rule", () => {
  it('retries once, only a reused connection closed before any response byte', () => {
    const closed = (reused: boolean, responseStarted = false): AttemptFailure => ({ reason: 'closed', reused, responseStarted });
    expect(shouldRetry(closed(true), 1)).toBe(true);
    expect(shouldRetry(closed(true), 2)).toBe(false); // once
    expect(shouldRetry(closed(false), 1)).toBe(false); // a fresh connection's failure is the caller's
    expect(shouldRetry(closed(true, true), 1)).toBe(false); // part of the answer was there
    expect(shouldRetry({ reason: 'timeout', reused: true, responseStarted: false }, 1)).toBe(false);
    expect(shouldRetry({ reason: 'connect', reused: false, responseStarted: false }, 1)).toBe(false);
    expect(shouldRetry({ reason: 'bad-response', reused: true, responseStarted: true }, 1)).toBe(false);
  });

  it('keeps one connection for successive requests', async () => {
    const server = await scriptedServer(() => 'answer');
    const { c, counters } = client(server.port);
    for (let i = 0; i < 3; i++) expect(await c.request()).toBe(true);
    expect(server.connections()).toBe(1);
    expect(counters).toMatchObject({ requests: 3, ok: 3, failed: 0, retried: 0 });
  });

  it('a reused connection closed when the request arrives: retried on a new one, not failed', async () => {
    // The first connection answers once, then closes on the next request (a balancer closing it at that instant).
    const server = await scriptedServer((conn, req) => (conn === 0 && req === 1 ? 'close' : 'answer'));
    const { c, counters } = client(server.port);
    expect(await c.request()).toBe(true);
    expect(await c.request()).toBe(true);
    expect(server.connections()).toBe(2);
    expect(counters).toMatchObject({ requests: 2, ok: 2, failed: 0, retried: 1 });
  });

  it('fails when the retry fails too, and when a fresh connection is closed before answering', async () => {
    const server = await scriptedServer((conn, req) => (conn === 0 && req === 0 ? 'answer' : 'close'));
    const { c, counters } = client(server.port);
    expect(await c.request()).toBe(true);
    expect(await c.request()).toBe(false); // reused → closed → retried on conn 1 → closed again
    expect(await c.request()).toBe(false); // fresh conn 2 → closed: no retry
    expect(server.connections()).toBe(3);
    expect(counters).toMatchObject({ requests: 3, ok: 1, failed: 2, retried: 1 });
    expect(counters.failures.map((f) => f.reason)).toEqual(['closed', 'closed']);
  });

  it('counts a request that gets no answer within the timeout as failed, without a retry', async () => {
    const server = await scriptedServer((_conn, req) => (req === 0 ? 'answer' : 'silent'));
    const { c, counters } = client(server.port, 300);
    expect(await c.request()).toBe(true);
    expect(await c.request()).toBe(false);
    expect(counters).toMatchObject({ failed: 1, retried: 0 });
    expect(counters.failures[0]?.reason).toBe('timeout');
    expect(c.connected).toBe(false); // the timed-out connection is dropped
  });

  it('re-establishes a connection closed while idle with the next request (no failure, no retry)', async () => {
    const server = await scriptedServer(() => 'answer');
    const { c, counters } = client(server.port);
    expect(await c.request()).toBe(true);
    server.dropAll(); // while idle, as a balancer or a dying server would
    await waitFor(() => !c.connected, { description: 'the client to notice its connection closed', pollMs: 10 });
    expect(await c.request()).toBe(true);
    expect(server.connections()).toBe(2);
    expect(counters).toMatchObject({ requests: 2, ok: 2, failed: 0, retried: 0 });
  });
});

describe('fleet API server', () => {
  it('records handshakes, client requests and open client connections, and comes back on its port after a kill', async () => {
    const { key, cert } = await testCertificate();
    const recorder = new BucketRecorder(['s'], performance.timeOrigin + performance.now());
    const server = new FleetApiServer('s', '127.0.0.1', { key, cert }, recorder);
    await server.start();
    onTestFinished(() => server.kill());
    const { port } = server.endpoint;
    const { c, counters } = client(port);
    expect(await c.request()).toBe(true);
    expect(await c.request()).toBe(true);
    await waitFor(() => recorder.current('s') === 1, { description: 'one open client connection', pollMs: 10 });

    await server.kill();
    await waitFor(() => recorder.current('s') === 0 && !c.connected, { description: 'the connection gone on both sides', pollMs: 10 });
    expect(await c.request()).toBe(false); // nothing listens: a fresh dial fails
    expect(counters.failures.at(-1)?.reason).toBe('connect');

    await server.start();
    expect(server.endpoint.port).toBe(port);
    expect(await c.request()).toBe(true);
    const s = recorder.snapshot(performance.timeOrigin + performance.now() + 100).s;
    const sum = (xs: number[] | undefined): number => (xs ?? []).reduce((a, b) => a + b, 0);
    expect(sum(s?.handshakes)).toBe(2);
    expect(sum(s?.clientHandshakes)).toBe(2);
    expect(sum(s?.requests)).toBe(3);
    expect(s?.open.at(-1)).toBe(1);
  });

  it('answers /readyz with its switchable status and closes health-check connections that ask for it', async () => {
    const { key, cert } = await testCertificate();
    const recorder = new BucketRecorder(['s'], performance.timeOrigin + performance.now());
    const server = new FleetApiServer('s', '127.0.0.1', { key, cert }, recorder);
    await server.start();
    onTestFinished(() => server.kill());
    const { checkReadyz } = await import('../../src/loadbalancer/health-check.js');
    const check = (): Promise<void> => checkReadyz({ ...server.endpoint }, AbortSignal.timeout(5_000));
    await expect(check()).resolves.toBeUndefined();
    server.readyzStatus = 500;
    await expect(check()).rejects.toThrow(/500/);
    const s = recorder.snapshot(performance.timeOrigin + performance.now() + 100).s;
    expect((s?.handshakes ?? []).reduce((a, b) => a + b, 0)).toBe(2);
    expect((s?.clientHandshakes ?? []).reduce((a, b) => a + b, 0)).toBe(0); // health checks send no client SNI
    expect((s?.requests ?? []).reduce((a, b) => a + b, 0)).toBe(0);
  });
});
