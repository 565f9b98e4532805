import type { Socket } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import { LoadBalancerMetrics } from '../../src/loadbalancer/metrics.js';
import { REPLAY_LIMIT_BYTES } from '../../src/loadbalancer/replay.js';
import { FakeClock } from '../harness/fake-clock.js';
import { httpsGet, whoAnswers } from '../harness/fake-apiserver.js';
import { patternChunk } from '../harness/pattern.js';
import { connectTo } from '../harness/ports.js';
import type { TcpTestServer } from '../harness/tcp-server.js';
import { waitFor, waitForEvent, waitForSnapshot, waitForUpstream } from '../harness/wait.js';
import { addressOf, allHealthy, lbPort, startApi, startLb, startTcp } from './fixtures.js';

// A connection whose upstream stays silent after the client spoke moves to the next upstream, replayed.
// Plain TCP upstreams with `tcp` checks (which connect and leave without a byte) unless said otherwise.
// Real sockets, fake time: the balancer runs on a FakeClock, so a deadline passes when the test says so
// (`clock.advance`), never by sleeping; the test first waits (for real) until the proxy has forwarded the
// client's bytes, which is when the wait for an answer starts.

/** Longest period of the deadline sweep: advancing this much past a deadline lets a sweep see it. */
const SWEEP_MS = 250;

/** A TCP upstream that records what each client connection sent and never answers. */
async function startSilent(n: number): Promise<{ server: TcpTestServer; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = await startTcp('silent', n, {
    handler: (socket) => {
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.resume();
    },
  });
  return { server, received: () => Buffer.concat(chunks) };
}

/**
 * A TCP upstream that echoes every byte as it arrives (once `answering` resolves, for the first one) and
 * ends after the client ends; it records what it received and whether the end came.
 */
async function startEcho(
  n: number,
  answering: Promise<unknown> = Promise.resolve(),
): Promise<{ server: TcpTestServer; received: () => Buffer; ended: () => boolean }> {
  const chunks: Buffer[] = [];
  let ended = false;
  const server = await startTcp('echo', n, {
    handler: (socket) => {
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        void answering.then(() => socket.write(d));
      });
      socket.on('end', () => {
        ended = true;
        void answering.then(() => socket.end());
      });
      socket.resume();
    },
  });
  return { server, received: () => Buffer.concat(chunks), ended: () => ended };
}

/** A client through the balancer collecting what it receives, destroyed when the test ends. */
async function client(port: number): Promise<{ socket: Socket; received: () => Buffer; ended: Promise<unknown> }> {
  const socket = await connectTo('127.0.0.1', port);
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const ended = waitForEvent(socket, 'end', 'the end from the balancer');
  ended.catch(() => undefined); // awaited by the tests that expect an end; the others never see it
  return { socket, received: () => Buffer.concat(chunks), ended };
}

/** A balancer on a fake clock with `tcp` checks and the given first-byte timeout over `upstreams`. */
async function balancer(
  firstByteTimeoutMs: number,
  upstreams: TcpTestServer[],
): Promise<{ lb: LoadBalancer; port: number; clock: FakeClock }> {
  const clock = new FakeClock();
  const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 60_000 }, firstByteTimeoutMs }, { clock });
  lb.setUpstreams(upstreams.map((u) => u.endpoint));
  const port = await lbPort(lb);
  await allHealthy(lb, upstreams.length);
  return { lb, port, clock };
}

/**
 * Add `extra` to the balancer's upstreams (after a client is on the first one), and wait for its first
 * check to end: fake time must not pass while a check is in flight, or the check would time out.
 */
async function addUpstream(lb: LoadBalancer, first: TcpTestServer, extra: TcpTestServer): Promise<void> {
  lb.setUpstreams([first.endpoint, extra.endpoint]);
  await waitForUpstream(lb, addressOf(extra), (u) => u.score !== 0, 'its first check');
}

/** Wait until `server` has received `bytes` from the balancer: the proxy has read and kept them. */
function waitForBytes(server: { received: () => Buffer }, bytes: number): Promise<unknown> {
  return waitFor(() => server.received().length >= bytes || undefined, { description: `${bytes} bytes at the upstream`, pollMs: 5 });
}

const request = patternChunk(7, 0).subarray(0, 60 * 1024);

