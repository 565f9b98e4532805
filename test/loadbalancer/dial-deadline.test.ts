import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { LoadBalancer } from '../../src/loadbalancer/load-balancer.js';
import { FakeClock } from '../harness/fake-clock.js';
import { connectTo, loopback, unacceptingListener, type UnacceptingListener } from '../harness/ports.js';
import { readLine } from '../harness/tcp-server.js';
import { waitForEvent, waitForSnapshot, waitForUpstream } from '../harness/wait.js';
import { addressOf, allHealthy, lbPort, startLb, startTcp } from './fixtures.js';

// A dial that does not complete within dialTimeoutMs counts as failed: the upstream is marked down and
// the connection tries the next candidate. Real sockets, fake time: the dial really hangs (an upstream
// that accepts nothing and whose accept queue is full drops the SYN), and the deadline passes when the
// test advances the balancer's clock.

const DIAL_TIMEOUT_MS = 1_000;
/** The deadline sweep's period for a 1 s dial timeout (a quarter of it, at most 250 ms). */
const SWEEP_MS = 250;

/**
 * An upstream whose next dial hangs, on 127.0.0.2. Its accept queue holds two handshakes: the test takes
 * one, the balancer's first (tcp) check the other, so the check passes and every dial after it hangs.
 */
async function startStuck(): Promise<UnacceptingListener & { endpoint: { host: string; port: number } }> {
  const stuck = await unacceptingListener(loopback(2));
  onTestFinished(() => stuck.close());
  const held = await connectTo(stuck.host, stuck.port);
  onTestFinished(() => void held.destroy());
  return Object.assign(stuck, { endpoint: { host: stuck.host, port: stuck.port } });
}

/** A balancer on a fake clock with tcp checks over `upstreams`, once all are healthy. */
async function balancer(
  upstreams: Array<{ endpoint: { host: string; port: number } }>,
): Promise<{ lb: LoadBalancer; port: number; clock: FakeClock }> {
  const clock = new FakeClock();
  const lb = startLb({ healthCheck: { mode: 'tcp', intervalMs: 60_000 }, dialTimeoutMs: DIAL_TIMEOUT_MS }, { clock });
  lb.setUpstreams(upstreams.map((u) => u.endpoint));
  const port = await lbPort(lb);
  await allHealthy(lb, upstreams.length);
  return { lb, port, clock };
}

/** A client through the balancer, destroyed when the test ends. */
async function client(port: number): Promise<Socket> {
  const socket = await connectTo('127.0.0.1', port);
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => undefined);
  return socket;
}

describe('dial deadline', () => {
  it('a dial still hanging at its deadline fails over to the next upstream, and the hanging one is marked down', async () => {
    const stuck = await startStuck();
    const echo = await startTcp('echo', 3);
    const { lb, port, clock } = await balancer([stuck, echo]);
    // Equal upstreams, none used yet: the first connection dials the first one, the stuck one.
    const c = await client(port);
    await waitForUpstream(lb, addressOf(stuck), (u) => u.activeConnections === 1, 'the dial in progress');
    await clock.advance(DIAL_TIMEOUT_MS - 1);
    expect(lb.snapshot().upstreams[0]).toMatchObject({ healthy: true, dialFailures: 0, activeConnections: 1 }); // not before its time
    await clock.advance(1 + SWEEP_MS);
    expect(lb.snapshot().upstreams[0]).toMatchObject({ healthy: false, dialFailures: 1 }); // failed by that sweep
    expect(await readLine(c)).toBe('echo');
    const s = lb.snapshot();
    expect(s.upstreams[0]).toMatchObject({
      healthy: false,
      dialFailures: 1,
      activeConnections: 0,
      totalConnections: 0,
      lastError: `dial ${addressOf(stuck)}: timed out after ${DIAL_TIMEOUT_MS} ms`,
    });
    expect(s.upstreams[1]).toMatchObject({ activeConnections: 1, totalConnections: 1 });
    expect(s.connections).toMatchObject({ active: 1, failed: 0, retried: 0 });
  });

  it('with no other upstream, a dial past its deadline fails the client connection', async () => {
    const stuck = await startStuck();
    const { lb, port, clock } = await balancer([stuck]);
    const c = await client(port);
    const ended = waitForEvent(c, 'end', 'the end from the balancer');
    await waitForUpstream(lb, addressOf(stuck), (u) => u.activeConnections === 1, 'the dial in progress');
    await clock.advance(DIAL_TIMEOUT_MS + SWEEP_MS);
    expect(lb.snapshot().connections.failed).toBe(1);
    await ended;
    const s = await waitForSnapshot(lb, (x) => x.connections.active === 0, 'the connection gone');
    expect(s.connections).toMatchObject({ failed: 1, retried: 0 });
    expect(s.upstreams[0]).toMatchObject({ healthy: false, dialFailures: 1, activeConnections: 0 });
  });

  it('a connection still dialing an upstream that is removed moves to another one at once', async () => {
    const stuck = await startStuck();
    const echo = await startTcp('echo', 3);
    const { lb, port } = await balancer([stuck, echo]);
    const c = await client(port);
    await waitForUpstream(lb, addressOf(stuck), (u) => u.activeConnections === 1, 'the dial in progress');
    lb.setUpstreams([echo.endpoint]); // no time passes: only the removal can move it
    expect(await readLine(c)).toBe('echo');
    const s = lb.snapshot();
    expect(s.upstreams).toHaveLength(1);
    expect(s.upstreams[0]).toMatchObject({ activeConnections: 1, totalConnections: 1 });
    expect(s.connections).toMatchObject({ active: 1, failed: 0, retried: 1 });
  });
});