describe('retry on the next upstream when the first byte never comes', () => {
  it('TLS through a black hole still marked healthy: every connection succeeds elsewhere, the hole is marked down', async () => {
    const hole = await startApi('hole', 2);
    const b = await startApi('b', 3);
    const registry = new Registry();
    const clock = new FakeClock();
    // Checks every minute: only the data path can find the hole. Default first-byte timeout (1 s).
    const lb = startLb({ healthCheck: { intervalMs: 60_000 } }, { metrics: new LoadBalancerMetrics(registry), clock });
    lb.setUpstreams([hole.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    hole.blackHole = true;
    // Equal upstreams, none used yet: the first connection goes to the first one, the hole.
    const first = whoAnswers('127.0.0.1', port);
    await waitForUpstream(lb, addressOf(hole), (u) => u.bytesOut > 0, 'the ClientHello forwarded');
    await clock.advance(999);
    expect(lb.snapshot().connections.retried).toBe(0); // not before its time
    await clock.advance(1 + SWEEP_MS);
    expect(lb.snapshot().connections.retried).toBe(1); // moved by that sweep, not by the time the test takes
    expect(await first).toBe('b');
    // The hole is down now: a burst goes to b at once.
    expect(await Promise.all(Array.from({ length: 7 }, () => whoAnswers('127.0.0.1', port)))).toEqual(Array(7).fill('b'));
    const s = lb.snapshot();
    const down = s.upstreams.find((u) => u.address === addressOf(hole));
    expect(down).toMatchObject({ healthy: false, lastError: 'no answer within 1000 ms', dialFailures: 1, activeConnections: 0 });
    expect(s.connections).toMatchObject({ failed: 0, retried: 1 });
    expect(hole.requestCount('/readyz')).toBe(1); // the first check only: no check saved the day
    const text = await registry.metrics();
    expect(text).toContain('kubeprism_connections_retried_total 1');
    expect(text).toContain(`kubeprism_upstream_dial_failures_total{upstream="${addressOf(hole)}"} 1`);
  });

  it('replays the bytes exactly, also those sent while waiting and after the move, and the answer comes back whole', async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const { lb, port, clock } = await balancer(300, [silent.server]);
    const c = await client(port);
    c.socket.write(request.subarray(0, 20 * 1024));
    await addUpstream(lb, silent.server, echo.server);
    await waitForBytes(silent, 20 * 1024);
    await clock.advance(100);
    c.socket.write(request.subarray(20 * 1024, 40 * 1024)); // still unanswered: kept too
    await waitForBytes(silent, 40 * 1024);
    await clock.advance(199); // 299 ms since the client spoke
    expect(lb.snapshot().connections.retried).toBe(0);
    await clock.advance(1 + SWEEP_MS);
    expect(lb.snapshot().connections.retried).toBe(1);
    await waitFor(() => c.received().length > 0, { description: 'the first echo', pollMs: 5 });
    c.socket.write(request.subarray(40 * 1024)); // after the move: straight through
    await waitFor(() => c.received().length === request.length, { description: 'the whole echo', pollMs: 5 });
    expect(echo.received().equals(request)).toBe(true);
    expect(c.received().equals(request)).toBe(true);
    expect(silent.received().equals(request.subarray(0, 40 * 1024))).toBe(true);
    const s = lb.snapshot();
    expect(s.upstreams[0]).toMatchObject({ healthy: false, lastError: 'no answer within 300 ms', activeConnections: 0 });
    expect(s.upstreams[1]).toMatchObject({ activeConnections: 1 });
    expect(s.connections).toMatchObject({ failed: 0, retried: 1 });
  });

  it('a client that half-closed before any answer: the end is replayed after the bytes', async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const { lb, port, clock } = await balancer(300, [silent.server]);
    const c = await client(port);
    c.socket.end(request.subarray(0, 1000)); // FIN right after the request
    await addUpstream(lb, silent.server, echo.server);
    await waitForBytes(silent, 1000);
    await clock.advance(300 + SWEEP_MS);
    expect(lb.snapshot().connections.retried).toBe(1);
    await c.ended; // the echo server ends only after the client's end reached it
    expect(echo.ended()).toBe(true);
    expect(echo.received().equals(request.subarray(0, 1000))).toBe(true);
    expect(c.received().equals(request.subarray(0, 1000))).toBe(true);
    await waitForSnapshot(lb, (s) => s.connections.active === 0, 'the connection to finish');
    expect(lb.snapshot().connections).toMatchObject({ failed: 0, retried: 1 });
  });

  it('once the upstream has answered, nothing is kept: an upstream that then goes silent is not retried', async () => {
    const chunks: Buffer[] = [];
    const talker = await startTcp('talker', 2, {
      handler: (socket) => {
        socket.once('data', () => socket.write('ok\n')); // one answer, then silence
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.resume();
      },
    });
    const echo = await startEcho(3);
    const { lb, port, clock } = await balancer(200, [talker]);
    const c = await client(port);
    c.socket.write('hello\n');
    await addUpstream(lb, talker, echo.server);
    await waitFor(() => c.received().toString() === 'ok\n', { description: 'the answer', pollMs: 5 });
    c.socket.write('more\n');
    await waitFor(() => Buffer.concat(chunks).toString() === 'hello\nmore\n' || undefined, {
      description: 'more at the talker',
      pollMs: 5,
    });
    await clock.advance(600); // three timeouts
    expect(echo.received().length).toBe(0);
    expect(c.received().toString()).toBe('ok\n');
    const s = lb.snapshot();
    expect(s.upstreams[0]).toMatchObject({ healthy: true, activeConnections: 1, dialFailures: 0 });
    expect(s.connections).toMatchObject({ active: 1, retried: 0 });
  });

  it(`past ${REPLAY_LIMIT_BYTES / 1024} KiB unanswered there is no retry: the connection stays where it is`, async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const { lb, port, clock } = await balancer(200, [silent.server]);
    const c = await client(port);
    const big = Buffer.concat([patternChunk(8, 0), patternChunk(8, 1)]).subarray(0, REPLAY_LIMIT_BYTES + 1);
    c.socket.write(big);
    await addUpstream(lb, silent.server, echo.server);
    await waitForBytes(silent, big.length);
    await clock.advance(600);
    expect(silent.received().equals(big)).toBe(true);
    expect(echo.received().length).toBe(0);
    const s = lb.snapshot();
    expect(s.upstreams[0]).toMatchObject({ healthy: true, activeConnections: 1, dialFailures: 0 });
    expect(s.connections).toMatchObject({ active: 1, retried: 0 });
    expect(c.socket.destroyed).toBe(false);
  });

  it('firstByteTimeoutMs: 0 disables the retry', async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const { lb, port, clock } = await balancer(0, [silent.server]);
    const c = await client(port);
    c.socket.write('hello\n');
    await addUpstream(lb, silent.server, echo.server);
    await waitForBytes(silent, 6);
    await clock.advance(1_300); // past the 1 s default
    expect(silent.received().toString()).toBe('hello\n');
    expect(echo.received().length).toBe(0);
    expect(lb.snapshot().upstreams[0]).toMatchObject({ healthy: true, activeConnections: 1 });
    expect(lb.snapshot().connections.retried).toBe(0);
  });

  it('with no other upstream left, the connection waits for a slow one, which is not marked down', async () => {
    let answer = (): void => undefined;
    const slow = await startEcho(2, new Promise<void>((resolve) => (answer = resolve)));
    const { lb, port, clock } = await balancer(200, [slow.server]);
    const c = await client(port);
    c.socket.write('hello\n');
    await waitForBytes(slow, 6);
    await clock.advance(200 + SWEEP_MS); // past the deadline: nowhere else to go
    expect(lb.snapshot().connections).toMatchObject({ active: 1, retried: 0 });
    answer();
    await waitFor(() => c.received().toString() === 'hello\n', { description: 'the slow answer', pollMs: 5 });
    expect(lb.snapshot().upstreams[0]).toMatchObject({ healthy: true, dialFailures: 0 });
    expect(lb.snapshot().connections).toMatchObject({ failed: 0, retried: 0 });
  });

  it('when the next upstream refuses and none is left, the client fails as a failed dial would', async () => {
    const silent = await startSilent(2);
    const gone = await startEcho(3);
    await gone.server.stop();
    const { lb, port, clock } = await balancer(200, [silent.server]);
    const c = await client(port);
    c.socket.write('hello\n');
    await addUpstream(lb, silent.server, gone.server);
    await waitForBytes(silent, 6);
    await clock.advance(200 + SWEEP_MS);
    expect(lb.snapshot().connections.retried).toBe(1);
    await c.ended; // given up: the proxy closed it without a byte
    expect(c.received().length).toBe(0);
    const s = await waitForSnapshot(lb, (x) => x.connections.active === 0, 'the connection gone');
    expect(s.connections).toMatchObject({ failed: 1, retried: 1 });
    expect(s.upstreams.map((u) => u.healthy)).toEqual([false, false]);
  });

  it('an upstream removed while a connection waits for its answer: the connection moves instead of closing', async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const { lb, port } = await balancer(60_000, [silent.server]); // no deadline will do it
    const c = await client(port);
    c.socket.write('hello\n');
    await waitForBytes(silent, 6);
    lb.setUpstreams([echo.server.endpoint]);
    await waitFor(() => c.received().toString() === 'hello\n', { description: 'the answer from the new upstream', pollMs: 5 });
    expect(lb.snapshot().connections).toMatchObject({ active: 1, retried: 1, failed: 0 });
  });

  it('TLS: a request in flight through the balancer never goes twice (the answered connection is never moved)', async () => {
    const a = await startApi('a', 2, { answerDelayMs: 300 }); // answers requests slowly, handshakes at once
    const b = await startApi('b', 3);
    const clock = new FakeClock();
    const lb = startLb({ healthCheck: { mode: 'tls', intervalMs: 60_000 }, firstByteTimeoutMs: 200 }, { clock });
    lb.setUpstreams([a.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 1);
    const answer = httpsGet('127.0.0.1', port, '/slow');
    await waitFor(() => a.requestCount('/slow') === 1 || undefined, { description: 'the request at a', pollMs: 5 });
    lb.setUpstreams([a.endpoint, b.endpoint]);
    await allHealthy(lb, 2);
    await clock.advance(1_000); // five first-byte timeouts while the request waits for its answer
    expect(lb.snapshot().connections.retried).toBe(0);
    expect(JSON.parse((await answer).body)).toMatchObject({ name: 'a' });
    expect(b.requestCount('/slow')).toBe(0);
    expect(lb.snapshot().upstreams[0]).toMatchObject({ healthy: true, dialFailures: 0 });
  });
});

/**
 * A TCP upstream that keeps the connections that spoke (health checks say nothing) until the test makes
 * it `answer` them (`ok`) or `close` them, by reset or by end.
 */
async function startCloser(
  n: number,
  how: 'reset' | 'end',
): Promise<{ server: TcpTestServer; received: () => string; answer: () => void; close: () => void }> {
  let chunks = '';
  const talking: Socket[] = [];
  const server = await startTcp('closer', n, {
    handler: (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => talking.push(socket));
      socket.on('data', (d: Buffer) => (chunks += d.toString()));
      socket.resume();
    },
  });
  return {
    server,
    received: () => chunks,
    answer: () => talking.forEach((s) => s.write('ok\n')),
    close: () => talking.forEach((s) => (how === 'reset' ? s.resetAndDestroy() : s.end())),
  };
}

/** The first bytes of a TLS handshake record and a little more: what a TLS client sends first. */
const HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x06]), Buffer.from('hello\n')]);

describe('retry on the next upstream when the upstream closes a TLS handshake before its first byte', () => {
  it('TLS: a server that resets every handshake still passes tcp checks: every connection is answered elsewhere', async () => {
    const dying = await startApi('dying', 2, { resetOnClientHello: true });
    const b = await startApi('b', 3);
    // On a fake clock every check measures 0 ms: one tier for both, whatever the machine's load (sub-ms
    // tcp checks could otherwise split them into two tiers, and then the dying one gets nothing).
    const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 60_000 } }, { clock: new FakeClock() });
    lb.setUpstreams([dying.endpoint, b.endpoint]);
    const port = await lbPort(lb);
    await allHealthy(lb, 2);
    const answers = await Promise.all(Array.from({ length: 8 }, () => whoAnswers('127.0.0.1', port)));
    expect(answers).toEqual(Array(8).fill('b'));
    const s = lb.snapshot();
    const retried = s.connections.retried;
    expect(retried).toBeGreaterThan(0); // fewest connections first: some of the 8 went to the dying one
    expect(s.connections.failed).toBe(0);
    expect(s.upstreams.find((u) => u.address === addressOf(dying))).toMatchObject({ healthy: true, dialFailures: retried });
  });

  /** A client on `closer` (its only upstream) whose request reached it; then `echo` is added and healthy. */
  async function onCloserThenEcho(closer: Awaited<ReturnType<typeof startCloser>>, send: (s: Socket) => void) {
    const echo = await startEcho(3);
    const { lb, port } = await balancer(60_000, [closer.server]); // the silence sweep stays out of it
    const c = await client(port);
    send(c.socket);
    await waitFor(() => closer.received().length > 0 || undefined, { description: 'the request at the first upstream', pollMs: 5 });
    await addUpstream(lb, closer.server, echo.server);
    await allHealthy(lb, 2);
    return { lb, c, echo };
  }

  for (const how of ['reset', 'end'] as const) {
    it(`an upstream that ${how === 'reset' ? 'resets' : 'ends'} without a byte: the request is replayed on the next one`, async () => {
      const closer = await startCloser(2, how);
      const { lb, c, echo } = await onCloserThenEcho(closer, (s) => s.write(HELLO));
      closer.close();
      await waitFor(() => c.received().equals(HELLO) || undefined, { description: 'the answer from the next upstream', pollMs: 5 });
      expect(echo.received().equals(HELLO)).toBe(true);
      const s = lb.snapshot();
      // One connection closed is not the upstream down: its checks decide that.
      expect(s.upstreams[0]).toMatchObject({ healthy: true, dialFailures: 1, activeConnections: 0 });
      expect(s.upstreams[1]).toMatchObject({ activeConnections: 1 });
      expect(s.connections).toMatchObject({ retried: 1, failed: 0, active: 1 });
    });
  }

  it('a reset after the first byte reaches the client: nothing moves', async () => {
    const closer = await startCloser(2, 'reset');
    const { lb, c, echo } = await onCloserThenEcho(closer, (s) => s.write(HELLO));
    closer.answer();
    await waitFor(() => c.received().toString() === 'ok\n' || undefined, { description: 'the answer at the client', pollMs: 5 });
    closer.close();
    await c.ended; // the proxy closes the client when its upstream resets
    expect(c.received().toString()).toBe('ok\n');
    expect(echo.received().length).toBe(0);
    expect(lb.snapshot().connections).toMatchObject({ retried: 0 });
  });

  it('an end after the client ended is an answer: passed on, not retried', async () => {
    const closer = await startCloser(2, 'end');
    const { lb, c, echo } = await onCloserThenEcho(closer, (s) => s.end(HELLO));
    closer.close();
    await c.ended;
    expect(c.received().length).toBe(0);
    expect(echo.received().length).toBe(0);
    expect(lb.snapshot().connections).toMatchObject({ retried: 0 });
  });

  it('a client not speaking TLS gets the reset as it is: its request may have been acted on', async () => {
    const closer = await startCloser(2, 'reset');
    const { lb, c, echo } = await onCloserThenEcho(closer, (s) => s.write('POST /apply\n'));
    closer.close();
    await c.ended;
    expect(c.received().length).toBe(0);
    expect(echo.received().length).toBe(0);
    expect(lb.snapshot().connections).toMatchObject({ retried: 0 });
  });

  it('with no other upstream, the reset reaches the client', async () => {
    const closer = await startCloser(2, 'reset');
    const { lb, port } = await balancer(60_000, [closer.server]);
    const c = await client(port);
    c.socket.write(HELLO);
    await waitFor(() => closer.received().length > 0 || undefined, { description: 'the request at the upstream', pollMs: 5 });
    closer.close();
    await c.ended;
    expect(c.received().length).toBe(0);
    const s = await waitForSnapshot(lb, (x) => x.connections.active === 0, 'the connection gone');
    expect(s.connections).toMatchObject({ retried: 0 });
  });
});

describe('reconfiguration does not hold the deadline sweep back', () => {
  it('the same options applied every 50 ms (as controller rounds do): a silent upstream is still left after its timeout', async () => {
    const silent = await startSilent(2);
    const echo = await startEcho(3);
    const options = { listen: { port: 0 }, healthCheck: { mode: 'tcp' as const, intervalMs: 60_000 }, firstByteTimeoutMs: 1_000 };
    const { lb, port, clock } = await balancer(1_000, [silent.server]);
    const c = await client(port);
    c.socket.write('hello\n');
    await addUpstream(lb, silent.server, echo.server);
    await waitForBytes(silent, 6);
    // Rounds faster than the deadline sweep's 250 ms period: restarting it on each would never let it run.
    for (let t = 0; t < 1_000 + SWEEP_MS; t += 50) {
      lb.configure(options);
      await clock.advance(50);
    }
    expect(lb.snapshot().connections.retried).toBe(1);
    await waitFor(() => c.received().toString() === 'hello\n' || undefined, {
      description: 'the answer from the next upstream',
      pollMs: 5,
    });
    expect(lb.snapshot().connections).toMatchObject({ retried: 1, failed: 0 });
  });
});
